"""Write ELPV solar cells as two unpaired domains for CycleGAN (mmagic layout).

Domain A: monocrystalline cells (1,074 images), domain B: polycrystalline
(1,550), real electroluminescence images shipped inside the
``elpv-dataset`` wheel (CC-BY-NC-SA-4.0: the images are never committed;
``pip install --no-deps "elpv-dataset==1.0.0.post1"``). Duplicates are
dropped, each domain is split train/test by ``--test-ratio`` with a fixed
seed and resized to ``--size`` (area interpolation). Output, as mmagic's
``UnpairedImageDataset`` reads it:
``OUT/{trainA,trainB,testA,testB}/<index>.png`` and ``OUT/split.json``.

    python tools/make_cyclegan_elpv.py --out data/elpv_cyclegan [--size 64]
"""
import argparse
import json
import os
import os.path as osp
import sys

import cv2
import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from pas_mm.datasets import dedupe, require_package  # noqa: E402

PIP_SPEC = 'elpv-dataset==1.0.0.post1'
DOMAINS = dict(A='mono', B='poly')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', default='data/elpv_cyclegan')
    p.add_argument('--size', type=int, default=64, help='pixels (square)')
    p.add_argument('--test-ratio', type=float, default=0.1)
    p.add_argument('--seed', type=int, default=0)
    args = p.parse_args(argv)
    utils = require_package('elpv_dataset.utils', PIP_SPEC)
    images, _, types = utils.load_dataset()
    images, types = np.asarray(images, np.uint8), np.asarray(types)
    keep = dedupe(images)
    images, types = images[keep], types[keep]
    rng = np.random.default_rng(args.seed)
    split = {}
    for letter, cell in DOMAINS.items():
        idx = rng.permutation(np.flatnonzero(types == cell))
        n_test = int(round(len(idx) * args.test_ratio))
        for phase, part in (('test', idx[:n_test]), ('train', idx[n_test:])):
            folder = osp.join(args.out, f'{phase}{letter}')
            os.makedirs(folder, exist_ok=True)
            for i in part:
                img = cv2.resize(images[i], (args.size, args.size),
                                 interpolation=cv2.INTER_AREA)
                cv2.imwrite(osp.join(folder, f'{i:04d}.png'), img)
            split[f'{phase}{letter}'] = sorted(int(i) for i in part)
    with open(osp.join(args.out, 'split.json'), 'w') as f:
        json.dump(dict(domains=DOMAINS, size=args.size, seed=args.seed,
                       source=PIP_SPEC, indices=split), f)
    print(f'{args.out}: ' + ', '.join(f'{k} {len(v)}'
                                      for k, v in split.items()))


if __name__ == '__main__':
    main()
