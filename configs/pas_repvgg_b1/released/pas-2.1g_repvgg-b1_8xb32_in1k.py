# Training form of the 2.1G released subnet: the same widths as
# pas-2.1g_repvgg-b1_deploy_8xb32_in1k.py, built from multi-branch RepVGG
# blocks (3x3 + 1x1 + identity BN where a block keeps its width), as the
# paper fine-tunes it; no gates, nothing searched. After training,
# tools/deploy_reparam.py fuses the branches and checks the plain model:
#   python tools/deploy_reparam.py CONFIG work_dirs/.../epoch_120.pth --out DIR
_base_ = ['./pas-2.1g_repvgg-b1_deploy_8xb32_in1k.py']

model = dict(
    _delete_=True,
    type='PaSModel',
    architecture={{_base_.model}},
    backbone=dict(deploy=False),
    macs_loss=None,  # fixed widths: nothing to search
    input_shape=(3, 224, 224))
