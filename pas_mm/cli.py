"""Argument handling and Runner start shared by tools/train.py, tools/test.py
and deploy."""
import argparse
import importlib.util
import os
import os.path as osp
import shutil
import tempfile
import urllib.request
from typing import Optional, Sequence
from urllib.parse import urlparse

import torch

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from .config_check import check_config
from .datasets.data_check import check_config_data
from .errors import PaSConfigError
from .models.pas_search_mixin import read_subnet


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--work-dir')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. a.b=1; '
                        'data_root=DIR also re-points the dataloaders and '
                        'evaluators that used the old data_root')
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def merge_cfg_options(cfg: Config, options: Optional[dict]) -> None:
    """``cfg.merge_from_dict(options)``, with ``data_root`` followed through.

    A config's top-level ``data_root`` is a plain variable, already copied
    into its datasets and evaluators when the file was read. When
    ``options`` sets ``data_root``, every ``data_root`` equal to the old one
    and every ``ann_file`` starting with it (in dataloaders and evaluators)
    is rewritten to the new root.
    """
    if not options:
        return
    old = cfg.get('data_root')
    cfg.merge_from_dict(options)
    new = options.get('data_root')
    if not old or new is None or new == old:
        return

    def repoint(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == 'data_root' and value == old:
                    node[key] = new
                elif (key == 'ann_file' and isinstance(value, str)
                      and value.startswith(old)):
                    node[key] = new + value[len(old):]
                else:
                    repoint(value)
        elif isinstance(node, (list, tuple)):
            for item in node:
                repoint(item)

    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader',
                'val_evaluator', 'test_evaluator'):
        repoint(cfg.get(key))


# data written by a generator script in tools/ (nothing is downloaded)
GENERATORS = {'digits': 'python tools/make_digits.py',
              'coco_demo': 'python tools/make_coco_demo.py',
              'elpv_cyclegan': 'python tools/make_cyclegan_elpv.py'}
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.tif', '.tiff')


def check_data_paths(cfg: Config, splits: Sequence[str]) -> None:
    """Fail early, with a hint, when a dataloader's data is not on disk.

    Checks ``data_root`` + ``ann_file`` (or + ``data_prefix`` when there is
    no annotation file) of ``{split}_dataloader.dataset`` for each split;
    remote paths (``s3://`` etc.) are left to the file backend.

    Raises:
        FileNotFoundError: naming the missing path and, for the embedded
            demo data, the command that writes it.
    """
    for split in splits:
        ds = (cfg.get(f'{split}_dataloader') or {}).get('dataset') or {}
        root = ds.get('data_root') or ''
        if ds.get('type') == 'UnpairedImageDataset':
            _check_unpaired(split, root, ds.get('test_mode', False))
            continue
        prefix = ds.get('data_prefix') or ''
        if isinstance(prefix, dict):
            prefix = prefix.get('img_path', prefix.get('img', ''))
        path = osp.join(root, ds['ann_file'] if ds.get('ann_file')
                        else prefix)
        if not path or '://' in path or osp.exists(path):
            continue
        raise FileNotFoundError(
            f'{split} data not found: {path} does not exist{_hint(root)}')


def _hint(root: str) -> str:
    """How to provide the data under ``root``."""
    name = osp.basename(osp.normpath(root))
    return (f'; write it with `{GENERATORS[name]} --out {root}`'
            if name in GENERATORS else '; set data_root (e.g. '
            '--cfg-options data_root=DIR) to where the data is')


def _check_unpaired(split: str, root: str, test_mode: bool) -> None:
    """mmagic's unpaired layout: ``root/{phase}A`` and ``{phase}B`` hold
    images (mmagic itself would fail later, or loop on an empty domain)."""
    phase = 'test' if test_mode else 'train'
    for folder in (osp.join(root, phase + 'A'), osp.join(root, phase + 'B')):
        if '://' in folder:
            return
        if not osp.isdir(folder):
            raise FileNotFoundError(
                f'{split} data not found: {folder} does not exist (unpaired '
                f'layout: {phase}A and {phase}B){_hint(root)}')
        if not any(f.lower().endswith(IMAGE_SUFFIXES)
                   for _, _, files in os.walk(folder) for f in files):
            raise FileNotFoundError(
                f'{split} data: {folder} has no images '
                f'({", ".join(IMAGE_SUFFIXES)}){_hint(root)}')


def check_load_from(cfg: Config, timeout: float = 30.) -> None:
    """Fail early when ``cfg.load_from`` cannot be read.

    A local path must exist. An http(s) URL (a model-zoo checkpoint) is
    looked up where mmengine caches it (``torch.hub.get_dir()/checkpoints``)
    and downloaded there now if absent, so a machine without the file and
    without network stops before training with the file named, instead of
    after building the model with a traceback. Other schemes are left to
    mmengine.

    Raises:
        FileNotFoundError: naming the file, where it was looked for and how
            to provide it.
    """
    path = cfg.get('load_from')
    if not path or not isinstance(path, str):
        return
    scheme = urlparse(path).scheme
    if scheme in ('http', 'https'):
        cache = osp.join(torch.hub.get_dir(), 'checkpoints',
                         osp.basename(urlparse(path).path))
        if osp.isfile(cache):
            return
        try:
            _download(path, cache, timeout)
        except OSError as e:  # URLError, timeouts and refusals included
            raise FileNotFoundError(
                f'load_from {path} is not in the checkpoint cache ({cache}) '
                f'and cannot be downloaded ({getattr(e, "reason", e)}); copy '
                'the file there or set --cfg-options load_from=PATH') from e
    elif not scheme and not osp.isfile(path):
        raise FileNotFoundError(
            f'load_from {path} does not exist; see the config for how to '
            'make it, or set --cfg-options load_from=PATH')


def check_subnet(cfg: Config) -> None:
    """Fail early when ``model.subnet`` is not a readable subnet JSON,
    before the Runner writes anything.

    Raises:
        PaSConfigError: one line naming the file and what is wrong.
    """
    model = cfg.get('model')
    if isinstance(model, dict) and model.get('subnet'):
        read_subnet(model['subnet'])


def _download(url: str, dst: str, timeout: float) -> None:
    """``url`` -> ``dst`` through a temporary file (no partial ``dst``)."""
    os.makedirs(osp.dirname(dst), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=osp.dirname(dst), suffix='.part')
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r, \
                os.fdopen(fd, 'wb') as f:
            shutil.copyfileobj(r, f)
        os.replace(tmp, dst)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def read_config(path: str) -> Config:
    """``Config.fromfile`` of a file, or of an installed package's config
    named ``package::path`` (e.g. ``mmpretrain::resnet/resnet18_8xb32_in1k.py``).

    Raises:
        PaSConfigError: the file does not exist (or the package is not
            installed).
    """
    if '::' in path and not osp.exists(path):
        try:
            path, scope = Config._get_cfg_path(path, '')
        except (ModuleNotFoundError, FileNotFoundError, ValueError,
                AssertionError) as e:
            raise PaSConfigError(f'config {path} cannot be found ({e})'
                                 ) from None
    if not osp.isfile(path):
        raise PaSConfigError(f'config {path} does not exist')
    with open(path) as f:
        needs_mmagic = 'mmagic::' in f.read()
    if needs_mmagic and importlib.util.find_spec('mmagic') is None:
        raise SystemExit(f'error: {path} needs mmagic (not installed); '
                         'install it with `bash tools/install.sh '
                         '--with-mmagic`')
    return Config.fromfile(path)


def load_config(args: argparse.Namespace,
                parser: argparse.ArgumentParser) -> Config:
    """Config with --cfg-options, launcher and work_dir applied; a config
    that cannot be read exits with one line."""
    try:
        cfg = read_config(args.config)
    except PaSConfigError as e:
        parser.error(str(e))
    merge_cfg_options(cfg, args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


def check_inputs(cfg: Config, parser: argparse.ArgumentParser,
                 splits: Sequence[str], train: bool) -> None:
    """Everything checked before the Runner writes anything: the data of
    ``splits`` (on disk, class folders, COCO files), ``load_from`` (with
    ``train``), the subnet file, the PaS values of the config (by building
    its model, :func:`pas_mm.config_check.check_config`). A problem exits
    with one line (status 2)."""
    try:
        check_data_paths(cfg, splits)
        if train:
            check_load_from(cfg)
        check_subnet(cfg)
        check_config(cfg, train)
    except (FileNotFoundError, PaSConfigError) as e:
        parser.error(str(e))
    try:
        check_config_data(cfg, splits)
    except ValueError as e:
        parser.error(str(e))


def build_runner(cfg: Config, parser: argparse.ArgumentParser):
    """mmengine's Runner for ``cfg``; a PaS setting that cannot work (e.g.
    a MACs target above the model) exits with its one-line message."""
    try:
        return Runner.from_cfg(cfg)
    except PaSConfigError as e:
        parser.exit(2, f'{parser.prog}: error: {e}\n')
