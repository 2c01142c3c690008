# PaS on mmdet's YOLACT-R50, embedded default: the COCO-format shapes set
# written by `python tools/make_coco_demo.py` (data/coco_demo, 128x128 images
# labelled with COCO categories) at a reduced input size, so search ->
# fine-tune -> test -> deploy runs on 2 CPU cores in minutes.
# The same config on real COCO (pas_mm's tools re-point every dataloader and
# evaluator that used the old data_root; still 128x128 and random init):
#   python tools/train.py configs/pas_yolact.py --cfg-options data_root=data/coco/
# The paper-size setting (550x550, torchvision weights) is the parent config,
# configs/pas_yolact_r50_1xb8-55e_coco.py.
_base_ = ['./pas_yolact_r50_1xb8-55e_coco.py']

search_epochs = 4
finetune_epochs = 4
custom_hooks = [
    dict(type='DatasetCheckHook'),  # missing images, broken masks: up front
    dict(type='CheckInvalidLossHook', interval=50, priority='VERY_LOW'),
    dict(type='PaSSearchHook', search_epochs=search_epochs, interval=8),
]

# --- embedded data at a reduced input size ----------------------------------
input_size = 128
data_root = 'data/coco_demo/'
# feature map sizes of P3-P7 (strides 8..128), as YOLACT's anchors expect
feat_sizes = [-(-input_size // s) for s in (8, 16, 32, 64, 128)]
model = dict(
    # random init (nothing is downloaded at run time); zero-init of each
    # block's last BN keeps activations bounded from scratch (FPN features
    # ~20 instead of ~500 after training, with the earlier recipe)
    backbone=dict(init_cfg=None, zero_init_residual=True),
    architecture=dict(
        bbox_head=dict(anchor_generator=dict(
            strides=[input_size / x for x in feat_sizes],
            centers=[(input_size * 0.5 / x, input_size * 0.5 / x)
                     for x in feat_sizes])),
        # linear prototypes: from random init the ReLU after the last
        # protonet conv left 31 of 32 prototypes zero everywhere (masks
        # sigmoid(0) = 0.5, never above mask_thr: segm mAP 0)
        mask_head=dict(include_last_relu=False)),
    macs_loss=dict(target=0.8, loss_weight=2000.0),
    input_shape=(3, input_size, input_size))
load_from = None  # random init, as above (the parent loads mmdet's YOLACT)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(4.0, 4.0)),
    # no Expand / MinIoURandomCrop / PhotoMetricDistortion: for 400
    # iterations the 200 generated images are variety enough, and the crops
    # drop 13% of the instances and make 6% of the boxes < 12 px
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
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
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

max_epochs = search_epochs + finetune_epochs
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[max_epochs - 1], gamma=0.1),
]
# Random init (nothing downloaded): YOLACT's losses start near 250 with
# gradient norms ~1e4, which diverge under the pretrained-backbone SGD
# recipe. AdamW is scale-free; it moves a gate by up to lr * lr_mult per
# step, so the search ends within the short schedule, and the MACs loss
# weight is scaled to these task losses (task-loss gradients on the gates
# are ~1e4x the MACs gradient at loss_weight 5).
# The head conv and the protonet have no normalisation: at lr 1e-3 AdamW's
# scale-free steps kill their ReLUs early (after 8 epochs 234 of the first
# protonet conv's 256 channels and 98% of the head conv's outputs were zero
# on val, loss_mask stayed at its all-0.5 value ~6.4); at lr x0.1 16 of 256
# are dead after 2 epochs and loss_mask falls.
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-3, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={
        '.gate': dict(lr_mult=30.0, decay_mult=0.0),
        'bbox_head.head_convs': dict(lr_mult=0.1),
        'mask_head.protonet': dict(lr_mult=0.1)}))
default_hooks = dict(logger=dict(interval=8),
                     checkpoint=dict(interval=1, max_keep_ckpts=2))
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0)
