"""The data of a config checked before training: image folders (same
classes in every split, no empty class, readable images) and COCO
annotation files (valid, consistent, images on disk, the config's classes
among the categories)."""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

from .image_folder import IMG_EXT, check_class_folders

# mmpretrain's datasets that read class folders when ann_file is empty
FOLDER_DATASETS = ('CustomDataset', 'ImageNet', 'ImageNet21k')


def leaf_dataset(ds: dict) -> dict:
    """The dataset config inside Repeat/ClassBalanced wrappers."""
    while isinstance(ds.get('dataset'), dict):
        ds = ds['dataset']
    return ds


def _prefix(ds: dict, key: str) -> str:
    prefix = ds.get('data_prefix') or ''
    if isinstance(prefix, dict):
        prefix = prefix.get(key, '')
    return osp.join(ds.get('data_root') or '', prefix)


def image_folder_of(ds: dict) -> Optional[str]:
    """The class-folder root an mmpretrain dataset config reads, or None."""
    if ds.get('type') not in FOLDER_DATASETS or ds.get('ann_file'):
        return None
    return _prefix(ds, 'img_path')


def check_image_folders(folders: Dict[str, str],
                        extensions: Sequence[str] = IMG_EXT) -> None:
    """Every split's class folders checked; all splits the same classes.

    Args:
        folders: split -> folder of class folders (missing ones skipped).

    Raises:
        ValueError: naming the split, folder and problem.
    """
    first = None
    for split, folder in folders.items():
        if not osp.isdir(folder):
            continue
        try:
            classes = check_class_folders(folder, extensions)
        except ValueError as e:
            raise ValueError(f'{split} data: {e}') from None
        if first is None:
            first = (split, folder, classes)
        elif classes != first[2]:
            extra = sorted(set(classes) - set(first[2]))
            lacks = sorted(set(first[2]) - set(classes))
            raise ValueError(
                f'{split} data {folder} has other classes than {first[0]} '
                f'({first[1]}): missing {lacks}, extra {extra}; class '
                'indices follow the sorted folder names, so every split '
                'needs the same class folders')


def check_coco(ann_file: str, img_dir: str,
               classes: Optional[Sequence[str]] = None,
               examples: int = 3) -> None:
    """A COCO annotation file: valid JSON with ``images`` and
    ``categories``; annotations pointing at listed images and categories;
    every image on disk under ``img_dir``; ``classes`` (the config's)
    among the category names.

    Raises:
        ValueError: naming the file and the first problems.
    """
    try:
        with open(ann_file) as f:
            coco = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ValueError(f'{ann_file} is not a valid COCO JSON file '
                         f'({e})') from None
    if not isinstance(coco, dict) or not all(
            isinstance(coco.get(k), list) for k in ('images', 'categories')):
        raise ValueError(f'{ann_file} is not a COCO annotation file: it '
                         'needs "images" and "categories" lists')
    try:
        images = {im['id']: im['file_name'] for im in coco['images']}
        categories = {c['id']: c['name'] for c in coco['categories']}
        refs = [(a.get('id'), a['image_id'], a['category_id'])
                for a in coco.get('annotations') or []]
    except (KeyError, TypeError) as e:
        raise ValueError(f'{ann_file}: an image, category or annotation '
                         f'lacks {e}') from None
    bad = [f'annotation {i}: image_id {im}' for i, im, _ in refs
           if im not in images]
    bad += [f'annotation {i}: category_id {c}' for i, _, c in refs
            if c not in categories]
    if bad:
        raise ValueError(f'{ann_file}: {len(bad)} references to no listed '
                         f'image or category, e.g. {bad[:examples]}')
    missing = [name for name in images.values()
               if not osp.isfile(osp.join(img_dir, name))]
    if missing:
        raise ValueError(
            f'{ann_file}: {len(missing)} of {len(images)} images are not '
            f'in {img_dir}, e.g. {missing[:examples]}')
    unknown = sorted(set(classes or ()) - set(categories.values()))
    if unknown:
        raise ValueError(
            f'{ann_file}: the config\'s classes {unknown[:examples]} are '
            f'not among its categories {sorted(categories.values())[:5]}'
            '...; mmdet would drop them without a word (set '
            'metainfo=dict(classes=...) to the category names)')


def _coco_classes(ds: dict) -> Optional[List[str]]:
    """The classes mmdet keeps of a COCO-style dataset config (its
    metainfo's, else the class's own), or None if it is not one."""
    if not str(ds.get('ann_file', '')).endswith('.json'):
        return None
    try:
        from mmdet.datasets import CocoDataset
        from mmdet.registry import DATASETS
    except ImportError:
        return None
    cls = DATASETS.get(ds.get('type', ''))
    if cls is None or not issubclass(cls, CocoDataset) or \
            'Panoptic' in cls.__name__:
        return None
    metainfo = ds.get('metainfo') or {}
    return list(metainfo.get('classes') or cls.METAINFO['classes'])


def check_config_data(cfg, splits: Sequence[str]) -> None:
    """The data of ``{split}_dataloader`` for ``splits``: class folders
    (compared with every split of the config whose folder exists) and
    COCO annotation files.

    Raises:
        ValueError: one line naming the split, the file and the problem.
    """
    folders, coco = {}, {}
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader') or {}
        ds = leaf_dataset(loader.get('dataset') or {})
        folder = image_folder_of(ds)
        if folder is not None and '://' not in folder:
            folders[split] = folder
        elif split in splits:
            coco[split] = ds
    if any(s in folders for s in splits):
        check_image_folders(folders)
    for split, ds in coco.items():
        classes = _coco_classes(ds)
        ann_file = osp.join(ds.get('data_root') or '', ds['ann_file']) \
            if classes is not None else ''
        if classes is not None and '://' not in ann_file:
            try:
                check_coco(ann_file, _prefix(ds, 'img'), classes)
            except ValueError as e:
                raise ValueError(f'{split} data: {e}') from None
