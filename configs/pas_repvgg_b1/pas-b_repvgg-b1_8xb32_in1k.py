# PaS-B: RepVGG-B1 (11.82 GMACs at 224) searched down to 3.06 GMACs, the
# MACs of RepVGG-B0, so the two compare layer by layer (the paper's width
# figure; `tools/plot_widths.py`). The paper's protocol and the official
# code's (github liyy201912/PaS): the search starts from the trained B1,
# gates start at 1.0 and train in the same SGD as the weights, 10 epochs of
# search, then the masks are fixed and the pruned network fine-tunes 50;
# the last 2048-wide layer is never pruned.
# Run on 8 GPUs:  bash tools/dist_train.sh configs/pas_repvgg_b1/pas-b_repvgg-b1_8xb32_in1k.py 8
# Data: data/imagenet/{train,val} + meta files, as mmpretrain expects.
# Weights: mmpretrain's ImageNet RepVGG-B1 (78.19% top-1); tools/train.py
# downloads it into torch's checkpoint cache or stops naming the file.
_base_ = ['mmpretrain::repvgg/repvgg-B1_8xb32_in1k.py']
from pas_mm.official_schedule import pas_schedule  # noqa: E402
custom_imports = dict(imports=['pas_mm'], allow_failed_imports=False)
load_from = ('https://download.openmmlab.com/mmclassification/v0/repvgg/'
             'repvgg-B1_8xb32_in1k_20221213-d17c45e7.pth')

model = dict(
    _delete_=True,
    type='PaSModel',
    architecture={{_base_.model}},
    backbone=dict(
        type='PaSRepVGG',
        gate_cfg=dict(min_keep=8),
        unpruned_layers=['stage_4.0']),
    # the official loss is 0.1 * (GMACs - target)^2; ours is normalised by
    # the full MACs: 0.1 * 11.82^2 = 14
    macs_loss=dict(type='MACsLoss', target='3.06G', loss_weight=14.0),
    input_shape=(3, 224, 224))

# The official PaS schedule (pas_mm/official_schedule.py, from github
# liyy201912/PaS: search at lr 0.02, fine-tune 0.0256 -> 0.00256 -> 0.000256 at
# a batch of 512, i.e. 0.1x / 0.128x the stock training LR; the gates in the
# same SGD as the weights, weight decay included), scaled to the stock LR of
# the base config (mmpretrain: SGD lr 0.1 at 8 x 32): 10 epochs of search, then
# 50 of fine-tune with two x0.1 steps. The official search.sh passes --lr 0.128
# to the fine-tune: that is 0.0256 once the script scales it to its batch and
# applies its step (not 0.128 / 2).
_pas = pas_schedule(_base_.optim_wrapper.optimizer.lr, search_epochs=10,
                    finetune_epochs=50, hook_interval=200)
optim_wrapper = _pas['optim_wrapper']
param_scheduler = _pas['param_scheduler']
train_cfg = _pas['train_cfg']
custom_hooks = [_pas['search_hook']]
del _pas
