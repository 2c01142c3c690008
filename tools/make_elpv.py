"""Write ELPV (real solar-cell electroluminescence images) as a folder.

The data ship inside the ``elpv-dataset`` wheel (2,624 300x300 grey cells,
defect probability in {0, 1/3, 2/3, 1}, mono/poly; CC-BY-NC-SA-4.0, so the
images are never committed): ``pip install --no-deps
"elpv-dataset==1.0.0.post1"``. The four defect probabilities are the four
classes (``p000``, ``p033``, ``p067``, ``p100``); the split is stratified
by class and cell type, 70/15/15 with a fixed seed. Output:
``OUT/{train,val,test}/<class>/<index>.png`` resized to ``--size`` and
``OUT/split.json``. With ``--binary`` the classes are ``functional``
(p 0, 1/3) and ``defective`` (p 2/3, 1), the split the data set's authors
report (Deitsch et al. 2019); the split itself is the same images either way
(still stratified by the four probabilities and the cell type).

    python tools/make_elpv.py --out data/elpv [--size 32] [--binary]
"""
import os.path as osp
import sys

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from pas_mm.datasets import (generator_args,  # noqa: E402
                             require_package, write_split_dataset)

PIP_SPEC = 'elpv-dataset==1.0.0.post1'
CLASSES = ('p000', 'p033', 'p067', 'p100')
BINARY_CLASSES = ('functional', 'defective')


def load_elpv():
    """(images uint8 (N, 300, 300), class (N,), is_mono (N,))."""
    utils = require_package('elpv_dataset.utils', PIP_SPEC)
    images, probs, types = utils.load_dataset()
    labels = np.rint(np.asarray(probs) * 3).astype(np.int64)
    return np.asarray(images, np.uint8), labels, np.asarray(types) == 'mono'


def main(argv=None):
    parser = generator_args(__doc__, 'data/elpv', parse=False)
    parser.add_argument('--binary', action='store_true',
                        help='2 classes: functional (p <= 1/3), defective')
    args = parser.parse_args(argv)
    images, labels, mono = load_elpv()
    classes = (labels >= 2).astype(np.int64) if args.binary else labels
    print(write_split_dataset(
        args.out, images, classes, BINARY_CLASSES if args.binary else CLASSES,
        args.size, args.ratios, args.seed, PIP_SPEC,
        strata=labels * 2 + mono))


if __name__ == '__main__':
    main()
