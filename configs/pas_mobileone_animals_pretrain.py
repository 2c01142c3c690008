# Pre-training of pas_mobileone_animals.py: its network unpruned and without
# gates (the stock mmpretrain classifier) from random init, 10 epochs on
# Animal-MNIST. The last checkpoint is that config's `load_from`, read as a
# model-zoo file would be (keys move under `architecture.`, gates start
# open).
_base_ = ['./pas_mobileone_animals.py']

model = dict(
    _delete_=True,
    type='ImageClassifier',
    backbone=dict(type='MobileOne', arch={{_base_.mobileone_arch}}),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=512,
              loss=dict(type='CrossEntropyLoss'), topk=(1, )))
load_from = None
epochs = 10
train_cfg = dict(max_epochs=epochs)
param_scheduler = dict(T_max=epochs, end=epochs)
custom_hooks = []
