"""Draw a detector's predicted masks on the first val images, as a PNG grid.

    python tools/show_masks.py CONFIG CHECKPOINT --out masks.png \
        [--num 8] [--score-thr 0.3] [--cols 4] [--scale 2] [--cfg-options k=v]

Runs the model of CONFIG (gated train form or a deploy config) on the first
``--num`` images of the test dataloader's dataset and writes one tile per
image: the predictions with ``score >= --score-thr`` (at most 8, best first)
as coloured masks with box and "class score" label, the ground-truth
outlines in white. The grid is saved as a 256-colour PNG (small files).
"""
import argparse
import os.path as osp
import sys

import cv2
import numpy as np
import torch
from PIL import Image

import pas_mm  # noqa: F401  (compat fixes before mmengine loads anything)
from mmengine.config import DictAction
from mmengine.dataset import pseudo_collate
from mmengine.registry import DATASETS, MODELS, init_default_scope
from mmengine.runner import load_checkpoint

from pas_mm.cli import check_data_paths, load_config

COLOURS = np.array([(230, 25, 75), (60, 180, 75), (255, 225, 25),
                    (0, 130, 200), (245, 130, 48), (145, 30, 180),
                    (70, 240, 240), (240, 50, 230)], np.uint8)  # RGB


def draw(img, pred, gt_masks, classes, score_thr, scale):
    """One tile: ``img`` (RGB) with predicted and ground-truth masks."""
    h, w = img.shape[:2]
    out = cv2.resize(img, (w * scale, h * scale),
                     interpolation=cv2.INTER_NEAREST)
    keep = (pred.scores >= score_thr).nonzero().flatten()[:8].tolist()
    for k, i in enumerate(keep):
        colour = COLOURS[k % len(COLOURS)]
        mask = cv2.resize(pred.masks[i].numpy().astype(np.uint8),
                          (w * scale, h * scale),
                          interpolation=cv2.INTER_NEAREST) > 0
        out[mask] = (0.45 * out[mask] + 0.55 * colour).astype(np.uint8)
        x1, y1, x2, y2 = (pred.bboxes[i].numpy() * scale).round().astype(int)
        c = tuple(int(v) for v in colour)
        cv2.rectangle(out, (x1, y1), (x2, y2), c, 1)
        label = f'{classes[pred.labels[i]]} {pred.scores[i]:.2f}'
        cv2.putText(out, label, (x1 + 2, max(y1 - 3, 9)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.35, c, 1, cv2.LINE_AA)
    for m in gt_masks:
        m = cv2.resize(m.astype(np.uint8), (w * scale, h * scale),
                       interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, (255, 255, 255), 1)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', required=True, help='PNG file to write')
    parser.add_argument('--num', type=int, default=8)
    parser.add_argument('--score-thr', type=float, default=0.3)
    parser.add_argument('--cols', type=int, default=4)
    parser.add_argument('--scale', type=int, default=2,
                        help='upscale each image by this factor')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    if not osp.isfile(args.checkpoint):
        sys.exit(f'show_masks.py: checkpoint not found: {args.checkpoint}')
    args.work_dir, args.launcher = None, 'none'
    cfg = load_config(args, parser)
    try:
        check_data_paths(cfg, ('test', ))
    except FileNotFoundError as e:
        sys.exit(f'show_masks.py: {e}')

    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = MODELS.build(cfg.model)
    load_checkpoint(model, args.checkpoint, map_location='cpu',
                    logger='silent')
    model.eval()
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    classes = dataset.metainfo['classes']
    tiles = []
    for start in range(0, min(args.num, len(dataset)), 4):
        items = [dataset[i] for i in
                 range(start, min(start + 4, args.num, len(dataset)))]
        with torch.no_grad():
            results = model.test_step(pseudo_collate(items))
        for item, res in zip(items, results):
            img = cv2.imread(res.img_path)[..., ::-1]  # BGR -> RGB
            gt_masks = item['data_samples'].gt_instances.masks.to_ndarray()
            tiles.append(draw(np.ascontiguousarray(img), res.pred_instances,
                              gt_masks, classes, args.score_thr, args.scale))
    cols = min(args.cols, len(tiles))
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % cols)
    grid = np.concatenate([np.concatenate(tiles[r:r + cols], 1)
                           for r in range(0, len(tiles), cols)], 0)
    Image.fromarray(grid).quantize(256).save(args.out, optimize=True)
    print(f'{len(tiles)} tiles -> {args.out}')


if __name__ == '__main__':
    main()
