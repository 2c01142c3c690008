# PaS on mmdet's RTMDet-Ins-tiny, real COCO (data/coco/, 640x640): mmdet's
# config plus only what PaS needs. gates='auto' leaves the stock CSPNeXt
# backbone, PAFPN neck and RTMDetInsSepBNHead as they are and gates every
# channel group of the traced detector (the dependency graph couples the
# CSP concatenations, channel attention, the head convs shared across
# levels); the output convs (class, box, kernel, mask prototypes) stay.
# The embedded CPU demo is configs/pas_rtmdet_ins.py.
_base_ = ['mmdet::rtmdet/rtmdet-ins_tiny_8xb32-300e_coco.py']
custom_imports = dict(imports=['pas_mm'], allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='PaSModel',
    architecture={{_base_.model}},
    gates='auto',
    macs_loss=dict(type='MACsLoss', target=0.5, loss_weight=5.0),
    input_shape=(3, 640, 640))
optim_wrapper = dict(paramwise_cfg=dict(
    custom_keys={'.gate': dict(lr_mult=10.0, decay_mult=0.0)}))
# mmdet's hooks, then the search: 30 epochs, then the masks are fixed and
# the 300-epoch schedule goes on as fine-tuning
custom_hooks = [
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0002,
         update_buffers=True, priority=49),
    dict(type='PipelineSwitchHook', switch_epoch=280,
         switch_pipeline={{_base_.train_pipeline_stage2}}),
    dict(type='PaSSearchHook', search_epochs=30, interval=50),
]
