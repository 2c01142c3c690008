# Trains the network pas-b_repvgg-b1-quarter_animals.py searches from: the
# same model without gates (a fixed-width PaSModel), 5 epochs.
#   python tools/train.py configs/pas_repvgg_b1/pas-b_repvgg-b1-quarter_animals_pretrain.py
_base_ = ['./pas-b_repvgg-b1-quarter_animals.py']

load_from = None
model = dict(backbone=dict(gate_cfg=None), macs_loss=None)
custom_hooks = []
train_cfg = dict(max_epochs=5)
param_scheduler = dict(T_max=5, end=5)
