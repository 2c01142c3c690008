# ELPV, 4 defect classes, at 128x128 (cracks a few pixels wide at 64 px are
# kept) with the half-width demo RepVGG of benchmark v2; the augmentation of
# the binary config (flips, no random crop that can cut the crack away).
# The third ELPV capacity check of docs/benchmark/elpv_v2/results.md. Data
# (CC-BY-NC-SA-4.0, never commit it), after `bash tools/install_benchmark.sh`:
#   python tools/make_elpv.py --out data/elpv128 --size 128
_base_ = ['./pas_repvgg_elpv_binary.py']

img_size = 128
data_root = 'data/elpv128'

data_preprocessor = dict(num_classes=4)
model = dict(input_shape=(3, img_size, img_size),
             architecture=dict(head=dict(num_classes=4, topk=(1, ))))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=img_size, edge='short'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = dict(
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
