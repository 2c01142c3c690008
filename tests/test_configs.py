"""Configs inherit mmpretrain's through _base_ and load pas_mm by custom_imports."""
import os.path as osp

import pytest
from conftest import ROOT
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.registry import MODELS

from pas_mm import PaSSearchHook


def load(name):
    return Config.fromfile(osp.join(ROOT, 'configs', name))


def test_imagenet_repvgg_config_inherits_mmpretrain():
    cfg = load('pas_repvgg_a0_8xb32_in1k.py')
    assert cfg.custom_imports == dict(imports=['pas_mm'],
                                      allow_failed_imports=False)
    arch = cfg.model.architecture
    # from mmpretrain's repvgg-A0 config, untouched
    assert arch.type == 'ImageClassifier' and arch.backbone.arch == 'A0'
    assert arch.head.in_channels == 1280 and arch.head.num_classes == 1000
    assert cfg.train_dataloader.dataset.type == 'ImageNet'
    # mmpretrain's paramwise keys survive next to the gate key
    keys = cfg.optim_wrapper.paramwise_cfg.custom_keys
    assert {'branch_3x3.norm', '.gate'} <= set(keys)
    assert cfg.train_cfg.max_epochs == 60
    model = MODELS.build(cfg.model)
    assert type(model.architecture.backbone).__name__ == 'PaSRepVGG'
    assert len(model.gates()) == 22  # stem + 2+4+14+1 blocks
    assert model.macs_full == pytest.approx(1.36e9, rel=0.01)


def test_demo_config_inherits_the_imagenet_pas_config():
    cfg = load('pas_repvgg_digits.py')
    assert cfg.custom_imports.imports == ['pas_mm']
    assert cfg.model.backbone.type == 'PaSRepVGG'  # from the parent config
    assert cfg.model.architecture.neck.type == 'GlobalAveragePooling'
    assert cfg.model.architecture.head.num_classes == 10
    assert cfg.train_dataloader.dataset.type == 'CustomDataset'
    assert cfg.custom_hooks[0].search_epochs == 3


def test_resnet_config_builds_with_gated_bottlenecks():
    cfg = load('pas_resnet50_8xb32_in1k.py')
    model = MODELS.build(cfg.model)
    assert len(model.gates()) == 2 * 16
    assert model.macs_target == 2e9


def test_hook_arguments_and_model_are_checked():
    with pytest.raises(ValueError, match='not both'):
        PaSSearchHook(search_epochs=1, search_iters=10)
    with pytest.raises(ValueError, match='search_epochs=-1'):
        PaSSearchHook(search_epochs=-1)

    class FakeRunner:
        model = MODELS.build(load('pas_repvgg_digits.py').model.architecture)

    with pytest.raises(TypeError, match="needs the model to be wrapped"):
        PaSSearchHook().before_train(FakeRunner())


@pytest.mark.parametrize('name, classes, size', [
    ('pas_repvgg_animals.py', 10, 32), ('pas_repvgg_elpv.py', 4, 32)])
def test_real_data_configs_search_from_pretrained_and_test_on_test(
        name, classes, size):
    cfg = load(name)
    assert cfg.load_from.endswith('pretrained.pth')
    assert cfg.test_dataloader.dataset.data_prefix == 'test'
    assert cfg.val_dataloader.dataset.data_prefix == 'val'
    assert cfg.model.architecture.head.num_classes == classes
    assert cfg.data_preprocessor.num_classes == classes
    assert tuple(cfg.model.input_shape) == (3, size, size)
    hook = cfg.custom_hooks[0]
    assert hook.type == 'PaSSearchHook' and hook.search_epochs == 2
    assert cfg.train_cfg.max_epochs == 5 == cfg.param_scheduler.T_max


def test_pas_model_builds_twice_and_loads_a_plain_checkpoint():
    """The wrapped model's own checkpoint (no 'architecture.' keys, no
    gates, as a model zoo file) loads into PaSModel; gates stay open."""
    import torch
    cfg = load('pas_repvgg_digits.py').model
    first = MODELS.build(cfg)
    second = MODELS.build(cfg)  # the config is not consumed by a build
    plain = {k: v for k, v in first.architecture.state_dict().items()
             if '.gate.' not in k}
    plain = {k: v + 1 if v.is_floating_point() else v
             for k, v in plain.items()}
    result = second.load_state_dict(plain, strict=False)
    assert not result.unexpected_keys
    assert result.missing_keys and all('.gate.' in k
                                       for k in result.missing_keys)
    state = second.architecture.state_dict()
    assert all(torch.equal(state[k], v) for k, v in plain.items())
    assert not second.searched and all(
        g.num_kept() == g.num_channels for g in second.gates().values())
    with pytest.raises(ValueError, match='snap_tol=1.5 must be in'):
        PaSSearchHook(snap_tol=1.5)


def lr_per_epoch(cfg):
    """The optimizer LR of every epoch under the config's MultiStepLRs."""
    lr = cfg.optim_wrapper.optimizer.lr
    steps = [(m, s.gamma) for s in cfg.param_scheduler
             for m in s.milestones]
    assert all(s.type == 'MultiStepLR' and s.by_epoch
               for s in cfg.param_scheduler)
    out = []
    for epoch in range(cfg.train_cfg.max_epochs):
        for m, gamma in steps:
            if m == epoch:
                lr *= gamma
        out.append(lr)
    return out


IMAGENET = ['pas_repvgg_a0_8xb32_in1k.py', 'pas_resnet50_8xb32_in1k.py',
            'pas_repvgg_b1/pas-a_repvgg-b1_8xb32_in1k.py',
            'pas_repvgg_b1/pas-b_repvgg-b1_8xb32_in1k.py',
            'pas_repvgg_b1/pas-c_repvgg-b1_8xb32_in1k.py',
            'pas_mobileone_light_a_8xb32_in1k.py',
            'pas_mobileone_light_b_8xb32_in1k.py',
            'pas_mobileone_light_c_8xb32_in1k.py',
            'pas_mobilenet-v2_8xb32_in1k.py']
COCO = ['pas_yolact_r50_1xb8-55e_coco.py',
        'detectors/pas_mask-rcnn_r50_fpn_1x_coco.py',
        'detectors/pas_retinanet_r50_fpn_1x_coco.py',
        'detectors/pas_solov2_r50_fpn_1x_coco.py']


@pytest.mark.parametrize('name', IMAGENET + COCO)
def test_shipped_configs_run_the_official_schedule(name):
    """github liyy201912/PaS: search at 0.1x the stock LR (0.02 at batch
    512), fine-tune from 0.128x (0.0256) with two x0.1 steps (after 18 and
    38 of 48 epochs), gates in the same SGD with weight decay."""
    if name in COCO:
        pytest.importorskip('mmdet')
    cfg = load(name)
    stock = get_config(_stock_config(name)).optim_wrapper.optimizer.lr
    search = cfg.custom_hooks[-1].search_epochs
    assert cfg.custom_hooks[-1].type == 'PaSSearchHook'
    finetune = cfg.train_cfg.max_epochs - search
    assert (search, finetune) == ((10, 50) if name not in COCO[1:]
                                  else (2, 10))
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys['.gate'] == dict(
        lr_mult=1.0, decay_mult=1.0)
    assert cfg.optim_wrapper.optimizer.type == 'SGD'
    assert cfg.optim_wrapper.optimizer.momentum == 0.9
    assert cfg.optim_wrapper.optimizer.weight_decay > 0
    lrs = lr_per_epoch(cfg)
    steps = [search + round(18 / 48 * finetune),
             search + round(38 / 48 * finetune)]
    expected = ([0.1 * stock] * search +
                [0.128 * stock] * (steps[0] - search) +
                [0.0128 * stock] * (steps[1] - steps[0]) +
                [0.00128 * stock] * (search + finetune - steps[1]))
    assert lrs == pytest.approx(expected, rel=1e-9)
    assert '_pas' not in cfg and 'pas_schedule' not in cfg


def _stock_config(name):
    """The mmpretrain / mmdet config a shipped PaS config starts from."""
    text = open(osp.join(ROOT, 'configs', name)).read()
    base = text.split("_base_ = ['", 1)[1].split("'", 1)[0]
    if base.startswith('./'):  # PaS-A / PaS-C: PaS-B's base
        return _stock_config(osp.join(osp.dirname(name), base[2:]))
    return base


def test_imagenet_configs_scale_to_the_official_numbers():
    """At mmpretrain's 8 x 32 (stock LR 0.1): 0.01 / 0.0128, i.e. the
    official 0.02 / 0.0256 at a batch of 512."""
    cfg = load('pas_repvgg_a0_8xb32_in1k.py')
    batch = 8 * cfg.train_dataloader.batch_size
    lrs = lr_per_epoch(cfg)
    assert batch == 256
    assert lrs[0] * 512 / batch == pytest.approx(0.02)
    assert lrs[10] * 512 / batch == pytest.approx(0.0256)
    assert lrs[29] * 512 / batch == pytest.approx(0.00256)
    assert lrs[59] * 512 / batch == pytest.approx(0.000256)


def test_rtmdet_config_runs_the_official_schedule_on_adamw():
    """RTMDet keeps mmdet's AdamW (a stated deviation) on the official LR
    ratios, and its stage-2 pipeline moves to the last 20 epochs."""
    pytest.importorskip('mmdet')
    name = 'pas_rtmdet-ins_tiny_8xb32-300e_coco.py'
    cfg = load(name)
    stock = get_config(_stock_config(name)).optim_wrapper.optimizer.lr
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys['.gate'] == dict(
        lr_mult=1.0, decay_mult=1.0)
    lrs = lr_per_epoch(cfg)
    assert len(lrs) == 60
    assert lrs[0] == pytest.approx(0.1 * stock)
    assert lrs[10] == pytest.approx(0.128 * stock)
    assert lrs[59] == pytest.approx(0.00128 * stock)
    hooks = {h.type: h for h in cfg.custom_hooks}
    assert hooks['PipelineSwitchHook'].switch_epoch == 40
    assert hooks['PaSSearchHook'].search_epochs == 10
    assert load('pas_rtmdet_ins.py').load_from is None


def test_mnist_config_is_the_eighth_width_net_at_28_px_without_flips():
    cfg = load('pas_repvgg_mnist_small.py')
    model = MODELS.build(cfg.model)
    widths = sorted({g.num_channels for g in model.gates().values()})
    assert widths == [8, 16, 32, 64]
    assert model.macs_full == 620128  # MACs per 28x28 image
    assert tuple(cfg.model.input_shape) == (3, 28, 28)
    assert cfg.train_dataloader.batch_size == 128
    assert cfg.optim_wrapper.optimizer.lr == 0.2  # 0.05 at 32, linear
    for split in ('train', 'val', 'test'):
        ds = cfg[f'{split}_dataloader'].dataset
        assert ds.data_root == 'data/mnist'
        assert 'RandomFlip' not in [t.type for t in ds.pipeline]  # digits


@pytest.mark.parametrize('name,classes,size,root', [
    ('pas_repvgg_elpv_binary.py', 2, 64, 'data/elpv64b'),
    ('pas_repvgg_elpv128.py', 4, 128, 'data/elpv128')])
def test_elpv_flip_configs_keep_classes_size_and_no_crop(name, classes, size,
                                                         root):
    cfg = load(name)
    assert cfg.model.architecture.head.num_classes == classes
    assert cfg.model.architecture.head.topk == (1, )  # no top-5 of 2 or 4
    assert cfg.data_preprocessor.num_classes == classes
    assert tuple(cfg.model.input_shape) == (3, size, size)
    for split in ('train', 'val', 'test'):
        assert cfg[f'{split}_dataloader'].dataset.data_root == root
    train = [t.type for t in cfg.train_dataloader.dataset.pipeline]
    assert train == ['LoadImageFromFile', 'RandomFlip', 'PackInputs']
    test = cfg.test_dataloader.dataset.pipeline
    assert [t.type for t in test] == [
        'LoadImageFromFile', 'ResizeEdge', 'CenterCrop', 'PackInputs']
    assert test[1].scale == size and test[2].crop_size == size
    model = MODELS.build(cfg.model)
    assert model.architecture.head.fc.out_features == classes
