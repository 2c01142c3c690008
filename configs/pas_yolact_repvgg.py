# PaS on YOLACT with a RepVGG-A0 backbone: a gate after every block's Add,
# so every block's width (residual widths included) is searched; deploy
# fuses each block into one 3x3 conv. Same embedded data and schedule as
# configs/pas_yolact.py.
_base_ = ['./pas_yolact.py']

model = dict(
    backbone=None,  # not merged into ResNet's config: replaced below
    architecture=dict(
        backbone=dict(
            _delete_=True,
            type='PaSRepVGG',
            arch='A0',
            out_indices=(1, 2, 3),  # C3-C5 (strides 8, 16, 32)
            gate_cfg=dict(min_keep=8)),
        # FPN reads the three outputs it is given; the widths are the
        # unpruned A0's, rewritten from the searched widths at deploy
        neck=dict(in_channels=[96, 192, 1280], start_level=0)),
    # the FPN and heads (~79% of the detector's MACs at 128x128) are not
    # gated
    macs_loss=dict(target=0.85))
