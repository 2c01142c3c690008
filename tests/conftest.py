import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.registry import init_default_scope
from torch import nn

import pas_mm  # noqa: F401
from pas_mm.deploy import flatten_outputs
from pas_mm.ops import raw_forward

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


class RawForward(nn.Module):
    """Traceable deploy-time forward of a classifier or detector."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return tuple(flatten_outputs(raw_forward(self.model, x)))


def independent_macs(model, shape) -> float:
    """Conv (transposed too) + linear MACs by mmengine's FlopAnalyzer (jit
    trace of :func:`raw_forward`, batch 1, ``shape`` = (C, H, W))."""
    by_op = FlopAnalyzer(RawForward(model).eval(),
                         (torch.zeros(1, *shape), )).by_operator()
    return by_op['conv'] + by_op.get('linear', 0) + by_op.get('addmm', 0)


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    init_default_scope('mmpretrain')


def tiny_repvgg_classifier(num_classes=10):
    """ImageClassifier config with a 6-block gated RepVGG (32x32 input)."""
    return dict(
        type='ImageClassifier',
        backbone=dict(
            type='PaSRepVGG',
            arch=dict(num_blocks=[1, 2, 2, 1],
                      width_factor=[0.5, 0.5, 0.5, 1.0]),
            strides=(1, 2, 2, 2)),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=num_classes,
                  in_channels=512, loss=dict(type='CrossEntropyLoss')))


def resnet_classifier(depth):
    return dict(
        type='ImageClassifier',
        backbone=dict(type='PaSResNet', depth=depth),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=10,
                  in_channels=512 if depth < 50 else 2048,
                  loss=dict(type='CrossEntropyLoss')))


def _randomize_norm(m, g):
    """Random statistics and affine parameters of one BatchNorm2d."""
    n = m.num_features
    m.running_mean.copy_(torch.rand(n, generator=g) * 2 - 1)
    m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
    m.weight.data = torch.rand(n, generator=g) + 0.5
    m.bias.data = torch.rand(n, generator=g) - 0.5


def randomize(model, seed=0):
    """Random gate weights (random masks) and BN statistics."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, pas_mm.DBCGate):
            m.weight.data = torch.rand(m.num_channels, generator=g)
        elif isinstance(m, torch.nn.BatchNorm2d):
            _randomize_norm(m, g)
    return model


def randomize_bn(model, g):
    """Random BN statistics only (gates untouched), from generator ``g``."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            _randomize_norm(m, g)
    return model


@pytest.fixture(scope='session')
def digits_root(tmp_path_factory):
    out = tmp_path_factory.mktemp('data') / 'digits'
    subprocess.run([sys.executable, osp.join(ROOT, 'tools/make_digits.py'),
                    '--out', str(out)], check=True, capture_output=True)
    return str(out)
