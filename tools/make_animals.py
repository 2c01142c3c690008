"""Write Animal-MNIST (real animal silhouettes) as an ImageNet-style folder.

The data ship inside the ``animal-mnist`` wheel (10,000 28x28 grey images,
10 classes x 1,000; MIT): ``pip install --no-deps "animal-mnist==0.4"``.
Its own loader imports tensorflow, so the gzip pickles are read directly.
Only 9,716 images are distinct: duplicates are dropped before splitting,
so no image sits in two splits. Output, stratified 70/15/15 with a fixed
seed: ``OUT/{train,val,test}/<label>/<index>.png`` (grey saved as BGR,
resized to ``--size``) and ``OUT/split.json``.

    python tools/make_animals.py --out data/animals
"""
import gzip
import os.path as osp
import pickle
import sys

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from pas_mm.datasets import (generator_args,  # noqa: E402
                             require_package, write_split_dataset)

PIP_SPEC = 'animal-mnist==0.4'


def load_animals():
    """(images uint8 (10000, 28, 28), labels int64 (10000,))."""
    pkg = require_package('animal_mnist', PIP_SPEC)
    folder = osp.join(osp.dirname(pkg.__file__), 'data', 'Animal_MNIST')
    with gzip.open(osp.join(folder, 'animal_data_version_3.gz')) as f:
        images = pickle.load(f)
    with gzip.open(osp.join(folder, 'animal_label_version_3.gz')) as f:
        labels = pickle.load(f)
    return np.asarray(images, np.uint8), np.asarray(labels, np.int64)


def main(argv=None):
    args = generator_args(__doc__, 'data/animals', argv)
    images, labels = load_animals()
    print(write_split_dataset(
        args.out, images, labels, [str(c) for c in range(10)], args.size,
        args.ratios, args.seed, PIP_SPEC))


if __name__ == '__main__':
    main()
