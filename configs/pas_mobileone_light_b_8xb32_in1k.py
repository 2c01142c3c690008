# PaS-light b: MobileOne-s2 (1.30 GMACs at 224x224, 77.4% top-1) searched
# down to 600 MMACs (46%), the MobileNetV2-1.4 regime, on ImageNet-1k:
# 10 epochs of search from mmpretrain's released s2 weights, then the masks
# are fixed and the pruned network fine-tunes for 50 epochs.
# Run on 8 GPUs:  bash tools/dist_train.sh configs/pas_mobileone_light_b_8xb32_in1k.py 8
# Data: data/imagenet/{train,val} + meta files, as mmpretrain expects.
_base_ = ['mmpretrain::mobileone/mobileone-s2_8xb32_in1k.py']
from pas_mm.official_schedule import pas_schedule  # noqa: E402
custom_imports = dict(imports=['pas_mm'], allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='PaSModel',
    architecture={{_base_.model}},
    # a gate after the stem and every point-wise block; each depth-wise
    # block follows the width of its input
    backbone=dict(type='PaSMobileOne', gate_cfg=dict(min_keep=8)),
    macs_loss=dict(type='MACsLoss', target='600M', loss_weight=5.0),
    input_shape=(3, 224, 224))
# mmpretrain's model zoo (mobileone/metafile.yml); the gates start open
load_from = 'https://download.openmmlab.com/mmclassification/v0/mobileone/mobileone-s2_8xb32_in1k_20221110-9c7ecb97.pth'  # noqa: E501

# the 224x224 recipe of the stock config's last phase (its SwitchRecipeHook
# and EMAHook are for the 300-epoch training from scratch)
train_dataloader = dict(dataset=dict(pipeline={{_base_.train_pipeline_112e}}))

# The official PaS schedule (pas_mm/official_schedule.py, from github
# liyy201912/PaS: search at lr 0.02, fine-tune 0.0256 -> 0.00256 -> 0.000256 at
# a batch of 512, i.e. 0.1x / 0.128x the stock training LR; the gates in the
# same SGD as the weights, weight decay included), scaled to the stock LR of
# the base config (mmpretrain: SGD at 8 x 32; its cosine weight decay schedule
# is for the training from scratch): 10 epochs of search, then 50 of fine-tune
# with two x0.1 steps.
_pas = pas_schedule(_base_.optim_wrapper.optimizer.lr, search_epochs=10,
                    finetune_epochs=50, hook_interval=200)
optim_wrapper = _pas['optim_wrapper']
param_scheduler = _pas['param_scheduler']
train_cfg = _pas['train_cfg']
custom_hooks = [_pas['search_hook']]
del _pas
