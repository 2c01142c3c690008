# PaS on mmdet's YOLACT-R50, real COCO (data/coco/, 550x550): mmdet's config
# plus only what PaS needs. The embedded CPU default is configs/pas_yolact.py.
_base_ = ['mmdet::yolact/yolact_r50_1xb8-55e_coco.py']
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
optim_wrapper = dict(paramwise_cfg=dict(
    custom_keys={'.gate': dict(lr_mult=10.0, decay_mult=0.0)}))
# 10 search epochs, then the masks are fixed and mmdet's 55-epoch schedule
# goes on as fine-tuning
custom_hooks = [
    dict(type='DatasetCheckHook'),  # missing images, broken masks: up front
    dict(type='CheckInvalidLossHook', interval=50, priority='VERY_LOW'),
    dict(type='PaSSearchHook', search_epochs=10, interval=50),
]
