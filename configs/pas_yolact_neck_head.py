# PaS on YOLACT-R50 with the FPN and the heads gated too (embedded data,
# same recipe as configs/pas_yolact.py): one gate for all FPN levels (summed
# top-down, read by heads shared across levels), one per shared head conv,
# one per protonet conv; the last protonet conv's gate also keeps the
# matching coefficients of every anchor (num_protos). Backbone-only gating
# cannot go below ~62% of YOLACT's MACs; with the neck and heads the
# reachable minimum at min_keep=8 is a few percent, so the target is 50%.
# Deploy writes a PaSNarrowed config (the stock YOLACT config plus the
# per-layer widths), which tools/test.py evaluates as usual.
_base_ = ['./pas_yolact.py']

model = dict(
    gate_neck=True,
    gate_heads=True,
    part_gate_cfg=dict(min_keep=8),
    macs_loss=dict(target=0.5))
