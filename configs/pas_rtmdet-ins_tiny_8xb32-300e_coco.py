# PaS on mmdet's RTMDet-Ins-tiny, real COCO (data/coco/, 640x640): mmdet's
# config plus only what PaS needs. gates='auto' leaves the stock CSPNeXt
# backbone, PAFPN neck and RTMDetInsSepBNHead as they are and gates every
# channel group of the traced detector (the dependency graph couples the
# CSP concatenations, channel attention, the head convs shared across
# levels); the output convs (class, box, kernel, mask prototypes) stay.
# The embedded CPU demo is configs/pas_rtmdet_ins.py.
_base_ = ['mmdet::rtmdet/rtmdet-ins_tiny_8xb32-300e_coco.py']
from pas_mm.official_schedule import pas_schedule  # noqa: E402
custom_imports = dict(imports=['pas_mm'], allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='PaSModel',
    architecture={{_base_.model}},
    gates='auto',
    macs_loss=dict(type='MACsLoss', target=0.5, loss_weight=5.0),
    input_shape=(3, 640, 640))
# The paper's protocol: the search starts from a trained detector (mmdet's
# model-zoo RTMDet-Ins-tiny); its keys load under PaSModel.
load_from = ('https://download.openmmlab.com/mmdetection/v3.0/rtmdet/'
             'rtmdet-ins_tiny_8xb32-300e_coco/'
             'rtmdet-ins_tiny_8xb32-300e_coco_20221130_151727-ec670f7e.pth')

# The official PaS schedule (pas_mm/official_schedule.py, from github
# liyy201912/PaS: search at 0.1x, fine-tune from 0.128x the stock training
# LR with two x0.1 steps; the gates at the weights' LR and decay), scaled to
# the base config's LR (mmdet: AdamW 0.004 at 8 x 32). Deviation, not
# measured: mmdet's AdamW is kept (the official code's SGD has no stock LR
# for RTMDet to scale from). AdamW moves a gate by at most about its LR per
# iteration, 4e-4 in the search: crossing from 1.0 to 0.5 takes >= 1,250 of
# the ~4,600 search iterations (10 epochs of COCO at batch 256), so the
# search has room to happen. No accuracy row checks this: the CPU demo
# (200 images, 50 iterations an epoch) would need 25 search epochs for the
# same gate travel. 10 epochs of search, then 50 of fine-tune, the last 20
# on mmdet's stage-2 pipeline.
_pas = pas_schedule(_base_.optim_wrapper.optimizer.lr, search_epochs=10,
                    finetune_epochs=50, hook_interval=50)
_stage2 = _pas['train_cfg']['max_epochs'] - 20  # first stage-2 epoch
optim_wrapper = _pas['optim_wrapper']
param_scheduler = _pas['param_scheduler']
train_cfg = dict(_pas['train_cfg'], dynamic_intervals=[(_stage2, 1)])
custom_hooks = [
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0002,
         update_buffers=True, priority=49),
    dict(type='PipelineSwitchHook', switch_epoch=_stage2,
         switch_pipeline={{_base_.train_pipeline_stage2}}),
    _pas['search_hook'],
]
del _pas, _stage2
