"""A gated backbone merged over a stock one reproduces it, or refuses."""
import pytest
import torch
from mmengine.registry import MODELS, DefaultScope

from pas_mm.models.backbones.stock_backbone import gated_backbone_cfg

VARIANTS = [
    ('mmpretrain', dict(type='ResNet', depth=18)),
    ('mmpretrain', dict(type='ResNetV1c', depth=18, out_indices=(1, 3))),
    ('mmpretrain', dict(type='ResNetV1d', depth=50, num_stages=2,
                        strides=(1, 2), dilations=(1, 1), out_indices=(1, ))),
    # mmdet defaults differ (norm_eval=True, all four outputs)
    ('mmdet', dict(type='ResNet', depth=50, style='caffe', frozen_stages=1,
                   num_stages=2, strides=(1, 2), dilations=(1, 1),
                   out_indices=(0, 1))),
    ('mmdet', dict(type='ResNetV1d', depth=18)),
    ('mmpretrain', dict(type='RepVGG', arch='A0', out_indices=(2, 3))),
]


def build(scope, cfg):
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(dict(cfg))


def bn_training(model):
    return [m.training for m in model.modules()
            if isinstance(m, torch.nn.BatchNorm2d)]


def frozen(model):
    return [p.shape for n, p in model.named_parameters()
            if not p.requires_grad and 'gate' not in n]


@pytest.mark.parametrize('scope, stock_cfg', VARIANTS,
                         ids=[f'{s}-{c["type"]}' for s, c in VARIANTS])
def test_unpruned_gated_backbone_equals_the_stock_one(scope, stock_cfg):
    gated_type = 'PaSRepVGG' if stock_cfg['type'] == 'RepVGG' else 'PaSResNet'
    torch.manual_seed(0)
    stock = build(scope, stock_cfg)
    with DefaultScope.overwrite_default_scope(scope):
        cfg = gated_backbone_cfg(stock_cfg, dict(type=gated_type))
    gated = build(scope, cfg)
    result = gated.load_state_dict(stock.state_dict(), strict=False)
    assert not result.unexpected_keys
    assert all('gate' in k for k in result.missing_keys)
    for m in (stock, gated):  # random BN statistics, so they matter
        for bn in m.modules():
            if isinstance(bn, torch.nn.BatchNorm2d):
                bn.running_mean.uniform_(-1, 1)
                bn.running_var.uniform_(0.5, 2)
    gated.load_state_dict(stock.state_dict(), strict=False)
    stock.train(), gated.train()  # norm_eval / frozen stages must match
    assert bn_training(stock) == bn_training(gated)
    assert frozen(stock) == frozen(gated)
    assert all(g.weight.requires_grad for g in gated.gates().values())
    stock.eval(), gated.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        a, b = stock(x), gated(x)
    assert len(a) == len(b)
    for u, v in zip(a, b):
        assert u.shape == v.shape
        assert torch.allclose(u, v, atol=1e-5)


@pytest.mark.parametrize('scope, stock_cfg, gated_type, match', [
    ('mmdet', dict(type='ResNet', depth=50, dcn=dict(type='DCNv2'),
                   stage_with_dcn=(False, True, True, True)), 'PaSResNet',
     'dcn='),
    ('mmdet', dict(type='ResNet', depth=50,
                   stage_with_dcn=(False, True, True, True)), 'PaSResNet',
     'DCN stages'),
    ('mmdet', dict(type='ResNeXt', depth=50, groups=32), 'PaSResNet',
     'cannot reproduce backbone ResNeXt'),
    ('mmpretrain', dict(type='ResNet', depth=50), 'PaSRepVGG',
     'cannot reproduce backbone ResNet'),
    ('mmpretrain', dict(type='RepVGG', arch='A0', add_ppf=True),
     'PaSRepVGG', 'add_ppf'),
])
def test_unsupported_stock_backbone_is_refused(scope, stock_cfg, gated_type,
                                               match):
    with DefaultScope.overwrite_default_scope(scope):
        with pytest.raises(ValueError, match=match):
            gated_backbone_cfg(stock_cfg, dict(type=gated_type))
