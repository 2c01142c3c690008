# PaS on RepVGG-A0, ImageNet-1k: 10 epochs of search, then the masks are
# fixed and the pruned network fine-tunes for 50 epochs (official schedule).
# Run on 8 GPUs:  bash tools/dist_train.sh configs/pas_repvgg_a0_8xb32_in1k.py 8
# Data: data/imagenet/{train,val} + meta files, as mmpretrain expects.
_base_ = ['mmpretrain::repvgg/repvgg-A0_8xb32_in1k.py']
from pas_mm.official_schedule import pas_schedule  # noqa: E402
custom_imports = dict(imports=['pas_mm'], allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='PaSModel',
    architecture={{_base_.model}},
    # every RepVGG block gets a DBC gate after its Add: all widths are free
    backbone=dict(type='PaSRepVGG', gate_cfg=dict(min_keep=8)),
    # A0 deploys at 1.36 GMACs (224x224); search for ~75% of it
    macs_loss=dict(type='MACsLoss', target=0.75, loss_weight=5.0),
    input_shape=(3, 224, 224))

# The official PaS schedule (pas_mm/official_schedule.py, from github
# liyy201912/PaS: search at lr 0.02, fine-tune 0.0256 -> 0.00256 -> 0.000256 at
# a batch of 512, i.e. 0.1x / 0.128x the stock training LR; the gates in the
# same SGD as the weights, weight decay included), scaled to the stock LR of
# the base config (mmpretrain: SGD lr 0.1 at 8 x 32): 10 epochs of search, then
# 50 of fine-tune with two x0.1 steps.
_pas = pas_schedule(_base_.optim_wrapper.optimizer.lr, search_epochs=10,
                    finetune_epochs=50, hook_interval=200)
optim_wrapper = _pas['optim_wrapper']
param_scheduler = _pas['param_scheduler']
train_cfg = _pas['train_cfg']
custom_hooks = [_pas['search_hook']]
del _pas
