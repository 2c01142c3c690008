"""Latency-aware search: target parsing, tables (cached, interpolated,
differentiable), the predicted latency against the deployed model, the
snap onto a measured target, and the errors a user can meet.

Timing is replaced by a deterministic clock (``fake_clock``): a layer takes
``NS_PER_MAC * MACs + LAYER_MS`` and a whole model ``NS_PER_MAC * MACs +
MODEL_MS``. Conv MACs are bilinear in the kept widths, so the tables'
bilinear interpolation must predict every deployed width exactly.
"""
import json
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, tiny_repvgg_classifier
from mmengine.registry import MODELS
from mmengine.runner import Runner
from torch import nn

from pas_mm.deploy import count_macs, deploy
from pas_mm.deploy.pipeline import latency_report
from pas_mm.errors import PaSConfigError
from pas_mm.budget import latency_table
from pas_mm.ops import raw_forward
from pas_mm.budget.latency_table import LatencyTable, interpolate
from pas_mm.budget.losses import parse_latency
from test_search_runner import CONFIG, digits_cfg

NS_PER_MAC = 1e-6  # ms per MAC
LAYER_MS = 0.05
MODEL_MS = 0.4


@pytest.fixture
def fake_clock(monkeypatch):
    """Deterministic layer and model timing; counts the calls.

    A conv's MACs are ``weight[0].numel()`` (c_in / groups * k * k) per
    output element."""
    calls = dict(layers=0, models=0)

    def time_layers(self, layers):
        out = []
        for m, x in layers:
            calls['layers'] += 1
            layer = m[0] if isinstance(m, nn.Sequential) else m
            y = layer(x[:1])
            if isinstance(layer, nn.Linear):
                macs = layer.in_features * layer.out_features
            else:
                macs = layer.weight[0].numel() * y.numel()
            out.append(NS_PER_MAC * macs * len(x) + LAYER_MS)
        return out

    def time_modules(self, modules, x, run=None, rounds=30,
                     min_run_time=0.05, q=0.2):
        calls['models'] += len(modules)
        return [NS_PER_MAC * count_macs(m, tuple(x.shape[1:])) * len(x) +
                MODEL_MS for m in modules]

    monkeypatch.setattr(LatencyTable, 'time_layers', time_layers)
    monkeypatch.setattr(LatencyTable, 'time_modules', time_modules)
    return calls


def latency_model(tmp_path, target=0.5, **loss):
    return MODELS.build(dict(
        type='PaSModel', architecture=tiny_repvgg_classifier(),
        input_shape=(3, 32, 32),
        macs_loss=dict(type='LatencyLoss', target=target, device='cpu',
                       table_file=str(tmp_path / 'tables.json'), grid=3,
                       **loss)))


def random_masks(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    masks = {}
    for gate in model.gates().values():
        keep = int(torch.randint(gate.min_keep, gate.num_channels + 1, (),
                                 generator=g))
        m = torch.zeros(gate.num_channels, dtype=torch.bool)
        m[torch.randperm(gate.num_channels, generator=g)[:keep]] = True
        masks[gate] = m
    return masks


@pytest.mark.parametrize('text, ms', [('2.5ms', 2.5), ('800us', 0.8),
                                      ('0.01s', 10.0), (' 1e-1 MS ', 0.1),
                                      (0.5, 0.5)])
def test_latency_targets_parse(text, ms):
    assert parse_latency(text) == pytest.approx(ms)


@pytest.mark.parametrize('bad, says', [
    ('2.5', 'is not a number with a unit s/ms/us'),
    ('fast', 'is not a number with a unit s/ms/us'),
    (2.5, 'a number is a ratio of the full model\'s latency in (0, 1]'),
])
def test_bad_latency_targets_say_why(bad, says):
    with pytest.raises(PaSConfigError, match=None) as e:
        MODELS.build(dict(type='LatencyLoss', target=bad))
    assert says in str(e.value)


def test_interpolation_is_bilinear_with_the_slope_as_gradient():
    grid = ([1, 3], [2, 6], [[1.0, 3.0], [2.0, 8.0]])
    assert interpolate(grid, 1, 2) == 1.0
    assert interpolate(grid, 3, 6) == 8.0
    c_in = torch.tensor(2.0, requires_grad=True)
    value = interpolate(grid, c_in, 4)  # a = 0.5, b = 0.5
    assert float(value.detach()) == pytest.approx((1 + 3 + 2 + 8) / 4)
    value.backward()
    # d/dc_in at the middle of the cell: ((2 + 8) - (1 + 3)) / 2 / (3 - 1)
    assert float(c_in.grad) == pytest.approx(1.5)


def test_prediction_equals_the_deployed_models_time(tmp_path, fake_clock):
    model = latency_model(tmp_path)
    assert model.budget.full() == pytest.approx(
        NS_PER_MAC * model.macs_full + MODEL_MS)
    for seed in range(3):
        masks = random_masks(model, seed)
        widths = {g: int(m.sum()) for g, m in masks.items()}
        deployed = model._deployed_with(masks)
        measured = NS_PER_MAC * count_macs(deployed, (3, 32, 32)) + MODEL_MS
        assert model.budget.cost_of(widths) == pytest.approx(measured,
                                                             rel=1e-9)
    assert model.budget_target == pytest.approx(0.5 * model.budget.full())


def test_predicted_latency_is_differentiable_in_the_gates(tmp_path,
                                                          fake_clock):
    model = latency_model(tmp_path)
    losses = model.macs_losses()
    assert set(losses) == {'macs_ratio', 'latency_ms', 'loss_latency',
                           'budget_multiplier'}
    losses['loss_latency'].backward()
    grads = [g.weight.grad for g in model.gates().values()]
    # above the target every gate's channels cost time: all pushed down
    assert all(bool((gr > 0).all()) for gr in grads)


def test_tables_are_cached_per_device_and_layer(tmp_path, fake_clock):
    latency_model(tmp_path)
    measured = dict(fake_clock)
    assert measured['layers'] > 0 and measured['models'] == 2  # full, half
    data = json.loads((tmp_path / 'tables.json').read_text())
    (device, tables), = data.items()
    assert device.startswith('cpu: ') and '1 thread' in device
    assert any(k.startswith('Conv2d 3x3 s2 p1 d1 g1, input 1x32x32')
               for k in tables)
    model = latency_model(tmp_path, measure=False)  # read, not measured
    assert fake_clock == measured
    assert model.budget.full() == pytest.approx(
        NS_PER_MAC * model.macs_full + MODEL_MS)


def test_no_table_and_no_permission_to_measure_is_a_clear_error(
        tmp_path, fake_clock):
    with pytest.raises(PaSConfigError) as e:
        latency_model(tmp_path, measure=False)
    assert 'no latency table for' in str(e.value)
    assert '`python tools/latency_table.py CONFIG` on that device' in str(
        e.value)
    assert fake_clock == dict(layers=0, models=0)


def test_a_target_below_the_reachable_latency_is_refused(tmp_path,
                                                         fake_clock):
    with pytest.raises(PaSConfigError) as e:
        latency_model(tmp_path, target='0.2ms')
    assert str(e.value).startswith("latency target '0.2ms' (0.200 ms) is "
                                   'below ')
    assert 'the latency left when every gated layer keeps its minimum' in \
        str(e.value)


def test_search_end_snaps_onto_the_latency_target(tmp_path, fake_clock):
    model = latency_model(tmp_path, target=0.4)
    for gate in model.gates().values():
        gate.weight.data = 0.3 + torch.rand(gate.num_channels)
    model.fix_gates(snap_tol=0.01)
    assert model.searched
    assert abs(model.budget.kept_cost() / model.budget_target - 1) <= 0.01
    (check, ) = model.latency_checks  # the fake clock agrees at once
    assert check['measured_ratio'] == pytest.approx(
        check['predicted_ms'] / model.budget_full)
    subnet = model.subnet()
    assert subnet['macs']['target'] is None
    assert subnet['latency']['target_ms'] == pytest.approx(
        model.budget_target)
    report = latency_report(model)
    assert report['on_target'] and report['batch_size'] == 1
    assert report['measured_ratio'] == pytest.approx(0.4, rel=0.01)


def check_one_layer_table(table: LatencyTable):
    """Time one gated conv of the tiny RepVGG on ``table``'s device: its
    grid starts at one kept input channel, ends at the full output width,
    every time is positive and monotone in both widths. Returns the
    model."""
    model = MODELS.build(dict(
        type='PaSModel', architecture=tiny_repvgg_classifier(),
        input_shape=(3, 32, 32), macs_loss=dict(type='MACsLoss',
                                                target=0.5, floor=0.)))
    entry = next(e for e in model.counter.entries
                 if e.in_gate is not None and e.out_gate is not None)
    (in_pts, out_pts, ms), = table.layer_grids(entry)
    assert in_pts[0] == 1 and out_pts[-1] == entry.out_channels
    t = torch.tensor(ms)
    assert bool((t > 0).all())
    assert bool((t.diff(dim=0) >= 0).all() and (t.diff(dim=1) >= 0).all())
    return model


def test_real_timing_of_a_layer_table_and_models(tmp_path):
    table = LatencyTable(str(tmp_path / 't.json'), 'cpu', grid=2,
                         min_run_time=0.001)
    model = check_one_layer_table(table)
    assert latency_table.low_quantile([5.0, 1.0, 2.0, 9.0, 3.0]) == 1.0
    deployed = model._deployed_with(None)
    times = table.time_modules([deployed, deployed], torch.randn(1, 3, 32, 32),
                               raw_forward, rounds=2, min_run_time=0.001)
    assert len(times) == 2 and min(times) > 0


def test_latency_search_through_the_runner_and_deploy(digits_root, tmp_path,
                                                      fake_clock):
    cfg = digits_cfg(digits_root, tmp_path / 'run', search_epochs=1,
                     max_epochs=2)
    latency = dict(type='LatencyLoss', target=0.6, loss_weight=5.0,
                   device='cpu', grid=3,
                   table_file=str(tmp_path / 'tables.json'))
    cfg.model.macs_loss = latency
    runner = Runner.from_cfg(cfg)
    runner.train()
    model = runner.model
    assert model.searched
    assert abs(model.budget.kept_cost() / model.budget_target - 1) <= 0.01
    logged = runner.message_hub.log_scalars
    assert 'train/latency_ms' in logged and 'train/loss_latency' in logged
    subnet = json.loads((tmp_path / 'run' / 'pas_subnet.json').read_text())
    assert subnet['latency']['target_ms'] == pytest.approx(
        model.budget_target)
    report = deploy(CONFIG, str(tmp_path / 'run' / 'epoch_2.pth'),
                    str(tmp_path / 'deploy'), latency_runs=2, cfg_options={
                        'data_root': digits_root,
                        'model.macs_loss': dict(latency, _delete_=True)})
    assert report['latency']['on_target']
    assert report['latency']['measured_ratio'] == pytest.approx(0.6,
                                                                rel=0.01)
    assert report['macs']['target'] is None


def test_latency_table_tool_on_a_macs_config_is_one_line():
    proc = subprocess.run(
        [sys.executable, 'tools/latency_table.py',
         'configs/pas_repvgg_digits.py'], cwd=ROOT, capture_output=True,
        text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        'latency_table: error: configs/pas_repvgg_digits.py searches with '
        "MACsLoss, not LatencyLoss; set model.macs_loss=dict(type="
        "'LatencyLoss', target=...)")


@pytest.mark.parametrize('method', ['uniform', 'slim'])
def test_baselines_prune_to_the_same_predicted_latency(tmp_path, fake_clock,
                                                       method):
    from pas_mm.benchmark import PruneBaselineHook, make_masks, widths_of
    model = latency_model(tmp_path, target=0.5)
    masks = make_masks(model, method, model.budget_target)
    gates = model.gates()
    cost = model.budget.cost_of({gates[n]: w for n, w in
                                 widths_of(masks).items()})
    assert abs(cost / model.budget_target - 1) <= 0.01
    masks = PruneBaselineHook(method, 0)._snap_to_measured(model, masks)
    (check, ) = model.latency_checks  # the fake clock agrees at once
    assert check['measured_ratio'] == pytest.approx(0.5, rel=0.01)
