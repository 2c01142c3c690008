"""PaS on mmdet's YOLACT: configs, Runner search/fine-tune, deploy, bad data."""
import ast
import copy
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from conftest import ROOT, independent_macs
from mmengine.config import Config
from mmengine.registry import DATASETS, MODELS, init_default_scope
from mmengine.runner import Runner

from pas_mm.cli import check_data_paths, merge_cfg_options
from pas_mm.deploy import build_deployed, deploy, export_deploy
from pas_mm.deploy.pipeline import load_gated_checkpoint
from pas_mm.hooks import DatasetCheckHook, dataset_check_hook
from pas_mm.models import PaSModel

CONFIGS = ['configs/pas_yolact.py', 'configs/pas_yolact_repvgg.py',
           'configs/pas_yolact_neck_head.py']


def load_cfg(config, data_root=None, **options) -> Config:
    cfg = Config.fromfile(osp.join(ROOT, config))
    merge_cfg_options(cfg, dict(options, **(
        dict(data_root=data_root) if data_root else {})))
    return cfg


@pytest.fixture(scope='session')
def coco_root(tmp_path_factory):
    """8 train / 4 val images of the embedded shapes set."""
    out = str(tmp_path_factory.mktemp('coco_demo'))
    subprocess.run([sys.executable, 'tools/make_coco_demo.py', '--out', out,
                    '--train', '8', '--val', '4'], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    return out + '/'


@pytest.mark.parametrize('config, num_gates, size', [
    (CONFIGS[0], 32, 128), (CONFIGS[1], 22, 128), (CONFIGS[2], 34, 128),
    ('configs/pas_yolact_r50_1xb8-55e_coco.py', 32, 550)])
def test_config_builds_and_counts_the_whole_detector(config, num_gates, size):
    cfg = load_cfg(config)
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    assert isinstance(model, PaSModel)
    assert type(model.architecture).__name__ == 'YOLACT'
    assert len(model.gates()) == num_gates
    # the optimizer key reaches every gate (ResNet's are gate1/gate2)
    key, = [k for k in cfg.optim_wrapper.paramwise_cfg.custom_keys
            if 'gate' in k]
    gate_params = [n for n, _ in model.named_parameters() if 'gate' in n]
    assert len(gate_params) == num_gates
    assert all(key in n for n in gate_params)
    # backbone, FPN, box/coefficient head and protonet, at the input size
    assert model.input_shape == (3, size, size)
    names = [e.name for e in model.counter.entries]
    for part in ('backbone.', 'neck.', 'bbox_head.', 'mask_head.protonet'):
        assert any(n.startswith(part) for n in names), part
    # counted in the deploy structure (RepVGG's 1x1 branches fused away)
    model.fix_gates()  # all channels kept at init
    deployed = build_deployed(*export_deploy(model))
    assert model.macs_full == independent_macs(deployed, model.input_shape)
    hooks = [h['type'] for h in cfg.custom_hooks]
    assert {'DatasetCheckHook', 'PaSSearchHook'} <= set(hooks)


def test_data_root_override_reaches_dataloaders_and_evaluators():
    cfg = load_cfg(CONFIGS[0], data_root='data/coco/')
    for split in ('train', 'val', 'test'):
        assert cfg[f'{split}_dataloader'].dataset.data_root == 'data/coco/'
    for ev in (cfg.val_evaluator, cfg.test_evaluator):
        assert ev.ann_file == 'data/coco/annotations/instances_val2017.json'


def test_unreachable_target_is_rejected_when_the_model_is_built():
    cfg = load_cfg(CONFIGS[0])
    cfg.model.macs_loss.target = 0.5
    init_default_scope('mmdet')
    with pytest.raises(ValueError, match=r'below .* every gated layer keeps'):
        MODELS.build(cfg.model)


def tiny_run_cfg(config, data_root, work_dir) -> Config:
    """One search iteration (epoch 1), one fine-tune iteration (epoch 2)."""
    cfg = load_cfg(config, data_root=data_root)
    cfg.work_dir = work_dir
    cfg.train_dataloader.batch_size = 2
    cfg.train_dataloader.dataset.indices = 2
    cfg.train_cfg.update(max_epochs=2, val_interval=2)
    cfg.param_scheduler[1].update(end=2, milestones=[1])
    for hook in cfg.custom_hooks:
        if hook.type == 'PaSSearchHook':  # masks = gate thresholds (the
            # snap onto the target is tested in test_snap_to_target.py)
            hook.update(search_epochs=1, interval=1, snap_tol=None)
    cfg.default_hooks.logger.interval = 1
    cfg.model.macs_loss.floor = 0.  # masks = thresholds where >= min_keep
    # AdamW's first step moves each gate by lr: prune in one iteration
    cfg.optim_wrapper.paramwise_cfg.custom_keys['.gate'].lr_mult = 1e4
    # two iterations from random init score every class low: keep them all
    cfg.model.architecture.test_cfg.score_thr = 0.0
    return cfg


@pytest.fixture(scope='module', params=CONFIGS)
def trained(request, coco_root, tmp_path_factory):
    work_dir = str(tmp_path_factory.mktemp('yolact_run'))
    cfg = tiny_run_cfg(request.param, coco_root, work_dir)
    runner = Runner.from_cfg(cfg)
    runner.train()
    return SimpleNamespace(config=request.param, cfg=cfg, runner=runner,
                           work_dir=work_dir, data_root=coco_root)


def gate_state(path):
    state = torch.load(path, map_location='cpu')['state_dict']
    return {k: v for k, v in state.items() if '.gate' in k}


def test_search_then_finetune_through_the_runner(trained):
    model = trained.runner.model
    assert model.searched
    hub = trained.runner.message_hub
    assert 0 < hub.get_scalar('train/macs_ratio').current() <= 1
    assert {'val/coco/bbox_mAP', 'val/coco/segm_mAP'} <= set(hub.log_scalars)
    # the search iteration moved the gates off their init (1.0) through
    # the straight-through estimator (epoch_1.pth is saved before the hook
    # fixes the masks); fine-tuning ran with the masks those weights give
    ep1 = gate_state(osp.join(trained.work_dir, 'epoch_1.pth'))
    ep2 = gate_state(osp.join(trained.work_dir, 'epoch_2.pth'))
    weights = {k[:-len('.weight')]: v for k, v in ep1.items()
               if k.endswith('.weight')}
    assert any((w != 1.0).any() for w in weights.values())
    for name, w in weights.items():
        assert bool(ep2[f'{name}.fixed'])
        if (w > 0.5).sum() >= 8:  # min_keep did not intervene
            assert torch.equal(ep2[f'{name}.fixed_mask'], w > 0.5), name
    with open(osp.join(trained.work_dir, 'pas_subnet.json')) as f:
        subnet = json.load(f)
    assert subnet['searched'] and len(subnet['layers']) == len(model.gates())
    assert subnet['macs']['current'] < subnet['macs']['full']
    assert any(layer['width'] < layer['of'] for layer in subnet['layers'].values())


def test_deploy_predictions_match_and_tools_test_evaluates_unchanged(
        trained, tmp_path):
    ckpt = osp.join(trained.work_dir, 'epoch_2.pth')
    out = str(tmp_path / 'deploy')
    report = deploy(osp.join(ROOT, trained.config), ckpt, out,
                    cfg_options=dict(data_root=trained.data_root),
                    latency_runs=1)
    assert report['max_abs_diff_float64'] <= 1e-8
    macs = report['macs']
    assert macs['deployed'] == pytest.approx(macs['searched'], rel=1e-9)

    # gated and deployed detectors predict the same instances
    init_default_scope('mmdet')
    gated = MODELS.build(copy.deepcopy(trained.cfg.model))
    load_gated_checkpoint(gated, ckpt)
    deploy_cfg = Config.fromfile(osp.join(out, 'deploy_config.py'))
    # a gated neck/head deploys as the stock config + per-layer widths
    narrowed = deploy_cfg.model.type == 'PaSNarrowed'
    assert narrowed == trained.cfg.model.get('gate_neck', False)
    arch_cfg = deploy_cfg.model.model if narrowed else deploy_cfg.model
    assert arch_cfg.type == 'YOLACT'
    assert arch_cfg.backbone.gate_cfg is None
    arch_cfg.test_cfg.score_thr = 0.0  # as the tiny run's
    deployed = MODELS.build(deploy_cfg.model)
    state = torch.load(osp.join(out, 'deploy.pth'))['state_dict']
    assert not any('gate' in k for k in state)
    deployed.load_state_dict(state, strict=True)
    assert independent_macs(deployed, gated.input_shape) == \
        pytest.approx(macs['deployed'], rel=1e-9)
    batch = next(iter(trained.runner.val_dataloader))
    gated.eval(), deployed.eval()
    with torch.no_grad():
        data = gated.data_preprocessor(batch, False)
        # predict() writes into the data samples it is given: copy them
        preds_a = gated(**copy.deepcopy(data), mode='predict')
        preds_b = deployed(**copy.deepcopy(data), mode='predict')
    for a, b in zip(preds_a, preds_b):
        a, b = a.pred_instances, b.pred_instances
        assert len(a) == len(b) > 0
        assert torch.equal(a.labels, b.labels)
        torch.testing.assert_close(a.scores, b.scores, atol=1e-4, rtol=0)
        # after two iterations many priors score alike: where scores tie to
        # float32 rounding, NMS may keep a neighbouring prior's box instead
        same = ((a.bboxes - b.bboxes).abs().amax(1) <= 1e-2).float().mean()
        assert same >= 0.95
        agree = (a.masks == b.masks).float().mean()
        assert agree >= 0.99

    # tools/test.py evaluates the deploy config as a plain mmdet config,
    # and its COCO metrics equal the gated checkpoint's
    def run_test(config, checkpoint, test_cfg_key):
        proc = subprocess.run(
            [sys.executable, 'tools/test.py', config, checkpoint,
             '--work-dir', str(tmp_path / 'test'), '--cfg-options',
             f'data_root={trained.data_root}',
             f'{test_cfg_key}.score_thr=0.0'],
            cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return ast.literal_eval(proc.stdout.strip().splitlines()[-1])

    plain = run_test(osp.join(out, 'deploy_config.py'),
                     osp.join(out, 'deploy.pth'),
                     'model.model.test_cfg' if narrowed else 'model.test_cfg')
    searched = run_test(osp.join(ROOT, trained.config), ckpt,
                        'model.architecture.test_cfg')
    assert {'coco/bbox_mAP', 'coco/segm_mAP'} <= set(plain)
    for key, value in searched.items():
        assert plain[key] == pytest.approx(value, abs=1e-3), key


# --- bad data ---------------------------------------------------------------
def copy_dataset(coco_root, dst):
    shutil.copytree(coco_root, dst)
    return str(dst) + '/'


def check(root, monkeypatch):
    """Run DatasetCheckHook on the train split; return the warnings."""
    cfg = load_cfg(CONFIGS[0], data_root=root)
    init_default_scope('mmdet')
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    logged = []
    monkeypatch.setattr(dataset_check_hook, 'print_log',
                        lambda msg, **kw: logged.append(msg))
    runner = SimpleNamespace(train_dataloader=SimpleNamespace(dataset=dataset))
    DatasetCheckHook().before_train(runner)
    return logged


def edit_annotations(root, edit):
    path = osp.join(root, 'annotations', 'instances_train2017.json')
    with open(path) as f:
        data = json.load(f)
    edit(data['annotations'])
    with open(path, 'w') as f:
        json.dump(data, f)


def test_clean_data_passes_the_check(coco_root, monkeypatch):
    assert check(coco_root, monkeypatch) == []


def test_missing_image_fails_before_training(coco_root, tmp_path,
                                             monkeypatch):
    root = copy_dataset(coco_root, tmp_path / 'd')
    os.remove(osp.join(root, 'train2017', '000000000003.jpg'))
    with pytest.raises(FileNotFoundError,
                       match=r'1 of \d+ images are missing .*000000000003'):
        check(root, monkeypatch)


def test_broken_and_empty_masks_are_reported(coco_root, tmp_path,
                                             monkeypatch):
    root = copy_dataset(coco_root, tmp_path / 'd')

    def edit(anns):
        anns[0]['segmentation'] = [[1, 2, 3, 4]]  # two points
        anns[1]['segmentation'] = [[10, 10, 20, 10, 30, 10]]  # a line

    edit_annotations(root, edit)
    logged = check(root, monkeypatch)
    assert len(logged) == 2
    ignored, empty = sorted(logged, key=lambda m: 'ignored' not in m)
    assert '1 of' in ignored and 'no polygon with >= 3 points' in ignored
    assert 'ignored by mmdet' in ignored
    assert 'zero area' in empty and 'all-zero mask' in empty


def test_all_masks_broken_is_an_error(coco_root, tmp_path, monkeypatch):
    root = copy_dataset(coco_root, tmp_path / 'd')

    def edit(anns):
        for ann in anns:
            ann['segmentation'] = [[0, 0, 5, 0, 9, 0]]

    edit_annotations(root, edit)
    with pytest.raises(ValueError, match='all .* instance masks are broken'):
        check(root, monkeypatch)


def test_missing_data_is_named_with_the_command_that_writes_it(tmp_path):
    root = str(tmp_path / 'coco_demo') + '/'
    with pytest.raises(FileNotFoundError,
                       match=r'train data not found: .*coco_demo/annotations/'
                       r'instances_train2017.json does not exist; write it '
                       r'with `python tools/make_coco_demo.py'):
        check_data_paths(load_cfg(CONFIGS[0], data_root=root), ['train'])
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', CONFIGS[0], '--work-dir',
         str(tmp_path / 'w'), '--cfg-options',
         f'data_root={tmp_path}/coco/'],
        cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(
        'train.py: error: train data not found')
    assert 'set data_root' in proc.stderr
