"""RepVGG-B1 family: PaS-A/B/C search configs, the released subnets and
the width figure."""
import json
import os.path as osp
import subprocess
import sys

import mmpretrain
import pytest
import torch
import yaml
from conftest import ROOT, randomize
from mmengine.config import Config
from mmengine.registry import MODELS
from mmpretrain.structures import DataSample
from torch.utils.flop_counter import FlopCounterMode

from pas_mm.deploy import export_verified
from pas_mm.errors import PaSConfigError
from pas_mm.models.backbones import PaSRepVGG

B1 = osp.join(ROOT, 'configs', 'pas_repvgg_b1')
RELEASED = osp.join(B1, 'released')
SUBNETS = {'2.1g': (2_104_383_200, 18_661_992),
           '4.0g': (4_037_683_100, 28_356_460)}


def config(path, **options):
    cfg = Config.fromfile(path)
    cfg.merge_from_dict(options)
    return cfg


def torch_macs(model, shape=(3, 224, 224)) -> float:
    """Conv + matmul MACs as torch's own FLOP counter sees them (FLOPs/2)."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.eval()(torch.zeros(1, *shape), mode='tensor')
    return counter.get_total_flops() / 2


def test_search_configs_start_from_mmpretrains_b1_at_three_targets():
    meta = osp.join(osp.dirname(mmpretrain.__file__),
                    '.mim/configs/repvgg/metafile.yml')
    with open(meta) as f:
        zoo = {m['Name']: m for m in yaml.safe_load(f)['Models']}
    for name, target in (('a', 2.10e9), ('b', 3.06e9), ('c', 4.04e9)):
        cfg = config(osp.join(B1, f'pas-{name}_repvgg-b1_8xb32_in1k.py'))
        assert cfg.load_from == zoo['repvgg-B1_8xb32_in1k']['Weights']
        assert cfg.model.architecture.backbone.arch == 'B1'
        model = MODELS.build(cfg.model)
        assert model.macs_target == target
        assert model.macs_full == pytest.approx(11.8155e9, rel=1e-4)
        assert model.architecture.backbone.stage_4[0].gate is None
        assert len(model.gates()) == 27  # stem + 26 blocks, not the last
        assert cfg.train_cfg.max_epochs == 60
        assert cfg.custom_hooks[0].search_epochs == 10


@pytest.mark.parametrize('name', sorted(SUBNETS))
def test_released_subnet_macs_and_params_by_torchs_counter(name):
    macs, params = SUBNETS[name]
    deploy = MODELS.build(config(osp.join(
        RELEASED, f'pas-{name}_repvgg-b1_deploy_8xb32_in1k.py')).model)
    assert torch_macs(deploy) == pytest.approx(macs, abs=100)
    assert sum(p.numel() for p in deploy.parameters()) == params
    # the training form counts the deploy structure: the same MACs
    train = MODELS.build(config(osp.join(
        RELEASED, f'pas-{name}_repvgg-b1_8xb32_in1k.py')).model)
    assert train.macs_full == pytest.approx(macs, abs=100)
    assert train.gates() == {} and train.searched


def test_released_training_form_reparameterizes_into_the_deploy_form():
    cfg = config(osp.join(RELEASED, 'pas-2.1g_repvgg-b1_8xb32_in1k.py'),
                 model=dict(input_shape=(3, 32, 32)))
    model = randomize(MODELS.build(cfg.model))
    loss = model(torch.randn(2, 3, 32, 32), _samples(2), mode='loss')
    assert set(loss) == {'loss', 'macs_ratio'}  # nothing searched
    arch_cfg, state, deployed, diffs = export_verified(model.eval())
    assert diffs['max_abs_diff_float64'] <= 1e-8
    deploy_cfg = config(osp.join(
        RELEASED, 'pas-2.1g_repvgg-b1_deploy_8xb32_in1k.py')).model
    assert arch_cfg['backbone']['widths'] == PaSRepVGG.check_widths(
        deploy_cfg.backbone.widths, [10**4] * 28, [4, 6, 16, 1])
    MODELS.build(deploy_cfg).load_state_dict(state, strict=True)


def _samples(n):
    return [DataSample().set_gt_label(i % 10) for i in range(n)]


def test_b1_search_iteration_then_exact_deploy():
    cfg = config(osp.join(B1, 'pas-b_repvgg-b1_8xb32_in1k.py'),
                 model=dict(input_shape=(3, 32, 32),
                            macs_loss=dict(target=0.26)))
    model = MODELS.build(cfg.model)
    losses = model(torch.randn(2, 3, 32, 32), _samples(2), mode='loss')
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    gates = model.gates()
    assert all(g.weight.grad is not None and g.weight.grad.abs().sum() > 0
               for g in gates.values())
    randomize(model, seed=1)
    for g in gates.values():  # a random third pruned
        g.weight.data = (torch.rand(g.num_channels) > 1 / 3).float()
    model.fix_gates()
    arch_cfg, _, deployed, diffs = export_verified(model.eval())
    assert diffs['max_abs_diff_float64'] <= 1e-8
    assert arch_cfg['backbone']['widths'][-1] == 2048  # never pruned
    assert arch_cfg['head']['in_channels'] == 2048
    assert torch_macs(deployed, (3, 32, 32)) == pytest.approx(
        model.counter.kept_macs(), rel=1e-9)


@pytest.mark.parametrize('widths, message', [
    ([[8], [20, 16, 15], [1] * 6, [1] * 16, [2048]],
     'PaSRepVGG: widths for stage_1 has 3 numbers, the arch has 4 layers '
     'there'),
    ([[8], [20] * 4, [1] * 6, [1] * 16],
     'PaSRepVGG: nested widths need 5 lists (stem + 4 stages), got 4'),
    ([8] * 27, 'PaSRepVGG: widths needs 28 numbers (stem + 27 blocks), '
     'got 27'),
    ([[8], [20] * 4, [300] + [1] * 5, [1] * 16, [2048]],
     'PaSRepVGG: width 300 of stage_2.0 must be an integer from 1 to its '
     'stock width 256'),
    ([[0], [20] * 4, [1] * 6, [1] * 16, [2048]],
     'PaSRepVGG: width 0 of stem must be an integer from 1 to its stock '
     'width 64'),
])
def test_bad_widths_name_the_layer(widths, message):
    with pytest.raises(PaSConfigError) as e:
        PaSRepVGG('B1', widths=widths, deploy=True, gate_cfg=None)
    assert str(e.value) == message


def test_unknown_unpruned_layer_and_gates_without_target_are_refused():
    with pytest.raises(PaSConfigError, match=r"unpruned_layers \['stage_5.0'\]"
                       r" are not layers of this arch"):
        PaSRepVGG('B1', unpruned_layers=['stage_5.0'])
    cfg = config(osp.join(B1, 'pas-b_repvgg-b1_8xb32_in1k.py'),
                 model=dict(input_shape=(3, 32, 32)))
    cfg.model.macs_loss = None
    with pytest.raises(PaSConfigError, match='macs_loss=None leaves the '
                       'gates without a MACs target'):
        MODELS.build(cfg.model)


def test_layer_widths_name_the_gates_in_gated_and_deploy_form():
    for cfg in (dict(type='PaSRepVGG', arch='B0'),
                dict(type='PaSResNet', depth=50)):
        gated = MODELS.build(cfg)
        assert list(gated.layer_widths()) == list(gated.gates())
    deployed = MODELS.build(config(osp.join(
        RELEASED, 'pas-4.0g_repvgg-b1_deploy_8xb32_in1k.py')).model.backbone)
    widths = deployed.layer_widths()
    assert list(widths) == list(MODELS.build(dict(
        type='PaSRepVGG', arch='B1')).gates())
    assert widths['stem.gate'] == 11 and widths['stage_3.15.gate'] == 487


def test_plot_widths_compares_a_subnet_with_stock_networks(tmp_path):
    subnet = tmp_path / 'pas_subnet.json'
    layers = {f'backbone.{k}': dict(width=max(1, w // 3), of=w, keep=[])
              for k, w in PaSRepVGG('B1', base_channels=16).layer_widths(
              ).items()}
    subnet.write_text(json.dumps(dict(layers=layers)))
    out = tmp_path / 'widths.png'
    proc = subprocess.run(
        [sys.executable, 'tools/plot_widths.py', str(subnet), '--compare',
         'mmpretrain::repvgg/repvgg-B0_8xb32_in1k.py', '--compare-options', 'model.backbone.base_channels=16',
         '--out', str(out)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[0]: line.split()[1:]
            for line in proc.stdout.splitlines()}
    # searched (a third of B1 at base 16) beside B0 at base 16
    assert rows['stem'] == ['10', '16']
    assert rows['stage_3.15'] == ['42', '64']
    assert rows['stage_4.0'] == ['170', '320']
    assert out.stat().st_size > 10_000

    other = tmp_path / 'other.json'
    other.write_text(json.dumps(dict(layers={'gates.neck': {}})))
    proc = subprocess.run([sys.executable, 'tools/plot_widths.py',
                           str(other)], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "plot_widths: error: the subnet has no backbone layers (keys "
        "'backbone....'); is it a pas_subnet.json?")


def test_cpu_scale_pas_b_searches_from_its_pretrain_config():
    search = config(osp.join(B1, 'pas-b_repvgg-b1-quarter_animals.py'))
    pretrain = config(osp.join(
        B1, 'pas-b_repvgg-b1-quarter_animals_pretrain.py'))
    assert search.load_from == (
        'work_dirs/pas-b_repvgg-b1-quarter_animals_pretrain/epoch_5.pth')
    assert pretrain.load_from is None and pretrain.custom_hooks == []
    searched, trained = (MODELS.build(c.model) for c in (search, pretrain))
    assert trained.gates() == {} and len(searched.gates()) == 27
    assert searched.macs_full == trained.macs_full == 61_568_000
    assert searched.macs_target == 15.6e6
    # the pretrain checkpoint's keys are the searched model's minus gates
    assert set(trained.state_dict()) == {
        k for k in searched.state_dict() if '.gate' not in k}
