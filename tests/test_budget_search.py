"""The search's budget: the gradient's form, value per cost, the rising
multiplier that lands a short search on its target, the per-layer floor
and the alternation measure."""
import math

import pytest
import torch
from conftest import tiny_repvgg_classifier
from mmengine.registry import MODELS

from pas_mm.budget import MACsCounter, MACsLoss
from pas_mm.budget.alternation import alternation
from pas_mm.budget.macs_counter import MACsEntry
from pas_mm.errors import PaSConfigError
from pas_mm.ops import DBCGate


def chain(f1=5., f2=7., f3=11.):
    """3 -> conv1 -> g1 (4) -> conv2 -> g2 (6) -> fc -> 10, MACs factors
    f1, f2, f3 per (c_in x c_out)."""
    g1, g2 = DBCGate(4), DBCGate(6)
    counter = MACsCounter([
        MACsEntry('conv1', f1, 3, 4, None, g1),
        MACsEntry('conv2', f2, 4, 6, g1, g2),
        MACsEntry('fc', f3, 6, 10, g2, None)])
    return counter, g1, g2


@pytest.mark.parametrize('gradient, d1, d2', [
    # a channel's marginal MACs: the layer it is the output of and the one
    # it feeds
    ('full', 5 * 3 + 7 * 6, 7 * 4 + 11 * 10),
    # the official code's: input counts detached, own layer only
    ('own', 5 * 3, 7 * 4)])
def test_gate_gradient_by_hand(gradient, d1, d2):
    counter, g1, g2 = chain()
    macs = counter.macs(gradient)
    assert float(macs) == 5 * 3 * 4 + 7 * 4 * 6 + 11 * 6 * 10
    macs.backward()
    assert torch.equal(g1.weight.grad, torch.full((4, ), float(d1)))
    assert torch.equal(g2.weight.grad, torch.full((6, ), float(d2)))


def test_value_weighting_divides_the_gradient_by_relative_worth():
    counter, g1, g2 = chain()
    g1.importance.copy_(torch.tensor([1., 1., 2., 4.]))  # mean 2
    g2.importance.copy_(torch.tensor([1., 1., 1., 1., 1., 1000.]))
    counter.macs('own', value_weighted=True).backward()
    assert torch.allclose(g1.weight.grad, 15 * torch.tensor([2, 2, 1, .5]))
    mean = 1005 / 6  # relative worth clipped to [1/10, 10]
    assert torch.allclose(g2.weight.grad, 28 * torch.tensor(
        [10.] * 5 + [mean / 1000]))
    # restoring (the cost below its target): the worthiest come back first
    g1.weight.grad = None
    (-counter.macs('own', value_weighted=True)).backward()
    assert torch.allclose(g1.weight.grad, -15 * torch.tensor([.5, .5, 1, 2]))
    # no importance yet: the plain gradient
    counter, g1, _ = chain()
    counter.macs('own', value_weighted=True).backward()
    assert torch.equal(g1.weight.grad, torch.full((4, ), 15.))


def test_fisher_importance_is_the_mean_squared_per_sample_taylor_term():
    gate = DBCGate(2, importance_momentum=0.5)
    gate.track_importance = True
    x = torch.tensor([[1., 2.], [3., -1.]]).view(2, 2, 1, 1)
    w = torch.tensor([[2., 1.], [1., 4.]]).view(2, 2, 1, 1)
    (gate(x) * w).sum().backward()
    # per-sample dL/dm_c = w * x; N x sum over samples of its square
    per_sample = torch.tensor([[2., 2.], [3., -4.]])
    fisher = 2 * per_sample.pow(2).sum(0)
    assert torch.allclose(gate.importance, 0.5 * fisher)
    gate.eval()  # not tracked outside training
    (gate(x) * w).sum().backward()
    assert torch.allclose(gate.importance, 0.5 * fisher)


def test_multiplier_follows_the_distance_to_the_target():
    loss = MACsLoss(0.5, loss_weight=2., multiplier_lr=3.,
                    crossing_smoothing=1.)
    cost = torch.tensor(80.)
    assert float(loss(cost, 50., 100.)) == pytest.approx(2 * 0.3**2)
    assert float(loss.multiplier) == pytest.approx(0.9)
    assert float(loss(cost, 50., 100.)) == pytest.approx(
        0.9 * 0.3 + 2 * 0.3**2)
    # below the target: restarts from 0 (no wind-up across the target) and
    # pushes back up
    loss(torch.tensor(10.), 50., 100.)
    assert float(loss.multiplier) == pytest.approx(-1.2)
    loss(torch.tensor(10.), 50., 100.)
    assert float(loss.multiplier) == pytest.approx(-2.4)
    loss.eval()  # moves in training only
    loss(cost, 50., 100.)
    assert float(loss.multiplier) == pytest.approx(-2.4)
    # within tol of the target: no loss, the multiplier holds
    loss = MACsLoss(0.5, loss_weight=2., multiplier_lr=3., tol=0.01)
    assert float(loss(torch.tensor(50.9), 50., 100.)) == 0.
    assert float(loss.multiplier) == 0.


def test_one_noisy_step_across_the_target_does_not_restart_the_multiplier():
    """The multiplier restarts when ``r`` averaged over steps changes sign
    (weight 0.1 per step by default), not at one step across the target:
    10 steps at r = +0.02, one at -0.01, 10 at +0.02 keep the wind-up; at
    ``crossing_smoothing=1`` (the old default) the noisy step restarts it."""
    def run(**kwargs):
        loss = MACsLoss(0.5, multiplier_lr=1., tol=0.005, **kwargs)
        for r in [0.02] * 10 + [-0.01] + [0.02] * 10:
            loss(torch.tensor(50. + 100 * r), 50., 100.)
        return float(loss.multiplier)

    assert run() == pytest.approx(20 * 0.02 - 0.01)
    assert run(crossing_smoothing=1.) == pytest.approx(10 * 0.02)
    # a lasting crossing restarts it: 30 steps below, then the push up
    loss = MACsLoss(0.5, multiplier_lr=1., tol=0.005)
    for r in [0.02] * 10 + [-0.01] * 30:
        loss(torch.tensor(50. + 100 * r), 50., 100.)
    assert -30 * 0.01 < float(loss.multiplier) < 0.


def build(**macs_loss):
    return MODELS.build(dict(
        type='PaSModel', architecture=tiny_repvgg_classifier(),
        input_shape=(3, 32, 32),
        macs_loss=dict(type='MACsLoss', **macs_loss)))


def test_floor_raises_every_gates_minimum():
    model = build(target=0.1, floor=0.5)
    for g in model.gates().values():
        assert g.min_keep == math.ceil(0.5 * math.sqrt(0.1) * g.num_channels)
    assert model.budget_min == model.counter.minimum() < model.budget_target
    assert model.macs_min < model.budget_min  # the gates' own reach
    with pytest.raises(PaSConfigError, match='floor=0.9 leaves'):
        build(target=0.02, floor=0.9)


def test_default_floor_is_lowered_where_ungated_layers_need_the_room(
        monkeypatch):
    from pas_mm.models import pas_search_mixin
    logged = []
    monkeypatch.setattr(pas_search_mixin, 'print_log',
                        lambda msg, **kw: logged.append(msg))
    reach = build(target=0.5, floor=0.).macs_min / build(
        target=0.5, floor=0.).macs_full
    model = build(target=reach * 1.05)  # no room for any floor
    assert model.budget_min == model.macs_min
    assert {g.min_keep for g in model.gates().values()} == {1}
    assert 'per-layer floor lowered from 0.5 to 0 ' in ' '.join(logged)
    # applied at a target with room
    assert max(g.min_keep for g in build(target=0.5).gates().values()) > 1


@pytest.mark.parametrize('kwargs, message', [
    (dict(loss_weight=-1), 'loss_weight=-1 must be > 0'),
    (dict(multiplier_lr=-1), 'multiplier_lr=-1 must be >= 0'),
    (dict(gradient='half'), "gradient='half' must be one of"),
    (dict(floor=1.0), 'floor=1.0 must be in'),
    (dict(tol=-0.1), 'tol=-0.1 must be in'),
    (dict(crossing_smoothing=0.), 'crossing_smoothing=0.0 must be in'),
])
def test_bad_search_options(kwargs, message):
    with pytest.raises(PaSConfigError, match=message):
        MACsLoss(0.5, **kwargs)


def short_search(**macs_loss) -> float:
    """300 steps of plain SGD on the gates alone, a task loss pulling every
    channel open (a fixed random pull per channel); the MACs ratio reached."""
    torch.manual_seed(0)
    model = build(target=0.3, loss_weight=5., **macs_loss)
    model.train()
    gates = list(model.gates().values())
    pull = [torch.rand(g.num_channels) * 0.02 for g in gates]
    opt = torch.optim.SGD([g.weight for g in gates], lr=0.1)
    for _ in range(300):
        opt.zero_grad()
        task = -sum((p * g.mask()).sum() for p, g in zip(pull, gates))
        (task + model.macs_losses()['loss_macs']).backward()
        opt.step()
    return model.counter.kept_macs() / model.macs_full


def test_short_search_lands_on_the_target_without_the_snap():
    """The quadratic loss stalls where the task's pull matches its own; the
    rising multiplier lands on the target and, with ``tol``, settles there
    (within 1% of the full MACs: the snap's unit)."""
    paper = dict(multiplier_lr=0., tol=0., value_weighted=False, floor=0.)
    assert short_search(**paper) > 0.5
    assert abs(short_search(**dict(paper, multiplier_lr=2., tol=0.005)) -
               0.3) <= 0.01


@pytest.mark.parametrize('widths, full, share', [
    ([11, 2, 20, 4, 42, 6, 91], [16, 16, 32, 32, 64, 64, 128], 0.6),
    ([4, 5, 10, 10, 20, 20, 40], [16, 16, 32, 32, 64, 64, 128], 0.0),
    ([8, 8], [16, 16], 0.0),
])
def test_alternation(widths, full, share):
    assert alternation(widths, full) == pytest.approx(share)
