"""Generate a tiny, deterministic COCO-format instance segmentation dataset.

The images show 1-4 filled shapes (circle, square, triangle, ellipse) with
random colours, positions and sizes on a noisy, textured background. Later
shapes may partly occlude earlier ones; every annotation describes the
*visible* part of its instance (polygon segmentation, bbox, area).

The shapes are labelled with four of COCO's 80 categories ('sports ball',
'tv', 'kite', 'frisbee') and the annotation files list all 80, so a COCO
config (80-class head, mmdet's CocoDataset/CocoMetric metainfo) trains and
evaluates on this data unchanged, and the same config runs on real COCO by
changing only ``data_root``.

Layout (loadable by mmdet's ``CocoDataset`` with ``data_root=<out>/``)::

    <out>/annotations/instances_{train,val}2017.json
    <out>/{train,val}2017/000000000001.jpg ...

Usage::

    python tools/make_coco_demo.py --out data/coco_demo \
        [--train 200 --val 32 --size 128 --seed 0] [--force]

The run is skipped when both annotation files already exist with the same
settings and all their images are present; ``--force`` regenerates.
Only numpy, OpenCV, pycocotools and mmdet's COCO class list are used;
nothing is downloaded.
"""
import argparse
import contextlib
import io
import json
import os
import os.path as osp
import re

import cv2
import numpy as np
from pycocotools import mask as mask_utils
from mmdet.datasets import CocoDataset
from pycocotools.coco import COCO

CLASSES = ('circle', 'square', 'triangle', 'ellipse')  # what is drawn
COCO_NAMES = dict(circle='sports ball', square='tv', triangle='kite',
                  ellipse='frisbee')  # the COCO category each is labelled
SPLITS = ('train2017', 'val2017')
COCO_CLASSES = CocoDataset.METAINFO['classes']  # category id = index + 1
MIN_VISIBLE = 0.6  # an occluded instance keeps at least this share of pixels


def make_background(rng, size):
    """Return a ``size x size`` BGR uint8 image: gradient + blobs + noise."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = rng.uniform(40, 200, 3)
    slope = rng.uniform(-60, 60, (2, 3))
    img = base + xx[..., None] * slope[0] + yy[..., None] * slope[1]
    blobs = rng.normal(0, 25, (6, 6, 3)).astype(np.float32)
    img += cv2.resize(blobs, (size, size), interpolation=cv2.INTER_CUBIC)
    img += rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def shape_polygon(rng, label, size):
    """Return an ``(N, 2)`` int32 polygon for a random shape of ``label``."""
    r = rng.uniform(0.08, 0.22) * size  # rough "radius" of the shape
    cx, cy = rng.uniform(r, size - r, 2)
    angle = rng.uniform(0, 360)
    if label == 'circle':
        axes, angle = (r, r), 0
    elif label == 'ellipse':
        axes = (r, r / rng.uniform(1.8, 2.8))
    elif label == 'square':
        rot = np.deg2rad(angle)
        corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * r * 0.8
        c, s = np.cos(rot), np.sin(rot)
        pts = corners @ np.array([[c, s], [-s, c]]) + (cx, cy)
        return np.round(pts).astype(np.int32)
    else:  # triangle: three vertices on a circle, >= 60 deg apart
        gaps = rng.dirichlet([4, 4, 4]) * 0.5 + 1 / 6  # sums to 1
        thetas = np.deg2rad(angle) + np.cumsum(gaps) * 2 * np.pi
        pts = np.stack([cx + r * np.cos(thetas), cy + r * np.sin(thetas)], 1)
        return np.round(pts).astype(np.int32)
    return cv2.ellipse2Poly((round(cx), round(cy)),
                            (round(axes[0]), round(axes[1])), round(angle),
                            0, 360, 10)


def mask_to_ann(mask, size):
    """Convert a binary mask to COCO polygons, bbox and area (or None).

    bbox and area are computed from the polygons as pycocotools rasterises
    them, so they are consistent with the mask a COCO loader will see.
    """
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    polys = [c.reshape(-1).astype(float).tolist()
             for c in contours if len(c) >= 3 and cv2.contourArea(c) >= 4]
    if not polys:
        return None
    rle = mask_utils.merge(mask_utils.frPyObjects(polys, size, size))
    bbox = [float(v) for v in mask_utils.toBbox(rle)]
    return dict(segmentation=polys, bbox=bbox,
                area=float(mask_utils.area(rle)), iscrowd=0)


def make_image(rng, size):
    """Draw one image; return it and a list of ``(category_id, mask)``."""
    img = make_background(rng, size)
    masks, labels = [], []
    for _ in range(rng.integers(1, 5)):
        for _attempt in range(20):
            label = int(rng.integers(len(CLASSES)))
            new = np.zeros((size, size), np.uint8)
            cv2.fillPoly(new, [shape_polygon(rng, CLASSES[label], size)], 1)
            visible = [m & (1 - new) for m in masks]
            if all(v.sum() >= MIN_VISIBLE * m.sum()
                   for v, m in zip(visible, masks)):
                break
        else:
            continue  # no acceptable placement; fewer objects this image
        masks = visible + [new]
        labels.append(COCO_CLASSES.index(COCO_NAMES[CLASSES[label]]) + 1)
        colour = rng.integers(0, 256, 3)
        shaded = colour + rng.normal(0, 8, img.shape)
        img[new > 0] = np.clip(shaded, 0, 255).astype(np.uint8)[new > 0]
    return img, list(zip(labels, masks))


def make_split(out, split, num, size, rng):
    """Write ``num`` images of one split and return the COCO dict."""
    img_dir = osp.join(out, split)
    os.makedirs(img_dir, exist_ok=True)
    for old in os.listdir(img_dir):  # drop images of an earlier, larger run
        if re.fullmatch(r'\d{12}\.jpg', old) and int(old[:12]) > num:
            os.remove(osp.join(img_dir, old))
    images, anns = [], []
    for img_id in range(1, num + 1):
        img, objects = make_image(rng, size)
        name = f'{img_id:012d}.jpg'
        cv2.imwrite(osp.join(img_dir, name), img,
                    [cv2.IMWRITE_JPEG_QUALITY, 95])
        images.append(dict(id=img_id, file_name=name, width=size,
                           height=size))
        for cat_id, mask in objects:
            ann = mask_to_ann(mask, size)
            if ann is not None:
                anns.append(dict(id=len(anns) + 1, image_id=img_id,
                                 category_id=cat_id, **ann))
    return dict(images=images, annotations=anns, categories=[
        dict(id=i + 1, name=n) for i, n in enumerate(COCO_CLASSES)])


def validate(ann_file, img_dir, size):
    """Load ``ann_file`` with pycocotools and check images, masks, bboxes."""
    with contextlib.redirect_stdout(io.StringIO()):  # silence pycocotools
        coco = COCO(ann_file)
    for img_id in coco.getImgIds():
        info = coco.imgs[img_id]
        img = cv2.imread(osp.join(img_dir, info['file_name']))
        assert img is not None and img.shape[:2] == (size, size), info
    for ann in coco.anns.values():
        mask = coco.annToMask(ann)
        assert mask.sum() > 0, f'empty mask: {ann["id"]}'
        ys, xs = np.nonzero(mask)
        extent = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        x, y, w, h = ann['bbox']
        assert np.abs(extent - [x, y, x + w, y + h]).max() <= 1, ann['id']
        assert abs(mask.sum() - ann['area']) <= 0.02 * ann['area'] + 1
    return len(coco.imgs), len(coco.anns)


def is_up_to_date(out, settings):
    """True if every split's json has ``settings`` and all its images exist."""
    for split in SPLITS:
        path = osp.join(out, 'annotations', f'instances_{split}.json')
        if not osp.isfile(path):
            return False
        with open(path) as f:
            data = json.load(f)
        if data.get('info', {}).get('settings') != settings:
            return False
        if not all(osp.isfile(osp.join(out, split, im['file_name']))
                   for im in data['images']):
            return False
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default='data/coco_demo')
    parser.add_argument('--train', type=int, default=200)
    parser.add_argument('--val', type=int, default=32)
    parser.add_argument('--size', type=int, default=128)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--force', action='store_true')
    args = parser.parse_args()

    settings = dict(train=args.train, val=args.val, size=args.size,
                    seed=args.seed, version=2)
    if not args.force and is_up_to_date(args.out, settings):
        print(f'{args.out}: up to date ({settings}), skipping')
        return
    os.makedirs(osp.join(args.out, 'annotations'), exist_ok=True)
    for idx, (split, num) in enumerate(zip(SPLITS, (args.train, args.val))):
        rng = np.random.default_rng([args.seed, idx])
        data = make_split(args.out, split, num, args.size, rng)
        data['info'] = dict(description='pas-mm synthetic shapes demo',
                            settings=settings)
        ann_file = osp.join(args.out, 'annotations',
                            f'instances_{split}.json')
        with open(ann_file, 'w') as f:
            json.dump(data, f)
        n_img, n_ann = validate(ann_file, osp.join(args.out, split),
                                args.size)
        print(f'{split}: {n_img} images, {n_ann} instances -> {ann_file}')


if __name__ == '__main__':
    main()
