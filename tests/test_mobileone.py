"""PaSMobileOne: stock equivalence, search, exact deploy, MACs, configs."""
import os.path as osp

import pytest
import torch
from conftest import ROOT, independent_macs, randomize_bn
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope
from mmpretrain.structures import DataSample

from pas_mm.deploy import build_deployed, count_macs, export_deploy
from pas_mm.errors import PaSConfigError
from pas_mm.models.backbones.stock_backbone import gated_backbone_cfg

# 6 layers, two conv branches in the first stages (32x32 -> 1x1)
TINY_ARCH = dict(num_blocks=[1, 2, 2, 1], width_factor=[0.5, 0.5, 0.5, 0.5],
                 num_conv_branches=[2, 2, 1, 1], num_se_blocks=[0, 0, 0, 0])
SHAPE = (3, 32, 32)


def classifier(arch=TINY_ARCH, in_channels=256):
    """ImageClassifier config over a stock MobileOne."""
    return dict(
        type='ImageClassifier',
        backbone=dict(type='MobileOne', arch=arch),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=10,
                  in_channels=in_channels,
                  loss=dict(type='CrossEntropyLoss')))


def pas_model(arch=TINY_ARCH, **backbone):
    return MODELS.build(dict(
        type='PaSModel', architecture=classifier(arch),
        backbone=dict(type='PaSMobileOne', **backbone),
        macs_loss=dict(type='MACsLoss', target=0.5), input_shape=SHAPE))


def prune_a_third(model, seed=0):
    """Fix every gate with a random third of its channels pruned."""
    g = torch.Generator().manual_seed(seed)
    for gate in model.gates().values():
        mask = torch.ones(gate.num_channels, dtype=torch.bool)
        mask[torch.randperm(gate.num_channels, generator=g)[
            :gate.num_channels // 3]] = False
        gate.fix(mask)


@pytest.mark.parametrize('arch, size', [(TINY_ARCH, 32), ('s0', 64)])
def test_unpruned_gated_backbone_equals_stock_mobileone(arch, size):
    stock_cfg = dict(type='MobileOne', arch=arch, out_indices=(0, 1, 2, 3),
                     frozen_stages=1)
    torch.manual_seed(0)
    stock = MODELS.build(stock_cfg)
    gated = MODELS.build(gated_backbone_cfg(stock_cfg,
                                            dict(type='PaSMobileOne')))
    randomize_bn(stock, torch.Generator().manual_seed(0))
    result = gated.load_state_dict(stock.state_dict(), strict=False)
    assert not result.unexpected_keys
    assert result.missing_keys and all('.gate.' in k
                                       for k in result.missing_keys)
    stock.train(), gated.train()
    assert [p.requires_grad for n, p in gated.named_parameters()
            if '.gate.' not in n] == [p.requires_grad
                                      for p in stock.parameters()]
    assert all(g.weight.requires_grad for g in gated.gates().values())
    stock.eval(), gated.eval()
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        a, b = stock(x), gated(x)
    assert len(a) == len(b) == 4
    for u, v in zip(a, b):
        assert u.shape == v.shape and torch.equal(u, v)


def test_search_step_and_exact_deploy_of_a_pruned_model():
    torch.manual_seed(0)
    model = pas_model()
    backbone = model.architecture.backbone
    assert len(model.gates()) == 1 + 6  # stem + one per point-wise block
    # one search iteration: loss_macs reaches every gate
    data = dict(inputs=[torch.randint(0, 255, SHAPE, dtype=torch.uint8)
                        for _ in range(4)],
                data_samples=None)
    data = model.data_preprocessor(data, True)
    samples = [DataSample().set_gt_label(i) for i in range(4)]
    losses = model(data['inputs'], samples, mode='loss')
    assert {'loss', 'loss_macs', 'macs_ratio'} <= set(losses)
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    for name, gate in model.gates().items():
        assert gate.weight.grad is not None and \
            (gate.weight.grad != 0).all(), name

    randomize_bn(model, torch.Generator().manual_seed(1))
    prune_a_third(model)
    model.double().eval()
    cfg, state = export_deploy(model)
    assert cfg['backbone']['widths'] == [
        g.num_kept() for g in model.gates().values()]
    assert cfg['head']['in_channels'] == cfg['backbone']['widths'][-1]
    deployed = build_deployed(cfg, state)
    assert not any('gate' in k for k in deployed.state_dict())
    dw = deployed.backbone.stage2[2].branch_reparam  # depth-wise, pruned
    assert dw.groups == dw.in_channels == dw.out_channels == \
        backbone.stage2[1].gate.num_kept()
    x = torch.randn(4, *SHAPE, dtype=torch.float64)
    with torch.no_grad():
        diff = (model.architecture(x, mode='tensor') -
                deployed(x, mode='tensor')).abs().max()
    assert diff <= 1e-8

    # MACs: the gated count = the deployed model's = FlopAnalyzer's
    deployed = build_deployed(cfg, {k: v.float() for k, v in state.items()})
    kept = model.counter.kept_macs()
    assert kept < model.macs_full
    assert kept == count_macs(deployed, SHAPE)
    assert kept == independent_macs(deployed, SHAPE)


def test_depthwise_convs_are_counted_per_kept_channel():
    model = pas_model()
    entries = {e.name: e for e in model.counter.entries}
    dw = entries['backbone.stage2.0.branch_conv_list.0.conv']
    gate = model.architecture.backbone.stage1[1].gate
    assert dw.depthwise and dw.in_gate is dw.out_gate is gate
    assert dw.factor == 3 * 3 * 4 * 4  # 3x3 kernel, 4x4 output
    assert dw.macs(lambda g: 5) == 3 * 3 * 4 * 4 * 5
    assert not any('branch_scale' in n or 'list.1' in n for n in entries)


def test_unpruned_counts_equal_flop_analyzer():
    model = pas_model()
    model.fix_gates()
    deployed = build_deployed(*export_deploy(model))
    assert model.macs_full == independent_macs(deployed, SHAPE)


@pytest.mark.parametrize('name, arch, full, target', [
    ('a', 's1', 825.1e6, 300e6),
    ('b', 's2', 1298.4e6, 600e6),
    ('c', 's0', 275.1e6, 150e6),
])
def test_light_configs_build(name, arch, full, target):
    cfg = Config.fromfile(osp.join(
        ROOT, 'configs', f'pas_mobileone_light_{name}_8xb32_in1k.py'))
    assert cfg.model.architecture.backbone.arch == arch
    assert f'mobileone-{arch}_8xb32_in1k' in cfg.load_from
    assert cfg.train_cfg.max_epochs == 60
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys['.gate'] == dict(
        lr_mult=1.0, decay_mult=1.0)  # the official schedule
    assert cfg.train_dataloader.dataset.pipeline[1].scale == 224
    model = MODELS.build(cfg.model)
    assert type(model.architecture.backbone).__name__ == 'PaSMobileOne'
    assert model.macs_full == pytest.approx(full, rel=1e-3)
    assert model.macs_target == target
    # a model-zoo checkpoint of the stock classifier loads; gates stay open
    stock = MODELS.build(cfg.model.architecture).state_dict()
    result = model.load_state_dict(stock, strict=False)
    assert not result.unexpected_keys
    assert len(result.missing_keys) == 3 * 22  # weight, fixed, fixed_mask


def test_mmpretrain_se_config_is_refused(tmp_path):
    path = tmp_path / 'pas_s4.py'
    path.write_text(
        "_base_ = ['mmpretrain::mobileone/mobileone-s4_8xb32_in1k.py']\n"
        "model = dict(_delete_=True, type='PaSModel',\n"
        "             architecture={{_base_.model}},\n"
        "             backbone=dict(type='PaSMobileOne'))\n")
    cfg = Config.fromfile(str(path))
    with pytest.raises(PaSConfigError, match=r'cannot gate SE layers: arch '
                       r's4 has num_se_blocks=\[0, 0, 5, 1\]'):
        MODELS.build(cfg.model)


@pytest.mark.parametrize('backbone, message', [
    (dict(arch=dict(TINY_ARCH, num_se_blocks=[0, 0, 0, 1])),
     'PaSMobileOne cannot gate SE layers: arch dict has num_se_blocks='
     '[0, 0, 0, 1] (se_cfg); use s0-s3 or num_se_blocks=[0, 0, 0, 0]'),
    (dict(widths=[32] * 6),
     'PaSMobileOne: widths needs 7 numbers (stem + 6 point-wise blocks), '
     'got 6'),
    (dict(widths=[32, 32, 64, 300, 128, 128, 256]),
     'PaSMobileOne: widths[3] (stage2 block 1) = 300 is above its stock '
     'width 64'),
    (dict(widths=[32, 0, 64, 64, 128, 128, 256]),
     'PaSMobileOne: widths[1] (stage1 block 0) = 0 must be a positive '
     'integer'),
    (dict(norm_cfg=dict(type='GN', num_groups=1)),
     "PaSMobileOne: norm_cfg type 'GN' cannot be folded into the convs at "
     'deploy; use BN or SyncBN'),
    (dict(conv_cfg=dict(type='DCNv2')),
     "PaSMobileOne: conv_cfg={'type': 'DCNv2'} is not a plain conv"),
    (dict(deploy=True),
     'PaSMobileOne: deploy=True (branches already fused) cannot be searched'),
    (dict(arch='s9'), "PaSMobileOne: unknown arch 's9'"),
])
def test_bad_input_is_refused_naming_the_option(backbone, message):
    with pytest.raises(PaSConfigError) as e:
        pas_model(**backbone)
    assert str(e.value).startswith(message)


def test_other_stock_backbone_is_refused():
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        with pytest.raises(PaSConfigError,
                           match='cannot reproduce backbone RepVGG'):
            gated_backbone_cfg(dict(type='RepVGG', arch='A0'),
                               dict(type='PaSMobileOne'))


def test_animals_configs_build_and_share_weights():
    cfg = Config.fromfile(osp.join(ROOT, 'configs',
                                   'pas_mobileone_animals.py'))
    model = MODELS.build(cfg.model)
    assert type(model.architecture.backbone).__name__ == 'PaSMobileOne'
    assert len(model.gates()) == 7 and model.macs_full == 594304
    assert cfg.custom_hooks[0].search_epochs == 2
    pretrain = Config.fromfile(osp.join(
        ROOT, 'configs', 'pas_mobileone_animals_pretrain.py'))
    assert pretrain.custom_hooks == [] and pretrain.load_from is None
    name = osp.splitext(osp.basename(pretrain.filename))[0]
    assert cfg.load_from.startswith(f'work_dirs/{name}/')
    stock = MODELS.build(pretrain.model)
    assert type(stock.backbone).__name__ == 'MobileOne'
    result = model.load_state_dict(stock.state_dict(), strict=False)
    assert not result.unexpected_keys
    assert all('.gate.' in k for k in result.missing_keys)
