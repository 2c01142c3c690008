# ELPV (real solar-cell EL images, 4 defect classes) at 64x64 with the
# half-width demo RepVGG of benchmark v2 (configs/pas_repvgg_animals_small.py):
# the ELPV net of docs/benchmark/elpv_v2/results.md. Data (CC-BY-NC-SA-4.0,
# never commit it), after `bash tools/install_benchmark.sh`:
#   python tools/make_elpv.py --out data/elpv64 --size 64
_base_ = ['./pas_repvgg_animals_small.py']

img_size = 64
data_root = 'data/elpv64'
load_from = None

data_preprocessor = dict(num_classes=4)
model = dict(input_shape=(3, img_size, img_size),
             architecture=dict(head=dict(num_classes=4)))
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
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
