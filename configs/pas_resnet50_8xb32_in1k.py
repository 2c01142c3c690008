# PaS on ResNet-50, ImageNet-1k: gates on the inner widths of every
# bottleneck (residual widths untouched). 10 epochs search + 50 fine-tune.
_base_ = ['mmpretrain::resnet/resnet50_8xb32_in1k.py']
custom_imports = dict(imports=['pas_mm'], allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='PaSModel',
    architecture={{_base_.model}},
    backbone=dict(type='PaSResNet', gate_cfg=dict(min_keep=8)),
    macs_loss=dict(type='MACsLoss', target='2.0G', loss_weight=5.0),
    input_shape=(3, 224, 224))

optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={'.gate': dict(lr_mult=10.0, decay_mult=0.0)}))
search_epochs = 10
finetune_epochs = 50
train_cfg = dict(by_epoch=True, max_epochs=search_epochs + finetune_epochs)
param_scheduler = dict(
    type='CosineAnnealingLR',
    T_max=search_epochs + finetune_epochs,
    by_epoch=True,
    begin=0,
    end=search_epochs + finetune_epochs,
    convert_to_iter_based=True)
custom_hooks = [
    dict(type='PaSSearchHook', search_epochs=search_epochs, interval=200)
]
