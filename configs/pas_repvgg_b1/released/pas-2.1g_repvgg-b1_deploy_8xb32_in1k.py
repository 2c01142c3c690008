# The smaller searched RepVGG-B1 subnet published with the official PaS
# code (cusvgg.py, create_RepVGG_config), in deploy form: a plain VGG of
# fused 3x3 convs, trained with the stock mmpretrain recipe of RepVGG-B1
# (no PaS at all).  2.10 GMACs, 18.66 M params at 224x224.
#   bash tools/dist_train.sh configs/pas_repvgg_b1/released/pas-2.1g_repvgg-b1_deploy_8xb32_in1k.py 8
# The training form (multi-branch, reparameterized after training):
# pas-2.1g_repvgg-b1_8xb32_in1k.py.
_base_ = ['mmpretrain::repvgg/repvgg-B1_8xb32_in1k.py']
custom_imports = dict(imports=['pas_mm'], allow_failed_imports=False)

# stem, stage 1 (x4), stage 2 (x6), stage 3 (x16), stage 4 (the unpruned
# 2048-wide last layer)
widths = [[8], [20, 16, 15, 10], [49, 41, 36, 34, 39, 31],
          [125, 107, 102, 97, 106, 123, 127, 170, 196, 202, 232, 269, 315,
           425, 475, 450], [2048]]
model = dict(
    backbone=dict(type='PaSRepVGG', widths=widths, deploy=True,
                  gate_cfg=None))
