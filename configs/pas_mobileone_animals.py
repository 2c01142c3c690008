# PaS-light on real data: a small MobileOne (stem + 6 layers, two conv
# branches each) on Animal-MNIST at 32x32 (data/animals from
# `python tools/make_animals.py` after `bash tools/install_benchmark.sh`).
# The recipe of pas_repvgg_animals.py with the backbone swapped: search
# starts from the trained unpruned network (`load_from`, written by
#   python tools/train.py configs/pas_mobileone_animals_pretrain.py
# ), 2 epochs of search, masks fixed and snapped to within 1% of the MACs
# target (50%), 3 epochs of fine-tuning; `tools/test.py` reports the test
# split.
_base_ = ['./pas_repvgg_animals.py']

mobileone_arch = dict(
    num_blocks=[1, 2, 2, 1],
    width_factor=[0.5, 0.5, 0.5, 1.0],  # 32, 32, 64, 128, 512 channels
    num_conv_branches=[2, 2, 2, 2],
    num_se_blocks=[0, 0, 0, 0])
model = dict(
    # the stock mmpretrain backbone; PaSModel maps it to the gated one
    architecture=dict(
        backbone=dict(_delete_=True, type='MobileOne', arch=mobileone_arch)),
    backbone=dict(_delete_=True, type='PaSMobileOne',
                  gate_cfg=dict(min_keep=4)))
load_from = 'work_dirs/pas_mobileone_animals_pretrain/epoch_10.pth'
