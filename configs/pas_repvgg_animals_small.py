# The benchmark's base network (docs/benchmark/animals_v2): the Animal-MNIST
# demo RepVGG at half its widths (16-16-32-32-64-64-128 channels, 1/4 of
# the MACs). On the full training split the demo network at 30% of its MACs
# is not capacity-bound (a uniformly narrower one from scratch matches it),
# so a table on it cannot separate pruning methods; this one is, at the
# benchmark's lowest target (the capacity check in the results).
#   python tools/benchmark/run_all.py --config configs/pas_repvgg_animals_small.py ...
_base_ = ['./pas_repvgg_animals.py']

model = dict(
    backbone=dict(
        arch=dict(width_factor=[0.25, 0.25, 0.25, 0.25]),
        gate_cfg=dict(min_keep=2)),
    architecture=dict(head=dict(in_channels=128)))
