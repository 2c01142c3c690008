# Latency-aware PaS on real data: the Animal-MNIST recipe of
# pas_repvgg_animals.py with the MACs loss swapped for a latency loss.
#
# The target is half the measured latency of the full deployed network on
# this machine's CPU (1 thread, batch 1). On the first run every gated
# layer is timed on a grid of kept widths (about a minute here) and cached
# in ~/.cache/pas_mm/latency_tables.json; the predicted latency is read
# from those tables, differentiably in the gates. When the search ends, the
# deployed model is timed against the full one and the snap corrected
# until the measured ratio is on target (logged). `tools/deploy_reparam.py`
# reports target, predicted and measured latency.
_base_ = ['./pas_repvgg_animals.py']

model = dict(
    macs_loss=dict(
        _delete_=True,
        type='LatencyLoss',
        target=0.5,          # or an absolute '1.0ms'
        loss_weight=5.0,
        device='cpu',        # None: cuda where present
        batch_size=1,
        threads=1))
