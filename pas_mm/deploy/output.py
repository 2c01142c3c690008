"""The deploy folder: checked before the work, staged, swapped in at the end.

Nothing pas-mm did not write is ever deleted: ``--out`` may be a new
folder, an empty one, or (with ``force``) a previous pas-mm deploy, known
by its ``report.json``. A previous deploy is replaced by renaming: the new
folder is staged beside it, the old one renamed aside, the new one renamed
in; files of the old folder that are not deploy files move into the new
one, and the old folder is removed only once empty.
"""
import contextlib
import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Iterator, Sequence

from ..errors import DeployError

# what a deploy writes (deploy.onnx with --onnx)
DEPLOY_FILES = ('deploy_config.py', 'deploy.pth', 'pas_subnet.json',
                'report.json', 'deploy.onnx')


class OutDirError(DeployError):
    """``--out`` is refused before any work (the message says why)."""


def is_deploy_folder(folder: str) -> bool:
    """True if ``folder`` holds a pas-mm deploy's ``report.json``."""
    try:
        with open(osp.join(folder, 'report.json')) as f:
            report = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(report, dict) and 'max_abs_diff' in report


def _inside(path: str, folder: str) -> bool:
    path, folder = osp.realpath(path), osp.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_out_dir(out_dir: str, inputs: Sequence[str] = (),
                  force: bool = False) -> None:
    """Refuse an ``out_dir`` a deploy must not write to, before any work.

    Args:
        out_dir: the deploy folder.
        inputs: files the deploy reads (config, checkpoint); a folder
            holding one of them is refused even with ``force``.
        force: replace a previous pas-mm deploy.

    Raises:
        OutDirError: ``out_dir`` is a file, holds an input, exists and is
            not a previous deploy (or is one and ``force`` is not set), or
            its parent cannot be written.
    """
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise OutDirError(f'--out {out_dir} is a file; name a folder')
    for path in inputs:
        if osp.exists(path) and _inside(path, out_dir):
            raise OutDirError(f'--out {out_dir} holds the input {path}; '
                              'name a new folder for the deploy')
    if osp.isdir(out_dir) and os.listdir(out_dir):
        if not is_deploy_folder(out_dir):
            raise OutDirError(
                f'--out {out_dir} exists and is not a pas-mm deploy (no '
                'report.json of one); name a new folder')
        if not force:
            raise OutDirError(f'--out {out_dir} holds a previous deploy; '
                              'add --force to replace it')
    parent = osp.dirname(osp.abspath(out_dir))
    while not osp.exists(parent):
        parent = osp.dirname(parent)
    if not osp.isdir(parent):
        raise OutDirError(f'--out {out_dir}: {parent} is a file, not a '
                          'folder')
    try:
        os.rmdir(tempfile.mkdtemp(prefix='.deploy-probe-', dir=parent))
    except OSError as e:
        raise OutDirError(f'--out {out_dir}: cannot write in {parent} '
                          f'({e.strerror})') from None


@contextlib.contextmanager
def staged_out_dir(out_dir: str) -> Iterator[str]:
    """A fresh folder beside ``out_dir`` to write the deploy into; moved to
    ``out_dir`` when the block ends without error, removed otherwise.

    An existing ``out_dir`` must be empty or a previous deploy (see
    :func:`check_out_dir`, which also applies ``force``); it is replaced
    as the module docstring says.
    """
    out_dir = osp.abspath(out_dir)
    os.makedirs(osp.dirname(out_dir), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.deploy-', dir=osp.dirname(out_dir))
    try:
        yield tmp
        _swap_in(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # all of it written here
        raise


def _swap_in(tmp: str, out_dir: str) -> None:
    """Rename ``tmp`` to ``out_dir``, keeping the files of an existing
    ``out_dir`` that a deploy did not write."""
    umask = os.umask(0)
    os.umask(umask)
    if not osp.exists(out_dir):
        os.chmod(tmp, 0o777 & ~umask)
        os.rename(tmp, out_dir)
        return
    os.chmod(tmp, os.stat(out_dir).st_mode & 0o7777)
    if not os.listdir(out_dir):
        os.rename(tmp, out_dir)  # replaces the empty folder
        return
    if not is_deploy_folder(out_dir):  # appeared during the deploy
        raise OutDirError(f'--out {out_dir} exists and is not a pas-mm '
                          'deploy (no report.json of one); nothing replaced')
    old = tempfile.mkdtemp(prefix='.deploy-old-', dir=osp.dirname(out_dir))
    os.rename(out_dir, old)  # onto the empty placeholder
    try:
        os.rename(tmp, out_dir)
    except BaseException:
        os.rename(old, out_dir)
        raise
    try:
        for name in os.listdir(old):
            if name in DEPLOY_FILES:
                os.remove(osp.join(old, name))
            else:
                os.rename(osp.join(old, name), osp.join(out_dir, name))
        os.rmdir(old)
    except OSError as e:
        raise DeployError(
            f'the deploy is written to {out_dir}, but the previous one could '
            f'not be cleared ({e}); what is left of it is in {old}') from e
