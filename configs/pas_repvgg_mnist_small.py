# MNIST (real handwritten digits, 50,000 train / 10,000 val / 10,000 test:
# MNIST's own test set) with the demo RepVGG at an eighth of its widths
# (8-8-16-16-32-32-64 channels; half of benchmark v2's Animal-MNIST net,
# configs/pas_repvgg_animals_small.py, so that MNIST is capacity-bound at
# the lowest target) at MNIST's 28x28: the MNIST net of
# docs/benchmark/mnist_v2/results.md. Data, after
# `bash tools/install_benchmark.sh`:
#   python tools/make_mnist.py --out data/mnist
# Digits are not mirror-symmetric: no flip, and a mild crop only. Batch
# 128 at the stock LR scaled linearly (0.05 at 32 -> 0.2): a 50,000-image
# epoch in 391 iterations.
_base_ = ['./pas_repvgg_animals_small.py']

img_size = 28
data_root = 'data/mnist'
load_from = None

model = dict(
    input_shape=(3, img_size, img_size),
    backbone=dict(arch=dict(width_factor=[0.125, 0.125, 0.125, 0.125])),
    architecture=dict(head=dict(in_channels=64)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size,
         crop_ratio_range=(0.8, 1.0), aspect_ratio_range=(0.9, 1.1)),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=128,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = dict(
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
optim_wrapper = dict(optimizer=dict(lr=0.2))
