# PaS on mmdet's YOLACT-R50, real COCO (data/coco/, 550x550): mmdet's config
# plus only what PaS needs. The embedded CPU default is configs/pas_yolact.py.
_base_ = ['mmdet::yolact/yolact_r50_1xb8-55e_coco.py']
from pas_mm.official_schedule import pas_schedule  # noqa: E402
custom_imports = dict(imports=['pas_mm'], allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='PaSModel',
    architecture={{_base_.model}},
    # merged into mmdet's ResNet-50 config (torchvision weights kept): gates
    # on every block's inner widths, residual widths untouched
    backbone=dict(type='PaSResNet', gate_cfg=dict(min_keep=8)),
    # MACs of the whole detector (backbone, FPN, heads, protonet) at the
    # input size; only the gated backbone widths change, so the reachable
    # minimum is ~78% of the full detector
    macs_loss=dict(type='MACsLoss', target=0.85, loss_weight=5.0),
    input_shape=(3, 550, 550))
# The paper's protocol: the search starts from a trained detector (mmdet's
# model-zoo YOLACT-R50, 1 x 8, bbox mAP 31.2 / segm 29.0); its keys load
# under PaSModel.
load_from = ('https://download.openmmlab.com/mmdetection/v2.0/yolact/'
             'yolact_r50_1x8_coco/yolact_r50_1x8_coco_20200908-f38d58df.pth')

# The official PaS schedule (pas_mm/official_schedule.py, from github
# liyy201912/PaS: search at lr 0.02, fine-tune 0.0256 -> 0.00256 -> 0.000256 at
# a batch of 512, i.e. 0.1x / 0.128x the stock training LR; the gates in the
# same SGD as the weights, weight decay included), scaled to the stock LR of
# the base config (mmdet: SGD lr 1e-3 at 1 x 8): 10 epochs of search, then 50
# of fine-tune with two x0.1 steps.
_pas = pas_schedule(_base_.optim_wrapper.optimizer.lr, search_epochs=10,
                    finetune_epochs=50, hook_interval=50)
optim_wrapper = _pas['optim_wrapper']
param_scheduler = _pas['param_scheduler']
train_cfg = _pas['train_cfg']
custom_hooks = [
    dict(type='DatasetCheckHook'),  # missing images, broken masks: up front
    dict(type='CheckInvalidLossHook', interval=50, priority='VERY_LOW'),
    _pas['search_hook']
]
del _pas
