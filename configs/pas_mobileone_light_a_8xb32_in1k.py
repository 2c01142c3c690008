# PaS-light a: MobileOne-s1 (825 MMACs at 224x224, 75.7% top-1) searched
# down to 300 MMACs (36%), the MobileNetV2-1.0 regime, on ImageNet-1k:
# 10 epochs of search from mmpretrain's released s1 weights, then the masks
# are fixed and the pruned network fine-tunes for 50 epochs.
# Run on 8 GPUs:  bash tools/dist_train.sh configs/pas_mobileone_light_a_8xb32_in1k.py 8
# Data: data/imagenet/{train,val} + meta files, as mmpretrain expects.
_base_ = ['mmpretrain::mobileone/mobileone-s1_8xb32_in1k.py']
custom_imports = dict(imports=['pas_mm'], allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='PaSModel',
    architecture={{_base_.model}},
    # a gate after the stem and every point-wise block; each depth-wise
    # block follows the width of its input
    backbone=dict(type='PaSMobileOne', gate_cfg=dict(min_keep=8)),
    macs_loss=dict(type='MACsLoss', target='300M', loss_weight=5.0),
    input_shape=(3, 224, 224))
# mmpretrain's model zoo (mobileone/metafile.yml); the gates start open
load_from = 'https://download.openmmlab.com/mmclassification/v0/mobileone/mobileone-s1_8xb32_in1k_20221110-ceeef467.pth'  # noqa: E501

# the 224x224 recipe of the stock config's last phase (its SwitchRecipeHook
# and EMAHook are for the 300-epoch training from scratch)
train_dataloader = dict(dataset=dict(pipeline={{_base_.train_pipeline_112e}}))
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
