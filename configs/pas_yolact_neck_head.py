# PaS on YOLACT-R50 with the FPN and the box head gated too (embedded data,
# same recipe as configs/pas_yolact.py): one gate for all FPN levels (summed
# top-down, read by heads shared across levels) and one on the head conv
# shared across levels. Backbone-only gating cannot go below 63.6% of
# YOLACT's MACs; with the FPN and box head it can reach 35.5%, so the target
# is 50% (python tools/count_macs.py configs/pas_yolact_neck_head.py).
# gate_heads=True would gate the protonet too (one gate per conv, the last
# one coupled with the coefficients: num_protos; reachable 6.3%), but in
# this short random-init run the search then cuts the protonet, the most
# expensive layers per channel (P3 and 2x P3 resolution), to min_keep
# before the masks have learned anything: segm mAP 0 (bbox 11.5).
# Deploy writes a PaSNarrowed config (the stock YOLACT config plus the
# per-layer widths), which tools/test.py evaluates as usual.
_base_ = ['./pas_yolact.py']

model = dict(
    gate_neck=True,
    gate_heads=['bbox_head'],
    part_gate_cfg=dict(min_keep=8),
    macs_loss=dict(target=0.5))
