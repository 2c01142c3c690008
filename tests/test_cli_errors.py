"""Bad input to the tools ends in one line, nothing written."""
import os
import os.path as osp
import subprocess
import sys

import pytest

from conftest import ROOT


def run(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT,
                          capture_output=True, text=True)


def last_line(proc):
    return proc.stderr.strip().splitlines()[-1]


def test_train_with_a_target_above_the_model_is_one_line(digits_root,
                                                         tmp_path):
    proc = run('tools/train.py', 'configs/pas_repvgg_digits.py',
               '--work-dir', str(tmp_path), '--cfg-options',
               f'data_root={digits_root}', 'model.macs_loss.target=2T')
    assert proc.returncode == 2
    assert 'Traceback' not in proc.stderr
    assert last_line(proc) == ("train.py: error: MACs target '2T' (2.000T) "
                               'is larger than the full model (12.023M)')


def test_train_with_load_from_missing_is_one_line(digits_root, tmp_path):
    missing = tmp_path / 'pretrained.pth'
    proc = run('tools/train.py', 'configs/pas_repvgg_digits.py',
               '--work-dir', str(tmp_path), '--cfg-options',
               f'data_root={digits_root}', f'load_from={missing}')
    assert proc.returncode == 2
    assert 'Traceback' not in proc.stderr
    assert last_line(proc) == (
        f'train.py: error: load_from {missing} does not exist; see the '
        'config for how to make it, or set --cfg-options load_from=PATH')


def test_train_with_a_model_zoo_url_out_of_reach_is_one_line(digits_root,
                                                            tmp_path):
    url = 'http://127.0.0.1:9/repvgg-B1_8xb32_in1k_20221213-d17c45e7.pth'
    cache = tmp_path / 'torch' / 'hub' / 'checkpoints'
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', 'configs/pas_repvgg_digits.py',
         '--work-dir', str(tmp_path), '--cfg-options',
         f'data_root={digits_root}', f'load_from={url}'],
        cwd=ROOT, capture_output=True, text=True,
        env=dict(os.environ, TORCH_HOME=str(tmp_path / 'torch')))
    assert proc.returncode == 2
    assert 'Traceback' not in proc.stderr
    line = last_line(proc)
    assert line.startswith(
        f'train.py: error: load_from {url} is not in the checkpoint cache '
        f'({cache}/repvgg-B1_8xb32_in1k_20221213-d17c45e7.pth) and cannot be '
        'downloaded (')
    assert line.endswith('copy the file there or set --cfg-options '
                         'load_from=PATH')
    assert not cache.exists() or not os.listdir(cache)  # no partial file


def test_train_with_a_missing_subnet_file_is_one_line(digits_root, tmp_path):
    missing = tmp_path / 'missing.json'
    work = tmp_path / 'run'
    proc = run('tools/train.py', 'configs/pas_repvgg_digits.py',
               '--work-dir', str(work), '--cfg-options',
               f'data_root={digits_root}', f'model.subnet={missing}')
    assert proc.returncode == 2
    assert 'Traceback' not in proc.stderr
    assert last_line(proc) == (f'train.py: error: subnet {missing} does not '
                               'exist')
    assert not work.exists()


def test_train_and_test_with_a_subnet_that_is_not_json_are_one_line(
        digits_root, tmp_path):
    bad = tmp_path / 'subnet.json'
    bad.write_text('{"layers": {"backbone.stem.gate": ')
    work = tmp_path / 'run'
    options = ['--work-dir', str(work), '--cfg-options',
               f'data_root={digits_root}', f'model.subnet={bad}']
    for tool, args in (('train.py', ()), ('test.py', ('none.pth', ))):
        proc = run(f'tools/{tool}', 'configs/pas_repvgg_digits.py', *args,
                   *options)
        assert proc.returncode == 2
        assert 'Traceback' not in proc.stderr
        assert last_line(proc) == (
            f'{tool}: error: subnet {bad} is not a valid JSON file '
            '(Expecting value: line 1 column 35 (char 34))')
        assert not work.exists()


def test_a_subnet_without_layers_is_refused_naming_the_file(tmp_path):
    from pas_mm.errors import PaSConfigError
    from pas_mm.models import read_subnet
    path = tmp_path / 'report.json'
    path.write_text('{"macs": {}}')
    with pytest.raises(PaSConfigError, match=f'subnet {path} has no '
                       '"layers" mapping'):
        read_subnet(str(path))


def test_a_cached_model_zoo_url_is_used_without_network(tmp_path,
                                                        monkeypatch):
    from mmengine.config import Config

    from pas_mm.cli import check_load_from
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    cached = tmp_path / 'hub' / 'checkpoints' / 'b1.pth'
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b'x')
    check_load_from(Config(dict(load_from='http://127.0.0.1:9/b1.pth')))
    with pytest.raises(FileNotFoundError, match='cannot be downloaded'):
        check_load_from(Config(dict(load_from='http://127.0.0.1:9/b0.pth')))


def test_deploy_of_a_truncated_checkpoint_is_one_line(tmp_path):
    ckpt = tmp_path / 'cut.pth'
    ckpt.write_bytes(b'PK\x03\x04' + b'\0' * 100)  # a zip cut short
    out = tmp_path / 'deploy'
    proc = run('tools/deploy_reparam.py', 'configs/pas_repvgg_digits.py',
               str(ckpt), '--out', str(out))
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr
    assert last_line(proc).startswith(
        f'deploy_reparam: error: checkpoint {ckpt} cannot be read (')
    assert last_line(proc).endswith('is the file complete?')
    assert not out.exists()


def test_deploy_out_naming_a_file_is_one_line(tmp_path):
    out = tmp_path / 'taken'
    out.write_text('mine')
    proc = run('tools/deploy_reparam.py', 'configs/pas_repvgg_digits.py',
               str(tmp_path / 'none.pth'), '--out', str(out))
    assert proc.returncode == 1
    assert last_line(proc) == (f'deploy_reparam: error: --out {out} is a '
                               'file; name a folder')
    assert out.read_text() == 'mine'


def test_dist_scripts_need_their_arguments():
    for script, usage in (('dist_train.sh', 'CONFIG GPUS'),
                          ('dist_test.sh', 'CONFIG CHECKPOINT GPUS')):
        proc = subprocess.run(['bash', osp.join('tools', script)], cwd=ROOT,
                              capture_output=True, text=True,
                              env=dict(os.environ))
        assert proc.returncode == 2
        assert proc.stderr.strip() == (f'usage: bash tools/{script} {usage} '
                                       f'[{script[5:-3]}.py options]')
