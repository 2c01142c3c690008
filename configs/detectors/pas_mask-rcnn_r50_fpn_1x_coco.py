# PaS on mmdet's Mask R-CNN R50-FPN (COCO, 800x1333 padded to 800x1344): gated ResNet-50 inner
# widths plus the heads (RPN conv, the RoI box head's shared FCs, the mask
# head's convs). The FPN stays ungated: RoI pooling + flatten read its
# channels. MACs are counted at the test config's 1000 proposals per image
# (mask branch on mmdet's first 100 RoIs).
#   python tools/count_macs.py configs/detectors/pas_mask-rcnn_r50_fpn_1x_coco.py
# Start the search from a trained detector (the paper's protocol): put the
# model-zoo checkpoint in load_from; its keys load under PaSModel.
_base_ = ['mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py']
custom_imports = dict(imports=['pas_mm'], allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='PaSModel',
    architecture={{_base_.model}},
    backbone=dict(type='PaSResNet', gate_cfg=dict(min_keep=8)),
    gate_heads=True,
    part_gate_cfg=dict(min_keep=8),
    macs_loss=dict(type='MACsLoss', target=0.5, loss_weight=5.0),
    input_shape=(3, 800, 1344))  # padded to 32 as the data preprocessor does
optim_wrapper = dict(paramwise_cfg=dict(
    custom_keys={'.gate': dict(lr_mult=10.0, decay_mult=0.0)}))
# 2 search epochs, then mmdet's 1x schedule goes on as fine-tuning
custom_hooks = [
    dict(type='DatasetCheckHook'),
    dict(type='PaSSearchHook', search_epochs=2, interval=50),
]
