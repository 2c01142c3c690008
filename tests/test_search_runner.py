"""A tiny search -> fine-tune -> deploy cycle through mmengine's Runner."""
import json
import os
import os.path as osp

import pytest
import torch
from conftest import ROOT
from mmengine.config import Config
from mmengine.registry import MODELS
from mmengine.runner import Runner

from pas_mm.deploy import DeployError, deploy, export_deploy

CONFIG = osp.join(ROOT, 'configs/pas_repvgg_digits.py')


def digits_cfg(digits_root, work_dir, search_epochs=2, max_epochs=3):
    cfg = Config.fromfile(CONFIG)
    for loader, n in (('train_dataloader', 640), ('val_dataloader', 128),
                      ('test_dataloader', 128)):
        cfg[loader].dataset.data_root = digits_root
        cfg[loader].dataset.indices = n
    cfg.work_dir = str(work_dir)
    cfg.train_cfg.max_epochs = max_epochs
    cfg.custom_hooks[0].search_epochs = search_epochs
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.log_level = 'WARNING'
    return cfg


@pytest.fixture(scope='module')
def trained(digits_root, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('search')
    runner = Runner.from_cfg(digits_cfg(digits_root, work_dir))
    runner.train()
    return runner, work_dir


def test_search_moves_macs_to_target_and_fixes_masks(trained):
    runner, work_dir = trained
    model = runner.model
    assert model.searched
    ratio = model.counter.kept_macs() / model.macs_full
    assert abs(ratio - 0.5) < 0.15, ratio  # started at 1.0
    subnet = json.load(open(osp.join(work_dir, 'pas_subnet.json')))
    assert subnet['searched'] is True
    assert subnet['macs']['current'] == model.counter.kept_macs()
    layers = subnet['layers']
    assert list(layers) == list(model.gates())
    for name, gate in model.gates().items():
        assert layers[name]['width'] == gate.num_kept() == len(
            layers[name]['keep'])


def test_macs_ratio_is_logged(trained):
    runner, _ = trained
    hist = runner.message_hub.get_scalar('train/macs_ratio')
    values = hist.data[0]
    assert values[0] > 0.5 and abs(values[-1] - 0.5) < 0.15


def test_deploy_tool_writes_verified_plain_model(trained, tmp_path):
    runner, work_dir = trained
    ckpt = osp.join(work_dir, 'epoch_3.pth')
    out = tmp_path / 'deploy'
    report = deploy(CONFIG, ckpt, str(out), latency_runs=2)
    assert report['max_abs_diff'] <= 1e-4
    assert report['macs']['deployed'] == report['macs']['searched']
    assert sorted(os.listdir(out)) == [
        'deploy.pth', 'deploy_config.py', 'pas_subnet.json', 'report.json']
    cfg = Config.fromfile(str(out / 'deploy_config.py'))
    assert cfg.model.type == 'ImageClassifier'
    assert cfg.model.backbone.gate_cfg is None and cfg.model.backbone.deploy
    assert all(h.type != 'PaSSearchHook' for h in cfg.custom_hooks)
    state = torch.load(out / 'deploy.pth')['state_dict']
    assert not any('gate' in k for k in state)


def test_deploy_that_changes_outputs_fails_and_writes_nothing(
        trained, tmp_path, monkeypatch):
    from pas_mm.deploy import pipeline

    def broken_export(model):
        cfg, state = export_deploy(model)
        key = next(k for k in state if k.endswith('branch_reparam.weight'))
        state[key] = state[key] * 1.01  # a 1% wrong kernel in one layer
        return cfg, state

    monkeypatch.setattr(pipeline, 'export_deploy', broken_export)
    out = tmp_path / 'deploy'
    with pytest.raises(DeployError,
                       match=r'differs from the gated model: max abs diff '
                       r'.* \(float64\); nothing written'):
        deploy(CONFIG, osp.join(trained[1], 'epoch_3.pth'), str(out))
    assert not out.exists() and os.listdir(tmp_path) == []


def test_deploy_rejects_unsearched_checkpoint(trained, tmp_path):
    _, work_dir = trained
    out = tmp_path / 'deploy'
    # epoch 1 ended inside the search: its gates are not fixed yet
    with pytest.raises(DeployError, match='has not been searched'):
        deploy(CONFIG, osp.join(work_dir, 'epoch_1.pth'), str(out))
    assert not out.exists() and not [
        p for p in os.listdir(tmp_path) if p.startswith('.deploy')]


def test_deploy_rejects_checkpoint_without_gates(trained, tmp_path):
    runner, work_dir = trained
    state = torch.load(osp.join(work_dir, 'epoch_3.pth'))['state_dict']
    plain = {k: v for k, v in state.items() if '.gate.' not in k}
    torch.save(dict(state_dict=plain), tmp_path / 'plain.pth')
    with pytest.raises(DeployError, match='has no DBC gate weights'):
        deploy(CONFIG, str(tmp_path / 'plain.pth'), str(tmp_path / 'out'))
    assert not (tmp_path / 'out').exists()


def test_deploy_rejects_config_without_pas_model(tmp_path):
    cfg = Config.fromfile(CONFIG)
    cfg.model = cfg.model.architecture
    cfg.dump(str(tmp_path / 'plain.py'))
    with pytest.raises(DeployError, match='has no PaS model'):
        deploy(str(tmp_path / 'plain.py'), 'x.pth', str(tmp_path / 'out'))


def test_subnet_json_reapplies_the_searched_masks(trained):
    runner, work_dir = trained
    cfg = Config.fromfile(CONFIG)
    fresh = MODELS.build(
        dict(cfg.model, subnet=osp.join(work_dir, 'pas_subnet.json'),
             data_preprocessor=cfg.data_preprocessor))
    assert fresh.searched
    for (name, a), b in zip(runner.model.gates().items(),
                            fresh.gates().values()):
        assert torch.equal(a.hard_mask(), b.hard_mask()), name
    assert fresh.counter.kept_macs() == runner.model.counter.kept_macs()


def test_subnet_json_of_another_model_is_rejected(trained, tmp_path):
    _, work_dir = trained
    subnet = json.load(open(osp.join(work_dir, 'pas_subnet.json')))
    subnet['layers']['backbone.extra.gate'] = subnet['layers'].pop(
        'backbone.stem.gate')
    path = tmp_path / 'other.json'
    path.write_text(json.dumps(subnet))
    cfg = Config.fromfile(CONFIG)
    with pytest.raises(ValueError, match="missing \\['backbone.stem.gate'\\]"):
        MODELS.build(dict(cfg.model, subnet=str(path)))


def test_search_record_is_written_and_kept_in_checkpoints(trained):
    runner, work_dir = trained
    model = runner.model
    record = json.load(open(osp.join(work_dir, 'pas_search.json')))
    iters = 2 * len(runner.train_dataloader)  # search_epochs=2
    assert record['search_iters'] == iters
    assert record['layers'] == list(model.gates())
    assert record['trace'][0] == [0, 1.0] + record['full']
    fixed = model.counter.kept_macs() / model.macs_full
    assert record['trace'][-1][1:] == pytest.approx(
        [fixed] + [g.num_kept() for g in model.gates().values()])
    snap = record['snap']
    assert snap['fixed_ratio'] == pytest.approx(fixed)
    assert snap['searched_ratio'] == pytest.approx(record['trace'][-2][1])
    assert snap['moved'] == pytest.approx(abs(fixed - snap['searched_ratio']))
    assert record['flips'] >= sum(record['full']) - sum(record['trace'][-2][2:])
    ckpt = torch.load(osp.join(work_dir, 'epoch_3.pth'), weights_only=False)
    assert ckpt['pas_search_record']['search_iters'] == iters
    assert osp.getsize(osp.join(work_dir, 'pas_search.png')) > 1000
