# PaS on mmdet's RetinaNet R50-FPN (COCO, 800x1333 padded to 800x1344): gated ResNet-50 inner
# widths, the FPN (one gate for all levels) and every stacked head conv
# (one gate per conv, shared across levels).
#   python tools/count_macs.py configs/detectors/pas_retinanet_r50_fpn_1x_coco.py
# Start the search from a trained detector (the paper's protocol): put the
# model-zoo checkpoint in load_from; its keys load under PaSModel.
_base_ = ['mmdet::retinanet/retinanet_r50_fpn_1x_coco.py']
from pas_mm.official_schedule import pas_schedule  # noqa: E402
custom_imports = dict(imports=['pas_mm'], allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='PaSModel',
    architecture={{_base_.model}},
    backbone=dict(type='PaSResNet', gate_cfg=dict(min_keep=8)),
    gate_neck=True,
    gate_heads=True,
    part_gate_cfg=dict(min_keep=8),
    macs_loss=dict(type='MACsLoss', target=0.5, loss_weight=5.0),
    input_shape=(3, 800, 1344))  # padded to 32 as the data preprocessor does

# The official PaS schedule (pas_mm/official_schedule.py, from github
# liyy201912/PaS: search at lr 0.02, fine-tune 0.0256 -> 0.00256 -> 0.000256 at
# a batch of 512, i.e. 0.1x / 0.128x the stock training LR; the gates in the
# same SGD as the weights, weight decay included), scaled to the stock LR of
# the base config (mmdet 1x: SGD lr 0.02 at 8 x 2): 2 epochs of search, then 10
# of fine-tune with two x0.1 steps. 2 + 10 epochs: the length of the 1x
# schedule, in the official ratio of search to fine-tune (9 : 48).
_pas = pas_schedule(_base_.optim_wrapper.optimizer.lr, search_epochs=2,
                    finetune_epochs=10, hook_interval=50)
optim_wrapper = _pas['optim_wrapper']
param_scheduler = _pas['param_scheduler']
train_cfg = _pas['train_cfg']
custom_hooks = [
    dict(type='DatasetCheckHook'),
    _pas['search_hook']
]
del _pas
