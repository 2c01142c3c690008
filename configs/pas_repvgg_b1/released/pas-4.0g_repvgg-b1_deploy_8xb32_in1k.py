# The larger searched RepVGG-B1 subnet published with the official PaS
# code (cusvgg.py, commented out in create_RepVGG_config), in deploy form:
# a plain VGG of fused 3x3 convs, trained with the stock mmpretrain recipe
# of RepVGG-B1 (no PaS at all).  4.04 GMACs, 28.36 M params at 224x224.
# The training form: pas-4.0g_repvgg-b1_8xb32_in1k.py.
_base_ = ['./pas-2.1g_repvgg-b1_deploy_8xb32_in1k.py']

widths = [[11], [29, 32, 27, 23], [68, 57, 55, 65, 79, 79],
          [208, 198, 193, 175, 201, 240, 254, 323, 357, 378, 412, 442, 483,
           496, 510, 487], [2048]]
model = dict(backbone=dict(widths=widths))
