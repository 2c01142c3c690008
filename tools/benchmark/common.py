"""Config building shared by the benchmark scripts.

Every run is the shipped PaS config of its data (configs/pas_repvgg_
{digits,animals,elpv}.py: PaSModel around a gated PaSRepVGG, trained by
mmengine's Runner) with the data root, schedule, seed and hooks changed;
other ImageNet-style folders use the animals config with their own class
count.
"""
import argparse
import copy
import json
import os
import os.path as osp
import sys
from typing import List, Optional

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import pas_mm  # noqa: E402,F401  (compat fixes before mmengine loads)
import pas_mm.benchmark  # noqa: E402,F401  (registers the hooks)
from mmengine.config import Config  # noqa: E402

from pas_mm.datasets import check_image_folder  # noqa: E402
from pas_mm.official_schedule import pas_schedule  # noqa: E402

CONFIGS = osp.join(ROOT, 'configs')
SCHEDULES = ('cosine', 'official', 'fast')
FAST_GATE = dict(lr_mult=10.0, decay_mult=0.0)  # the shipped fast recipe
# the search of the paper and of the first tables: the quadratic MACs loss
# alone (MACsLoss's search options off)
QUADRATIC_SEARCH = dict(multiplier_lr=0.0, gradient='full',
                        value_weighted=False, floor=0.0, tol=0.0)


def script_parser(doc: str) -> argparse.ArgumentParser:
    """Arguments every check script takes: --out, --data-root."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument('--out', default='work_dirs/benchmark')
    p.add_argument('--data-root', default='data/digits')
    return p


def write_result(out: str, name: str, result: dict) -> None:
    """Print ``result`` and write it to ``out/name.json``."""
    print(json.dumps(result, indent=1))
    with open(osp.join(out, f'{name}.json'), 'w') as f:
        json.dump(result, f, indent=1)


def is_digits(data_root: str) -> bool:
    """True for a folder written by tools/make_digits.py."""
    return osp.isdir(data_root) and any(
        f.startswith('.done_') for f in os.listdir(data_root))


def base_config(data_root: str) -> str:
    """The shipped PaS config a data folder trains with.

    ``configs/pas_repvgg_<folder name>.py`` where it exists (digits,
    animals, elpv); other ImageNet-style folders use the animals recipe
    (ImageNet mean/std, 32x32), with their own class count.
    """
    name = osp.basename(osp.normpath(data_root))
    path = osp.join(CONFIGS, f'pas_repvgg_{name}.py')
    if is_digits(data_root):
        return osp.join(CONFIGS, 'pas_repvgg_digits.py')
    return path if osp.exists(path) else osp.join(
        CONFIGS, 'pas_repvgg_animals.py')


def data_splits(data_root: str) -> List[str]:
    """Splits of a data folder: train, val and, where written, test."""
    return ['train', 'val'] + (['test'] if osp.isdir(
        osp.join(data_root, 'test')) else [])


def spread_indices(folder: str, n: int) -> List[int]:
    """``n`` evenly spaced indices into the images of ``folder``.

    CustomDataset lists the images class by class, so evenly spaced
    indices keep every class in proportion (a plain ``indices=n`` would
    take the first classes only).
    """
    total = sum(len(files) for _, _, files in os.walk(folder))
    if n >= total:
        return list(range(total))
    return [int(i) for i in np.linspace(0, total - 1, n).round()]


def build_cfg(data_root: str,
              work_dir: str,
              method: str = 'pas',
              target: float = 0.5,
              seed: int = 0,
              search_epochs: int = 3,
              finetune_epochs: int = 5,
              slim_lambda: float = 0.,
              train_indices: Optional[int] = None,
              val_indices: Optional[int] = None,
              load_from: Optional[str] = None,
              augment: bool = True,
              checkpoint: bool = True,
              extra_hooks: Optional[list] = None,
              schedule: str = 'cosine',
              lr_phases: Optional[tuple] = None,
              config: Optional[str] = None) -> Config:
    """One benchmark run as an mmengine config.

    Args:
        method: 'pas' (gates searched by PaSSearchHook for
            ``search_epochs``) or a baseline of
            :func:`pas_mm.benchmark.make_masks` (gates open and fixed
            until ``search_epochs``, then pruned by the method).
        target: MACs target, ratio of the full model.
        load_from: weights to start from (a pre-trained network; the LR
            schedule starts anew).
        augment: False trains on the test pipeline (bit-exact reruns).
        schedule: 'cosine' (the config's LR, its stock one, annealed over
            the run: pre-training, from scratch), 'official' (the official
            PaS schedule scaled to that stock LR,
            :func:`pas_mm.official_schedule.pas_schedule`, gates at the
            weights' LR and decay) or 'fast' (cosine from the stock LR,
            gates at lr x10 without decay: the shipped CPU demo recipe).
        lr_phases: (search, fine-tune) epochs of the official schedule
            (default: ``search_epochs``, ``finetune_epochs``); every
            method of a table gets the same, whatever its own phases.
        config: the config to start from (default: :func:`base_config`).
    """
    if schedule not in SCHEDULES:
        raise ValueError(f'unknown schedule {schedule!r}, choose from '
                         f'{SCHEDULES}')
    data_root = osp.abspath(data_root)
    cfg = Config.fromfile(config or base_config(data_root))
    total = search_epochs + finetune_epochs
    cfg.custom_imports = dict(imports=['pas_mm', 'pas_mm.benchmark'],
                              allow_failed_imports=False)
    if not is_digits(data_root):
        names = check_image_folder(data_root, data_splits(data_root))
        cfg.data_preprocessor.num_classes = len(names)
        cfg.model.architecture.head.num_classes = len(names)
    cfg.model.macs_loss.target = float(target)
    train_pipeline = cfg.train_pipeline if augment else cfg.test_pipeline
    cfg.test_dataloader = copy.deepcopy(cfg.val_dataloader)
    for key, split, pipeline, n in (
            ('train_dataloader', 'train', train_pipeline, train_indices),
            ('val_dataloader', 'val', cfg.test_pipeline, val_indices),
            ('test_dataloader', data_splits(data_root)[-1],
             cfg.test_pipeline, val_indices)):
        ds = cfg[key].dataset
        ds.data_root = data_root
        ds.data_prefix = split
        ds.pipeline = pipeline
        if n is not None:
            ds.indices = spread_indices(osp.join(data_root, split), n)
    cfg.train_cfg.max_epochs = total
    gate = cfg.optim_wrapper.paramwise_cfg.custom_keys['.gate']
    if schedule == 'official':
        official = pas_schedule(cfg.optim_wrapper.optimizer.lr,
                                *(lr_phases or (search_epochs,
                                                finetune_epochs)))
        if official['train_cfg']['max_epochs'] != total:
            raise ValueError(f'lr_phases {lr_phases} do not add up to the '
                             f'{total} epochs of the run')
        pieces = official['optim_wrapper']
        cfg.optim_wrapper.optimizer.lr = pieces['optimizer']['lr']
        cfg.param_scheduler = official['param_scheduler']
        gate.update(pieces['paramwise_cfg']['custom_keys']['.gate'])
    else:
        cfg.param_scheduler = dict(type='CosineAnnealingLR', by_epoch=True,
                                   begin=0, T_max=total, end=total,
                                   convert_to_iter_based=True)
        if schedule == 'fast':
            gate.update(FAST_GATE)
    cfg.randomness = dict(seed=int(seed), deterministic=False)
    cfg.work_dir = osp.abspath(work_dir)
    cfg.experiment_name = (osp.basename(osp.normpath(work_dir)) + '_' +
                           str(os.getpid()) + '_' + str(id(cfg)))
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=15)
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=1 if checkpoint else -1,
        max_keep_ckpts=1, save_last=checkpoint)
    cfg.custom_hooks = [
        dict(type='PruneBaselineHook', method=method,
             prune_epoch=search_epochs, slim_lambda=slim_lambda),
        dict(type='PaSSearchHook',
             search_epochs=search_epochs if method == 'pas' else 0,
             snap_tol=cfg.custom_hooks[0].get('snap_tol', 0.01)
             if method == 'pas' else None, interval=15),
    ] + list(extra_hooks or [])
    cfg.load_from = load_from and osp.abspath(load_from)
    return cfg
