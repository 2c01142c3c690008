"""gates='auto': channel groups from the dependency graph on stock models.

Each model: one search step through the task and MACs losses reaches every
gate, a third of every gate is pruned, the deployed model (stock config +
per-layer shapes) equals the gated one in float64 and its MACs equal the
counter's and mmengine's FlopAnalyzer's.
"""
import json
import os.path as osp

import pytest
import torch
from conftest import independent_macs
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

from pas_mm.deploy import count_macs
from pas_mm.deploy.pipeline import export_verified
from pas_mm.errors import PaSConfigError

# stock config, input size, groups gated
CLASSIFIERS = {
    'mobilenet-v2': ('mobilenet_v2/mobilenet-v2_8xb32_in1k.py', 32),
    'resnext-50': ('resnext/resnext50-32x4d_8xb32_in1k.py', 32),
}


def stock_cfg(scope, base, tmp_path):
    cfg_file = osp.join(tmp_path, 'cfg.py')
    with open(cfg_file, 'w') as f:
        f.write(f"_base_ = ['{scope}::{base}']\n")
    return Config.fromfile(cfg_file)


def build_classifier(name, tmp_path, **kwargs):
    base, size = CLASSIFIERS[name]
    cfg = stock_cfg('mmpretrain', base, tmp_path)
    init_default_scope('mmpretrain')
    return MODELS.build(dict(
        type='PaSModel', architecture=cfg.model, gates='auto',
        macs_loss=dict(type='MACsLoss', target=0.99, loss_weight=1.0),
        input_shape=(3, size, size), **kwargs))


def classifier_batch(size):
    from mmpretrain.structures import DataSample
    return (torch.randn(2, 3, size, size),
            [DataSample().set_gt_label(3), DataSample().set_gt_label(5)])


def search_prune_deploy(model, batch):
    """One search step, a third of every gate pruned, exact deploy."""
    model.train()
    losses = model(*batch, mode='loss')
    assert 'loss_macs' in losses
    total = sum(v.sum() for k, v in losses.items() if 'loss' in k
                for v in (v if isinstance(v, list) else [v]))
    total.backward()
    gates = model.gates()
    assert gates and all(g.weight.grad is not None and
                         g.weight.grad.abs().sum() > 0
                         for g in gates.values())
    with torch.no_grad():
        for g in gates.values():
            g.weight[::3] = 0.
    model.fix_gates()
    model.eval()
    cfg, state, deployed, diffs = export_verified(model)
    assert diffs['max_abs_diff_float64'] <= 1e-8
    kept = model.counter.kept_macs()
    assert kept < model.macs_full
    assert count_macs(deployed, model.input_shape) == pytest.approx(kept)
    assert independent_macs(deployed, model.input_shape) == pytest.approx(
        kept, rel=1e-6)
    assert cfg['type'] == 'PaSNarrowed' and cfg['shapes']
    return cfg, deployed


@pytest.mark.parametrize('name', list(CLASSIFIERS))
def test_stock_classifier_searches_and_deploys_exactly(name, tmp_path):
    torch.manual_seed(0)
    model = build_classifier(name, tmp_path)
    # the stock layers are untouched: gates live in architecture.gates
    assert all(n.startswith('gates.') for n in model.gates())
    assert model.macs_full == pytest.approx(
        independent_macs(model.architecture, model.input_shape), rel=1e-6)
    search_prune_deploy(model, classifier_batch(CLASSIFIERS[name][1]))
