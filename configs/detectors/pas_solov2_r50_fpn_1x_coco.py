# PaS on mmdet's SOLOv2 R50-FPN (COCO, 800x1333 padded to 800x1344): gated ResNet-50 inner
# widths only. SOLOv2's head convs use GroupNorm (pruning single channels
# changes the group statistics) and its kernel branch concatenates
# coordinates to the FPN features, so neither the head nor the neck is
# gated (gate_heads / gate_neck are refused with the reason).
#   python tools/count_macs.py configs/detectors/pas_solov2_r50_fpn_1x_coco.py
_base_ = ['mmdet::solov2/solov2_r50_fpn_1x_coco.py']
custom_imports = dict(imports=['pas_mm'], allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='PaSModel',
    architecture={{_base_.model}},
    backbone=dict(type='PaSResNet', gate_cfg=dict(min_keep=8)),
    macs_loss=dict(type='MACsLoss', target=0.75, loss_weight=5.0),
    input_shape=(3, 800, 1344))  # padded to 32 as the data preprocessor does
optim_wrapper = dict(paramwise_cfg=dict(
    custom_keys={'.gate': dict(lr_mult=10.0, decay_mult=0.0)}))
custom_hooks = [
    dict(type='DatasetCheckHook'),
    dict(type='PaSSearchHook', search_epochs=2, interval=50),
]
