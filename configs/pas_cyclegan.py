# PaS on CycleGAN's generator (image translation, the paper's third task):
# a DBC-gated Mobile-ResNet generator (GAN Compression's depth-wise separable
# ResNet generator) searched to a MACs target inside mmagic's CycleGAN
# training step, then fine-tuned with stock mmagic training.
# Embedded default: real ELPV solar-cell images, monocrystalline (A) <->
# polycrystalline (B) at 64x64 (`python tools/make_cyclegan_elpv.py` writes
# data/elpv_cyclegan); `tools/run_demo.sh cyclegan` runs pretrain -> search
# -> fine-tune -> deploy -> metrics on 2 CPU cores.
# Inherits mmagic's horse2zebra config and changes: generator (gated
# Mobile-ResNet, narrow), discriminator width, model type (PaSCycleGAN),
# domain labels, 64 px pipelines, schedule, hooks, metrics (FID on the new
# domain keys; needs the Inception weights, so it is only in test_evaluator).
# Real horse2zebra: --cfg-options data_root=data/cyclegan/horse2zebra (the
# domain labels stay mono/poly for A/B; raise img_size and widths to taste).
_base_ = [
    'mmagic::cyclegan/cyclegan_lsgan-id0-resnet-in_1xb1-270kiters_horse2zebra.py'
]
custom_imports = dict(
    imports=['pas_mm', 'pas_mm.gan'], allow_failed_imports=False)

domain_a = 'mono'  # label of trainA / testA
domain_b = 'poly'  # label of trainB / testB
img_size = 64
data_root = 'data/elpv_cyclegan'
search_iters = 200
finetune_iters = 200
# search from the trained uncompressed CycleGAN (configs/pas_cyclegan_pretrain.py)
load_from = 'work_dirs/pas_cyclegan_pretrain/iter_400.pth'

model = dict(
    type='PaSCycleGAN',
    generator=dict(
        _delete_=True,
        type='PaSMobileResnetGenerator',
        in_channels=3,
        out_channels=3,
        base_channels=16,
        num_blocks=6,
        norm_cfg=dict(type='IN'),
        padding_mode='reflect',
        gate_cfg=dict(min_keep=2),
        init_cfg=dict(type='normal', gain=0.02)),
    discriminator=dict(base_channels=32),
    default_domain=domain_b,
    reachable_domains=[domain_a, domain_b],
    related_domains=[domain_a, domain_b],
    data_preprocessor=dict(data_keys=[f'img_{domain_a}', f'img_{domain_b}']),
    compress_domains=[domain_b],  # the A -> B generator
    macs_loss=dict(type='MACsLoss', target=0.5, loss_weight=5.0),
    input_shape=(3, img_size, img_size),
    distill=None)  # dict(loss_weight=10.0): L1 to the uncompressed generator

key_mapping = dict(
    type='KeyMapper',
    mapping={f'img_{domain_a}': 'img_A', f'img_{domain_b}': 'img_B'},
    remapping={f'img_{domain_a}': f'img_{domain_a}',
               f'img_{domain_b}': f'img_{domain_b}'})
pack_input = dict(
    type='PackInputs',
    keys=[f'img_{domain_a}', f'img_{domain_b}'],
    data_keys=[f'img_{domain_a}', f'img_{domain_b}'])
train_pipeline = [
    dict(type='LoadImageFromFile', key='img_A', color_type='color'),
    dict(type='LoadImageFromFile', key='img_B', color_type='color'),
    dict(
        type='TransformBroadcaster',
        mapping={'img': ['img_A', 'img_B']},
        auto_remap=True,
        share_random_params=True,
        transforms=[
            dict(type='Resize', scale=(img_size * 9 // 8, ) * 2,
                 interpolation='bicubic'),
            dict(type='Crop', keys=['img'], crop_size=(img_size, img_size),
                 random_crop=True),
        ]),
    dict(type='Flip', keys=['img_A'], direction='horizontal'),
    dict(type='Flip', keys=['img_B'], direction='horizontal'),
    key_mapping, pack_input
]
test_pipeline = [
    dict(type='LoadImageFromFile', key='img_A', color_type='color'),
    dict(type='LoadImageFromFile', key='img_B', color_type='color'),
    dict(
        type='TransformBroadcaster',
        mapping={'img': ['img_A', 'img_B']},
        auto_remap=True,
        share_random_params=True,
        transforms=dict(type='Resize', scale=(img_size, img_size),
                        interpolation='bicubic')),
    key_mapping, pack_input
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
test_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, test_mode=True,
                 pipeline=test_pipeline))
# metrics come from tools/eval_cyclegan.py (SWD, PSNR/SSIM: no downloads)
val_dataloader = None
val_cfg = None
val_evaluator = None
test_evaluator = dict(metrics=[
    dict(type='TransFID', prefix=f'FID-{a}-to-{b}', fake_nums=n,
         inception_style='PyTorch', real_key=f'img_{b}', fake_key=f'fake_{b}')
    for a, b, n in ((domain_a, domain_b, 155), (domain_b, domain_a, 107))
])

train_cfg = dict(max_iters=search_iters + finetune_iters,
                 val_interval=10**9)
optim_wrapper = dict(
    generators=dict(
        optimizer=dict(lr=0.0005),
        paramwise_cfg=dict(
            custom_keys={'gate': dict(lr_mult=40.0)})),
    discriminators=dict(optimizer=dict(lr=0.0005)))
param_scheduler = None
custom_hooks = [
    dict(type='PaSSearchHook', search_iters=search_iters, interval=50)
]
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=search_iters + finetune_iters,
                    max_keep_ckpts=1, save_optimizer=False))
