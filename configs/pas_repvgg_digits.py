# Embedded default: PaS on a small RepVGG, 32x32 handwritten digits (real
# scans shipped with scikit-learn; `python tools/make_digits.py` writes them
# to data/digits). Runs search -> fine-tune on 2 CPU cores in minutes.
# Inherits the ImageNet PaS config and only shrinks network, data, schedule.
_base_ = ['./pas_repvgg_a0_8xb32_in1k.py']

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,  # replaces arch='A0' of the wrapped model
            num_blocks=[1, 2, 2, 1],
            width_factor=[0.5, 0.5, 0.5, 1.0],
            group_layer_map=None,
            se_cfg=None),
        strides=(1, 2, 2, 2),
        gate_cfg=dict(min_keep=4)),
    architecture=dict(
        head=dict(num_classes=10, in_channels=512, topk=(1, ))),
    macs_loss=dict(target=0.5, loss_weight=5.0),
    input_shape=(3, 32, 32))

data_root = 'data/digits'
data_preprocessor = dict(
    num_classes=10, mean=[33.0] * 3, std=[75.0] * 3, to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomCrop', crop_size=32, padding=2),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=128,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='val',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

# The CPU demo's fast recipe, not the official schedule of the parent
# config: a few epochs of search need gates that move fast (lr x10, no
# weight decay) and one cosine from the stock LR of this network, 0.05.
# Measured against the official schedule in docs/benchmark/animals_v2.
search_epochs = 3
finetune_epochs = 5
optim_wrapper = dict(
    optimizer=dict(lr=0.05),
    paramwise_cfg=dict(
        custom_keys={'.gate': dict(lr_mult=10.0, decay_mult=0.0)}))
auto_scale_lr = dict(enable=False)
train_cfg = dict(
    by_epoch=True, max_epochs=search_epochs + finetune_epochs, val_interval=1)
param_scheduler = dict(
    _delete_=True,
    type='CosineAnnealingLR',
    T_max=search_epochs + finetune_epochs,
    by_epoch=True,
    begin=0,
    end=search_epochs + finetune_epochs,
    convert_to_iter_based=True)
custom_hooks = [
    dict(type='PaSSearchHook', search_epochs=search_epochs, interval=15)
]
default_hooks = dict(
    logger=dict(interval=15),
    checkpoint=dict(interval=1, max_keep_ckpts=2, save_best='auto'))
randomness = dict(seed=0, deterministic=False)
