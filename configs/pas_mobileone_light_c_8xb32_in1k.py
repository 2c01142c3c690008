# PaS-light c: MobileOne-s0 (275 MMACs at 224x224, 71.3% top-1) searched
# down to 150 MMACs (55%), between MobileNetV2-0.5 and -0.75, on ImageNet-1k:
# 10 epochs of search from mmpretrain's released s0 weights, then the masks
# are fixed and the pruned network fine-tunes for 50 epochs.
# Run on 8 GPUs:  bash tools/dist_train.sh configs/pas_mobileone_light_c_8xb32_in1k.py 8
# Data: data/imagenet/{train,val} + meta files, as mmpretrain expects.
_base_ = ['mmpretrain::mobileone/mobileone-s0_8xb32_in1k.py']
custom_imports = dict(imports=['pas_mm'], allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='PaSModel',
    architecture={{_base_.model}},
    # a gate after the stem and every point-wise block; each depth-wise
    # block follows the width of its input
    backbone=dict(type='PaSMobileOne', gate_cfg=dict(min_keep=8)),
    macs_loss=dict(type='MACsLoss', target='150M', loss_weight=5.0),
    input_shape=(3, 224, 224))
# mmpretrain's model zoo (mobileone/metafile.yml); the gates start open
load_from = 'https://download.openmmlab.com/mmclassification/v0/mobileone/mobileone-s0_8xb32_in1k_20221110-0bc94952.pth'  # noqa: E501

# the stock train pipeline; its EMAHook is for the 300-epoch training from
# scratch
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            # gates: no weight decay, a larger step so a few epochs move them
            '.gate': dict(lr_mult=10.0, decay_mult=0.0),
        }))

search_epochs = 10
finetune_epochs = 50
train_cfg = dict(by_epoch=True, max_epochs=search_epochs + finetune_epochs)
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=search_epochs + finetune_epochs,
         by_epoch=True, begin=0, end=search_epochs + finetune_epochs,
         convert_to_iter_based=True)
]
custom_hooks = [
    dict(type='PaSSearchHook', search_epochs=search_epochs, interval=200)
]
