# PaS on real data: the small RepVGG of the digits demo on Animal-MNIST
# (9,716 distinct 28x28 animal silhouettes, 10 classes; written to
# data/animals by `python tools/make_animals.py` after
# `bash tools/install_benchmark.sh`), upsampled to 32x32.
#
# The paper's protocol: search starts from a trained unpruned network
# (`load_from`; the gates it lacks start open), 2 epochs of search, then
# the masks are fixed, snapped to within 1% of the MACs target, and the
# pruned network fine-tunes 3 epochs. The pre-trained weights come from
#   python tools/benchmark/train_one.py --method pretrain --epochs 10 \
#       --data-root data/animals --work-dir work_dirs/repvgg_animals_pretrain
# (also written per seed by tools/benchmark/run_all.py, with this config's
# recipe and these epochs). Recipes are chosen on val; `tools/test.py`
# reports the held-out test split.
_base_ = ['./pas_repvgg_digits.py']

data_root = 'data/animals'
img_size = 32
load_from = 'work_dirs/repvgg_animals_pretrain/pretrained.pth'

data_preprocessor = dict(
    num_classes=10, mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375], to_rgb=True)
model = dict(input_shape=(3, img_size, img_size))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size,
         crop_ratio_range=(0.5, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=img_size, edge='short'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = dict(
    _delete_=True,
    batch_size=128,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        data_prefix='test',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))

search_epochs = 2
finetune_epochs = 3
train_cfg = dict(max_epochs=search_epochs + finetune_epochs)
param_scheduler = dict(
    T_max=search_epochs + finetune_epochs,
    end=search_epochs + finetune_epochs)
custom_hooks = [
    dict(type='PaSSearchHook', search_epochs=search_epochs, interval=15)
]
