"""Config building shared by the benchmark scripts.

Every run is configs/pas_repvgg_digits.py (PaSModel around a gated
PaSRepVGG, trained by mmengine's Runner) with the data, schedule, seed and
hooks changed; ImageNet-style folders other than the digits get a resize
pipeline, ImageNet mean/std and their own class count.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import List, Optional

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import pas_mm  # noqa: E402,F401  (compat fixes before mmengine loads)
import pas_mm.benchmark  # noqa: E402,F401  (registers the hooks)
from mmengine.config import Config  # noqa: E402

BASE_CONFIG = osp.join(ROOT, 'configs', 'pas_repvgg_digits.py')
IMG_EXT = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff',
           '.webp')


def script_parser(doc: str) -> argparse.ArgumentParser:
    """Arguments every check script takes: --out, --data-root, --img-size."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument('--out', default='work_dirs/benchmark')
    p.add_argument('--data-root', default='data/digits')
    p.add_argument('--img-size', type=int, default=32)
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


def class_names(data_root: str) -> List[str]:
    train = osp.join(data_root, 'train')
    if not osp.isdir(train):
        raise FileNotFoundError(
            f'{data_root} is not an ImageNet-style folder: expected '
            f'{train}/<class>/<image> (and val/<class>/<image>)')
    names = sorted(d for d in os.listdir(train)
                   if osp.isdir(osp.join(train, d)))
    if len(names) < 2:
        raise ValueError(f'{train} needs at least 2 class folders')
    return names


def build_cfg(data_root: str,
              work_dir: str,
              method: str = 'pas',
              target: float = 0.5,
              seed: int = 0,
              search_epochs: int = 3,
              finetune_epochs: int = 5,
              stop_epoch: Optional[int] = None,
              slim_lambda: float = 0.,
              img_size: int = 32,
              train_indices: Optional[int] = None,
              val_indices: Optional[int] = None,
              resume_from: Optional[str] = None,
              augment: bool = True,
              checkpoint: bool = True,
              extra_hooks: Optional[list] = None) -> Config:
    """One benchmark run as an mmengine config.

    Args:
        method: 'pas' (gates searched by PaSSearchHook for
            ``search_epochs``) or a baseline of
            :func:`pas_mm.benchmark.make_masks` (gates open and fixed for
            ``search_epochs``, then pruned by the method).
        target: MACs target, ratio of the full model.
        stop_epoch: end after this many epochs (shared phase-1 run).
        resume_from: checkpoint to resume (epoch, optimizer, LR schedule).
        augment: False trains on the test pipeline (bit-exact reruns).
    """
    cfg = Config.fromfile(BASE_CONFIG)
    total = search_epochs + finetune_epochs
    cfg.custom_imports = dict(imports=['pas_mm', 'pas_mm.benchmark'],
                              allow_failed_imports=False)
    data_root = osp.abspath(data_root)
    if not is_digits(data_root):
        names = class_names(data_root)
        norm = dict(mean=[123.675, 116.28, 103.53],
                    std=[58.395, 57.12, 57.375])
        cfg.data_preprocessor = dict(num_classes=len(names), to_rgb=True,
                                     **norm)
        cfg.model.architecture.head.num_classes = len(names)
        cfg.train_pipeline = [
            dict(type='LoadImageFromFile'),
            dict(type='RandomResizedCrop', scale=img_size),
            dict(type='RandomFlip', prob=0.5, direction='horizontal'),
            dict(type='PackInputs')]
        cfg.test_pipeline = [
            dict(type='LoadImageFromFile'),
            dict(type='ResizeEdge', scale=img_size, edge='short'),
            dict(type='CenterCrop', crop_size=img_size),
            dict(type='PackInputs')]
    cfg.model.input_shape = (3, img_size, img_size)
    cfg.model.macs_loss.target = float(target)
    train_pipeline = cfg.train_pipeline if augment else cfg.test_pipeline
    for key, pipeline, n in (
            ('train_dataloader', train_pipeline, train_indices),
            ('val_dataloader', cfg.test_pipeline, val_indices),
            ('test_dataloader', cfg.test_pipeline, val_indices)):
        ds = cfg[key].dataset
        ds.data_root = data_root
        ds.pipeline = pipeline
        if n is not None:
            ds.indices = int(n)
    cfg.train_cfg.max_epochs = total
    cfg.param_scheduler.T_max = total
    cfg.param_scheduler.end = total
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
             prune_epoch=search_epochs, stop_epoch=stop_epoch,
             slim_lambda=slim_lambda),
        dict(type='PaSSearchHook',
             search_epochs=search_epochs if method == 'pas' else 0,
             interval=15),
    ] + list(extra_hooks or [])
    if resume_from:
        cfg.resume, cfg.load_from = True, osp.abspath(resume_from)
    return cfg
