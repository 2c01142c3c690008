"""Write the embedded classification data: sklearn's handwritten digits.

scikit-learn ships the UCI 8x8 digits (1797 real scans, 10 classes) inside
the package, so nothing is downloaded. They are upsampled to 32x32 PNGs in
an ImageNet-style folder that mmpretrain's CustomDataset reads:
``OUT/{train,val}/<digit>/<index>.png`` (80/20 stratified split).

    python tools/make_digits.py --out data/digits
"""
import argparse
import os
import os.path as osp

import cv2
import numpy as np
from sklearn.datasets import load_digits


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default='data/digits')
    parser.add_argument('--size', type=int, default=32)
    parser.add_argument('--val-ratio', type=float, default=0.2)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()

    digits = load_digits()
    done = osp.join(args.out, f'.done_{args.size}_{args.val_ratio}_{args.seed}')
    if osp.exists(done):
        print(f'{args.out}: already written')
        return
    rng = np.random.default_rng(args.seed)
    counts = {'train': 0, 'val': 0}
    for label in range(10):
        idx = rng.permutation(np.flatnonzero(digits.target == label))
        n_val = int(round(len(idx) * args.val_ratio))
        for split, ids in (('val', idx[:n_val]), ('train', idx[n_val:])):
            folder = osp.join(args.out, split, str(label))
            os.makedirs(folder, exist_ok=True)
            for i in ids:
                img = (digits.images[i] / 16.0 * 255).astype(np.float32)
                img = cv2.resize(img, (args.size, args.size),
                                 interpolation=cv2.INTER_CUBIC)
                img = np.clip(img, 0, 255).astype(np.uint8)
                cv2.imwrite(osp.join(folder, f'{i:04d}.png'),
                            cv2.cvtColor(img, cv2.COLOR_GRAY2BGR))
            counts[split] += len(ids)
    open(done, 'w').close()
    print(f'{args.out}: {counts["train"]} train, {counts["val"]} val images')


if __name__ == '__main__':
    main()
