# PaS on RepVGG-A0, ImageNet-1k: 10 epochs of search, then the masks are
# fixed and the pruned network fine-tunes for 50 epochs (paper schedule).
# Run on 8 GPUs:  bash tools/dist_train.sh configs/pas_repvgg_a0_8xb32_in1k.py 8
# Data: data/imagenet/{train,val} + meta files, as mmpretrain expects.
_base_ = ['mmpretrain::repvgg/repvgg-A0_8xb32_in1k.py']
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

optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            # gates: no weight decay, a larger step so a few epochs move them
            '.gate': dict(lr_mult=10.0, decay_mult=0.0),
        }))

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
