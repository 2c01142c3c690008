# PaS on mmpretrain's MobileNetV2, ImageNet (data/imagenet): mmpretrain's
# config plus only what PaS needs. gates='auto' leaves the stock backbone as
# it is and gates every channel group its dependency graph finds (each
# inverted residual's expanded width, the residual streams, the last conv);
# the classifier stays. Target 150 MMACs of the 300 M (the official PaS
# code's MobileNetV2 regime).
_base_ = ['mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py']
custom_imports = dict(imports=['pas_mm'], allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='PaSModel',
    architecture={{_base_.model}},
    gates='auto',
    macs_loss=dict(type='MACsLoss', target='150M', loss_weight=5.0),
    input_shape=(3, 224, 224))
optim_wrapper = dict(paramwise_cfg=dict(
    custom_keys={'.gate': dict(lr_mult=10.0, decay_mult=0.0)}))
custom_hooks = [dict(type='PaSSearchHook', search_epochs=10)]
