import pytest
import torch
from conftest import (independent_macs, randomize, resnet_classifier,
                      tiny_repvgg_classifier)
from mmengine.registry import MODELS

from pas_mm.deploy import build_deployed, export_deploy
from pas_mm.budget.losses import MACsLoss, parse_macs


def build(arch, shape, target=0.5):
    return MODELS.build(dict(type='PaSModel', architecture=arch,
                             input_shape=shape,
                             macs_loss=dict(type='MACsLoss', target=target)))


@pytest.mark.parametrize('arch, shape', [
    (tiny_repvgg_classifier(), (3, 32, 32)),
    (resnet_classifier(18), (3, 64, 64)),
    (resnet_classifier(50), (3, 64, 64)),
])
def test_counter_matches_flop_analyzer_unpruned_and_deployed(arch, shape):
    model = build(arch, shape)
    model.fix_gates()  # all channels kept
    deployed = build_deployed(*export_deploy(model))
    assert model.counter.full() == independent_macs(deployed, shape)

    model = randomize(build(arch, shape))
    model.fix_gates()
    kept = model.counter.kept_macs()
    assert kept < model.counter.full()
    deployed = build_deployed(*export_deploy(model))
    assert kept == independent_macs(deployed, shape)


def test_repvgg_counts_deploy_structure_not_training_branches():
    model = build(tiny_repvgg_classifier(), (3, 32, 32))
    convs = [e.name for e in model.counter.entries]
    assert not any('branch_1x1' in n for n in convs)
    assert convs[-1] == 'head.fc' and model.consumers.keys() == {'head.fc'}


def test_macs_are_differentiable_in_the_gates():
    model = build(tiny_repvgg_classifier(), (3, 32, 32))
    model.counter.macs().backward()
    for name, gate in model.gates().items():
        assert (gate.weight.grad > 0).all(), name


@pytest.mark.parametrize('target, expected', [
    ('1.2G', 1.2e9), ('300M', 3e8), ('50k', 5e4), (0.5, 0.5), (2e6, 2e6)])
def test_parse_macs(target, expected):
    assert parse_macs(target) == expected


def test_target_as_ratio_or_absolute():
    assert MACsLoss(0.25).resolve_target(1000., 10.) == 250.
    assert MACsLoss('0.3K').resolve_target(1000., 10.) == 300.
    assert MACsLoss('400').resolve_target(1000., 10.) == 400.


@pytest.mark.parametrize('target, message', [
    ('2G', 'larger than the full model'),
    (0, 'must be > 0'),
    (-0.5, 'must be > 0'),
    ('5', 'below 10, the MACs left when every gated layer keeps'),
    ('lots', 'is not a number'),
    (1.5, r"a number is a ratio of the full model, in \(0, 1\]; an absolute "
     r"target needs its unit, e.g. '500.000M'"),
])
def test_bad_targets(target, message):
    with pytest.raises(ValueError, match=message):
        MACsLoss(target).resolve_target(1e9, 10.)


def test_loss_value():
    loss = MACsLoss(0.5, loss_weight=2.0)
    assert float(loss(torch.tensor(800.), 500., 1000.)) == pytest.approx(
        2.0 * 0.3**2)


def test_unreachable_target_is_reported_when_model_is_built():
    with pytest.raises(ValueError, match='below .* keeps its minimum'):
        build(tiny_repvgg_classifier(), (3, 32, 32), target=0.0005)


def test_config_without_gates_fails_loudly():
    arch = tiny_repvgg_classifier()
    arch['backbone']['gate_cfg'] = None
    with pytest.raises(ValueError, match='built without gates'):
        build(arch, (3, 32, 32))
    arch['backbone'] = dict(type='ResNet', depth=18)
    with pytest.raises(ValueError, match=r'\(ResNet\) has no DBC gates'):
        build(arch, (3, 32, 32))
