# PaS on mmdet's RTMDet-Ins-tiny (gates='auto'), embedded demo: the
# COCO-format shapes set written by `python tools/make_coco_demo.py`
# (data/coco_demo, 128x128 images labelled with COCO categories) at 128x128,
# random init, so search -> fine-tune -> test -> deploy runs on 2 CPU cores
# in minutes (`bash tools/run_demo.sh rtmdet_ins`).
# The COCO setting (640x640) is the parent config,
# configs/pas_rtmdet-ins_tiny_8xb32-300e_coco.py.
_base_ = ['./pas_rtmdet-ins_tiny_8xb32-300e_coco.py']

load_from = None  # random init: no download in the demo
search_epochs = 4
finetune_epochs = 4
custom_hooks = [
    dict(type='DatasetCheckHook'),  # missing images, broken masks: up front
    dict(type='CheckInvalidLossHook', interval=50, priority='VERY_LOW'),
    dict(type='PaSSearchHook', search_epochs=search_epochs, interval=8),
]

input_size = 128
data_root = 'data/coco_demo/'
model = dict(
    # random init: nothing is downloaded at run time
    architecture=dict(backbone=dict(init_cfg=None)),
    macs_loss=dict(target=0.5, loss_weight=20.0),
    input_shape=(3, input_size, input_size))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True,
         poly2mask=False),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1, 1)),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor')),
]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    batch_sampler=None, pin_memory=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

max_epochs = search_epochs + finetune_epochs
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs,
                 dynamic_intervals=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[max_epochs - 1], gamma=0.1),
]
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=2e-3, weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={'.gate': dict(lr_mult=15.0,
                                                  decay_mult=0.0)}))
default_hooks = dict(logger=dict(interval=8),
                     checkpoint=dict(interval=1, max_keep_ckpts=2))
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0)
