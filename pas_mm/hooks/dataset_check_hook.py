"""DatasetCheckHook: missing images and broken masks, reported up front."""
import os.path as osp
from typing import Dict, Iterable, Tuple

import numpy as np
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS


def _leaf_datasets(dataset) -> list:
    """The datasets inside mmengine's Concat/Repeat/ClassBalanced wrappers."""
    if hasattr(dataset, 'datasets'):
        return [d for sub in dataset.datasets for d in _leaf_datasets(sub)]
    if hasattr(dataset, 'dataset'):
        return _leaf_datasets(dataset.dataset)
    return [dataset]


def polygon_area(flat: list) -> float:
    """Shoelace area of a COCO polygon ``[x1, y1, x2, y2, ...]`` (pixels)."""
    xy = np.asarray(flat, dtype=np.float64).reshape(-1, 2)
    x, y = xy[:, 0], xy[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


# what mmdet's LoadAnnotations does with each problem
IGNORED = 'ignored by mmdet (moved to ignored_instances)'
EMPTY = 'kept by mmdet as an all-zero mask target'


def mask_problem(mask) -> Tuple[str, str]:
    """(problem, what mmdet does) for a COCO segmentation; ('', '') if fine."""
    if isinstance(mask, list):
        polys = [p for p in mask if len(p) % 2 == 0 and len(p) >= 6]
        if not polys:
            return 'no polygon with >= 3 points', IGNORED
        if sum(polygon_area(p) for p in polys) <= 0:
            return 'polygons of zero area', EMPTY
        return '', ''
    if isinstance(mask, dict) and (mask.get('size') is None or not isinstance(
            mask.get('counts'), (list, str))):
        return 'RLE without size/counts', IGNORED
    return '', ''


def check_data_infos(infos: Iterable[dict]) -> Tuple[list, Dict[str, list]]:
    """Missing image files and broken instance masks of a parsed dataset.

    Returns:
        (missing image paths, {what mmdet does: [problem descriptions]})
    """
    missing, broken = [], {IGNORED: [], EMPTY: []}
    for info in infos:
        path = info.get('img_path')
        if path is not None and not osp.isfile(path):
            missing.append(path)
        for k, inst in enumerate(info.get('instances', [])):
            if 'mask' not in inst or inst.get('ignore_flag', 0):
                continue
            why, effect = mask_problem(inst['mask'])
            if why:
                broken[effect].append(
                    f"{osp.basename(path or '?')} instance {k}: {why}")
    return missing, broken


@HOOKS.register_module()
class DatasetCheckHook(Hook):
    """Checks the train/val/test datasets before they are used.

    mmdet drops instances with invalid masks silently (they become
    ``ignored_instances``) and fails on a missing image only when a worker
    reaches it. This hook reads each dataset's parsed annotations once:
    missing image files raise ``FileNotFoundError`` (before the first
    iteration); broken masks (ignored by mmdet) and zero-area masks (kept
    by mmdet as empty targets) are logged as warnings with their count and
    first examples; a dataset whose masks are all broken raises
    ``ValueError``.

    Args:
        check_masks (bool): also check instance masks.
        max_examples (int): examples listed in messages.
    """

    priority = 'VERY_HIGH'

    def __init__(self, check_masks: bool = True, max_examples: int = 5):
        self.check_masks = check_masks
        self.max_examples = max_examples
        self._checked = set()

    def before_train(self, runner) -> None:
        self._check(runner.train_dataloader.dataset, 'train')

    def before_val(self, runner) -> None:
        self._check(runner.val_dataloader.dataset, 'val')

    def before_test(self, runner) -> None:
        self._check(runner.test_dataloader.dataset, 'test')

    def _check(self, dataset, split: str) -> None:
        for ds in _leaf_datasets(dataset):
            if id(ds) in self._checked or not hasattr(ds, 'get_data_info'):
                continue
            self._checked.add(id(ds))
            ds.full_init()
            infos = [ds.get_data_info(i) for i in range(len(ds))]
            name = f"{split} dataset {getattr(ds, 'ann_file', '') or ''}"
            missing, broken = check_data_infos(infos)
            n = self.max_examples
            if missing:
                raise FileNotFoundError(
                    f'{name}: {len(missing)} of {len(infos)} images are '
                    f'missing on disk, e.g. {missing[:n]}. Check data_root '
                    '/ data_prefix, or regenerate the data.')
            if not self.check_masks:
                continue
            with_masks = sum('mask' in inst and not inst.get('ignore_flag', 0)
                             for info in infos
                             for inst in info.get('instances', []))
            n_broken = sum(len(v) for v in broken.values())
            if with_masks and n_broken == with_masks:
                raise ValueError(
                    f'{name}: all {with_masks} instance masks are broken or '
                    f'empty, e.g. {(broken[IGNORED] + broken[EMPTY])[:n]}')
            for effect, problems in broken.items():
                if problems:
                    print_log(
                        f'{name}: {len(problems)} of {with_masks} instance '
                        f'masks are broken or empty, {effect}; e.g. '
                        f'{problems[:n]}', logger='current', level='WARNING')
