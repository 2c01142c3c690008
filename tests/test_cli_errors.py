"""Bad input to the tools ends in one line, nothing written."""
import os
import os.path as osp
import subprocess
import sys

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
