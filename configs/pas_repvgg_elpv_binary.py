# ELPV as the data set's authors split it (functional p <= 1/3 vs defective
# p >= 2/3) at 64x64, with the half-width demo RepVGG of benchmark v2: the
# ELPV net of docs/benchmark/elpv_v2/results.md. No random crop (a crop can
# cut the crack a label is about); the cells are aligned, so both flips keep
# the label. Data (CC-BY-NC-SA-4.0, never commit it), after
# `bash tools/install_benchmark.sh`:
#   python tools/make_elpv.py --out data/elpv64b --size 64 --binary
_base_ = ['./pas_repvgg_elpv_small.py']

img_size = 64
data_root = 'data/elpv64b'

data_preprocessor = dict(num_classes=2)
model = dict(architecture=dict(head=dict(num_classes=2, topk=(1, ))))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=[0.25, 0.25, 0.25],
         direction=['horizontal', 'vertical', 'diagonal']),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = dict(dataset=dict(data_root=data_root))
