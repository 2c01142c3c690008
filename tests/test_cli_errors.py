"""Bad input to the tools ends in one line, nothing written."""
import os
import os.path as osp
import re
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
    assert proc.returncode == 2
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


# --- every config value checked before the Runner starts -------------------

DIGITS = 'configs/pas_repvgg_digits.py'


def run_tool(tool, argv, capsys, monkeypatch):
    """``tools/<tool>`` in this process (no interpreter start): exit status
    and the last line of stderr."""
    import runpy
    monkeypatch.setattr(sys, 'argv', [tool, *argv])
    monkeypatch.chdir(ROOT)
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(osp.join(ROOT, 'tools', tool), run_name='__main__')
    return exit_.value.code, capsys.readouterr().err.strip().splitlines()[-1]


def train_refuses(options, digits_root, tmp_path, capsys, monkeypatch,
                  config=DIGITS):
    """The one line train.py exits with (status 2, work dir not made)."""
    work = tmp_path / 'run'
    code, line = run_tool('train.py', [
        config, '--work-dir', str(work), '--cfg-options',
        f'data_root={digits_root}', *options], capsys, monkeypatch)
    assert code == 2
    assert not work.exists()
    return line


@pytest.mark.parametrize('option, message', [
    ('model.macs_loss.loss_weight=-1',
     'MACsLoss: loss_weight=-1 must be > 0'),
    ('model.macs_loss.target=1.5',
     "MACs target 1.5: a number is a ratio of the full model, in (0, 1]; an "
     "absolute target needs its unit, e.g. '6.011M'"),
    ('model.backbone.gate_cfg.min_keep=0',
     'DBCGate: min_keep=0 must be an integer in [1, num_channels=32]'),
    ('model.ignored=123',
     "PaSModel: ignored=123 must be a list of module paths, e.g. "
     "['backbone.conv1']"),
    ('model.ignored=backbone.conv1',
     "PaSModel: ignored='backbone.conv1' must be a list of module paths, "
     "e.g. ['backbone.conv1']"),
    ('train_cfg.max_epochs=3',
     'PaSSearchHook: search_epochs=3 must be below train_cfg.max_epochs=3: '
     'the search ends at search_epochs and the run would end unsearched '
     '(masks never fixed, nothing to deploy)'),
    ('model.input_shape=[3,32]',
     'PaSModel: input_shape=[3, 32] must be (C, H, W), 3 positive integers'),
])
def test_train_refuses_a_bad_value_in_one_line_before_writing(
        option, message, digits_root, tmp_path, capsys, monkeypatch):
    line = train_refuses([option], digits_root, tmp_path, capsys,
                         monkeypatch)
    assert line == f'train.py: error: {message}'


def digits_subnet(tmp_path, edit):
    """The digits model's subnet JSON with ``edit(layers)`` applied."""
    import json

    from mmengine.config import Config
    from mmengine.registry import MODELS
    cfg = Config.fromfile(osp.join(ROOT, DIGITS))
    model = MODELS.build(cfg.model)
    subnet = model.subnet()
    edit(subnet['layers']['backbone.stem.gate'])
    path = tmp_path / 'subnet.json'
    path.write_text(json.dumps(subnet))
    return path


@pytest.mark.parametrize('edit, got', [
    (lambda layer: layer.update(keep=[]), 'keep=[]'),
    (lambda layer: layer.update(keep=[-1, -2, 0, 1]),
     'keep=[-1, -2, 0, 1]'),
    (lambda layer: layer.update(keep=[0, 1, 2, 99]), 'keep=[0, 1, 2, 99]'),
    (lambda layer: layer.update(keep=[0, 0, 1, 2]), 'keep=[0, 0, 1, 2]'),
    (lambda layer: layer.update(keep=list(range(33))), 'keep=[0, 1, 2, 3, '
     '4, 5, ...]'),
])
def test_train_refuses_subnet_widths_outside_the_layer(
        edit, got, digits_root, tmp_path, capsys, monkeypatch):
    path = digits_subnet(tmp_path, edit)
    line = train_refuses([f'model.subnet={path}'], digits_root, tmp_path,
                         capsys, monkeypatch)
    assert line == (f'train.py: error: subnet {path}: layer backbone.stem.'
                    'gate must keep 4 to 32 unique channel indices in '
                    f'[0, 32), got {got}')


def test_train_refuses_a_subnet_width_that_disagrees_with_its_channels(
        digits_root, tmp_path, capsys, monkeypatch):
    path = digits_subnet(tmp_path, lambda layer: layer.update(width=8))
    line = train_refuses([f'model.subnet={path}'], digits_root, tmp_path,
                         capsys, monkeypatch)
    assert line == (f'train.py: error: subnet {path}: layer backbone.stem.'
                    'gate has width=8 but keeps 32 channels')


def test_a_detector_input_too_small_is_named():
    from mmengine.config import Config

    from pas_mm.config_check import check_model
    from pas_mm.errors import PaSConfigError
    cfg = Config.fromfile(osp.join(
        ROOT, 'configs/detectors/pas_solov2_r50_fpn_1x_coco.py'))
    cfg.model.input_shape = (3, 8, 8)
    with pytest.raises(PaSConfigError, match=re.escape(
            'PaSModel: input_shape=(3, 8, 8) is too small for this network '
            '(it runs at 256x256; at 8x8: ')):
        check_model(cfg)


def test_test_tool_checks_the_subnet_widths_too(digits_root, tmp_path,
                                                capsys, monkeypatch):
    path = digits_subnet(tmp_path, lambda layer: layer.update(keep=[]))
    work = tmp_path / 'run'
    code, line = run_tool('test.py', [
        DIGITS, 'none.pth', '--work-dir', str(work), '--cfg-options',
        f'data_root={digits_root}', f'model.subnet={path}'], capsys,
        monkeypatch)
    assert code == 2 and not work.exists()
    assert line.startswith(f'test.py: error: subnet {path}: layer ')


def test_train_reads_a_package_config(tmp_path, capsys, monkeypatch):
    work = tmp_path / 'run'
    code, line = run_tool('train.py', [
        'mmpretrain::nothing/here.py', '--work-dir', str(work)], capsys,
        monkeypatch)
    assert code == 2 and not work.exists()
    assert line.startswith('train.py: error: config mmpretrain::nothing/'
                           'here.py cannot be found (')


# --- the data checked before training ---------------------------------------

@pytest.fixture
def digits_copy(digits_root, tmp_path):
    import shutil
    root = tmp_path / 'digits'
    shutil.copytree(digits_root, root)
    return root


def test_train_refuses_a_split_without_one_class(digits_copy, tmp_path,
                                                  capsys, monkeypatch):
    import shutil
    shutil.rmtree(digits_copy / 'val' / '9')
    line = train_refuses([], digits_copy, tmp_path, capsys, monkeypatch)
    assert line == (
        f'train.py: error: val data {digits_copy}/val has other classes '
        f"than train ({digits_copy}/train): missing ['9'], extra []; class "
        'indices follow the sorted folder names, so every split needs the '
        'same class folders')


def test_train_refuses_an_empty_class_folder(digits_copy, tmp_path, capsys,
                                             monkeypatch):
    for f in (digits_copy / 'train' / '3').iterdir():
        f.unlink()
    line = train_refuses([], digits_copy, tmp_path, capsys, monkeypatch)
    assert line == (f'train.py: error: train data: class folder '
                    f'{digits_copy}/train/3 has no images')


@pytest.mark.parametrize('content, why', [
    (b'', 'empty file'), (b'<html>not found</html>',
                          'not an image (unknown header)')])
def test_train_refuses_an_unreadable_image(content, why, digits_copy,
                                           tmp_path, capsys, monkeypatch):
    bad = digits_copy / 'val' / '5' / 'zz.png'
    bad.write_bytes(content)
    line = train_refuses([], digits_copy, tmp_path, capsys, monkeypatch)
    assert line == f'train.py: error: val data: image {bad} cannot be ' \
        f'read: {why}'


def coco(tmp_path, **edits):
    """A 2-image COCO file (images on disk) with ``edits`` applied."""
    import json
    (tmp_path / 'img').mkdir(exist_ok=True)
    for name in ('a.jpg', 'b.jpg'):
        (tmp_path / 'img' / name).write_bytes(b'\xff\xd8\xff\xe0')
    data = dict(images=[dict(id=1, file_name='a.jpg'),
                        dict(id=2, file_name='b.jpg')],
                categories=[dict(id=1, name='cat'), dict(id=2, name='dog')],
                annotations=[dict(id=7, image_id=1, category_id=2,
                                  bbox=[0, 0, 2, 2])])
    data.update(edits)
    path = tmp_path / 'ann.json'
    path.write_text(json.dumps(data))
    return str(path)


@pytest.mark.parametrize('edits, message', [
    (dict(images=[dict(id=1, file_name='a.jpg'),
                  dict(id=2, file_name='c.jpg')]),
     "1 of 2 images are not in {img}, e.g. ['c.jpg']"),
    (dict(annotations=[dict(id=7, image_id=3, category_id=5)]),
     "2 references to no listed image or category, e.g. ['annotation 7: "
     "image_id 3', 'annotation 7: category_id 5']"),
    (dict(categories=None), 'is not a COCO annotation file: it needs '
     '"images" and "categories" lists'),
])
def test_coco_annotation_problems_are_named(edits, message, tmp_path):
    from pas_mm.datasets.data_check import check_coco
    path = coco(tmp_path, **edits)
    img = str(tmp_path / 'img')
    with pytest.raises(ValueError, match=re.escape(
            f'{path}: ' if 'references' in message or 'images are' in message
            else path)) as e:
        check_coco(path, img, ['cat', 'dog'])
    assert str(e.value).endswith(message.format(img=img))


def test_coco_classes_must_be_categories_and_train_checks_the_file(
        tmp_path, capsys, monkeypatch):
    from pas_mm.datasets.data_check import check_coco
    path = coco(tmp_path)
    check_coco(path, str(tmp_path / 'img'), ['cat', 'dog'])
    with pytest.raises(ValueError, match=re.escape(
            f"{path}: the config's classes ['horse'] are not among its "
            "categories ['cat', 'dog']...; mmdet would drop them")):
        check_coco(path, str(tmp_path / 'img'), ['cat', 'horse'])
    (tmp_path / 'bad.json').write_text('{"images": [')
    work = tmp_path / 'run'
    code, line = run_tool('train.py', [
        'configs/pas_yolact.py', '--work-dir', str(work), '--cfg-options',
        f'data_root={tmp_path}/', 'train_dataloader.dataset.ann_file=bad.json',
        'val_dataloader.dataset.ann_file=ann.json',
        'val_dataloader.dataset.data_prefix.img=img/'], capsys, monkeypatch)
    assert code == 2 and not work.exists()
    assert line.startswith(f'train.py: error: train data: {tmp_path}/'
                           'bad.json is not a valid COCO JSON file (')


# --- deploy output: nothing lost ---------------------------------------------

def refused(out, *inputs, force=False):
    """The message deploy() refuses ``out`` with."""
    from pas_mm.deploy import OutDirError, deploy
    config, ckpt = inputs or (osp.join(ROOT, DIGITS), 'none.pth')
    with pytest.raises(OutDirError) as e:
        deploy(config, ckpt, str(out), force=force)
    return str(e.value)


def snapshot(folder):
    """Every file under ``folder`` with its bytes, and the folder's mode."""
    return (os.stat(folder).st_mode, {
        osp.relpath(osp.join(d, f), folder): open(osp.join(d, f), 'rb').read()
        for d, _, files in os.walk(folder) for f in files})


def test_deploy_refuses_a_folder_that_is_not_a_deploy(tmp_path):
    out = tmp_path / 'mine'
    out.mkdir()
    (out / 'NOTES.txt').write_text('keep me')
    before = snapshot(out)
    proc = run('tools/deploy_reparam.py', DIGITS, 'none.pth', '--out',
               str(out), '--force')
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr
    assert last_line(proc) == (
        f'deploy_reparam: error: --out {out} exists and is not a pas-mm '
        'deploy (no report.json of one); name a new folder')
    assert snapshot(out) == before
    assert os.listdir(tmp_path) == ['mine']


def test_deploy_refuses_the_folder_of_its_checkpoint_or_config(tmp_path):
    work = tmp_path / 'work_dir'
    (work / 'sub').mkdir(parents=True)
    ckpt, config = work / 'epoch_3.pth', work / 'sub' / 'cfg.py'
    ckpt.write_bytes(b'weights')
    config.write_text('model = None')
    (work / 'report.json').write_text('{"max_abs_diff": 0}')  # even so
    before = snapshot(work)
    for out in (work, tmp_path):
        assert refused(out, osp.join(ROOT, DIGITS), str(ckpt),
                       force=True) == (
            f'--out {out} holds the input {ckpt}; name a new folder for '
            'the deploy')
    assert refused(work / 'sub', str(config), 'none.pth', force=True) == (
        f'--out {work}/sub holds the input {config}; name a new folder for '
        'the deploy')
    assert snapshot(work) == before


def test_deploy_refuses_to_replace_a_deploy_without_force(tmp_path):
    out = tmp_path / 'deploy'
    out.mkdir()
    (out / 'report.json').write_text('{"max_abs_diff": 0}')
    assert refused(out) == (f'--out {out} holds a previous deploy; add '
                            '--force to replace it')
    assert os.listdir(out) == ['report.json']


def test_deploy_refuses_an_out_it_cannot_write_before_the_work(tmp_path):
    (tmp_path / 'file').write_text('x')
    assert refused(tmp_path / 'file' / 'deploy') == (
        f'--out {tmp_path}/file/deploy: {tmp_path}/file is a file, not a '
        'folder')
    if os.getuid() != 0:  # root writes anywhere
        ro = tmp_path / 'ro'
        ro.mkdir(mode=0o555)
        assert refused(ro / 'deploy') == (
            f'--out {ro}/deploy: cannot write in {ro} (Permission denied)')
    assert sorted(os.listdir(tmp_path)) in (['file'], ['file', 'ro'])


@pytest.fixture(scope='module')
def searched_ckpt(tmp_path_factory):
    """A digits checkpoint with fixed gates (no training: deploy input)."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(ROOT, DIGITS))
    model = MODELS.build(cfg.model)
    model.fix_gates()
    path = tmp_path_factory.mktemp('ckpt') / 'searched.pth'
    import torch
    torch.save(dict(state_dict=model.state_dict()), path)
    return str(path)


def test_deploy_force_replaces_a_deploy_keeping_other_files(
        searched_ckpt, tmp_path):
    from pas_mm.deploy import deploy
    config = osp.join(ROOT, DIGITS)
    out = tmp_path / 'deploy'
    deploy(config, searched_ckpt, str(out), latency_runs=1)
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(out).st_mode & 0o777 == 0o777 & ~umask
    (out / 'NOTES.txt').write_text('keep me')
    os.chmod(out, 0o750)
    old = (out / 'deploy.pth').stat().st_ino
    deploy(config, searched_ckpt, str(out), latency_runs=1, force=True)
    assert sorted(os.listdir(out)) == ['NOTES.txt', 'deploy.pth',
                                       'deploy_config.py', 'pas_subnet.json',
                                       'report.json']
    assert (out / 'NOTES.txt').read_text() == 'keep me'
    assert (out / 'deploy.pth').stat().st_ino != old
    assert os.stat(out).st_mode & 0o777 == 0o750
    assert os.listdir(tmp_path) == ['deploy']


def test_a_deploy_failing_while_writing_leaves_the_old_one(
        searched_ckpt, tmp_path, monkeypatch):
    from pas_mm.deploy import deploy, pipeline
    config = osp.join(ROOT, DIGITS)
    out = tmp_path / 'deploy'
    deploy(config, searched_ckpt, str(out), latency_runs=1)
    (out / 'NOTES.txt').write_text('keep me')
    before = snapshot(out)

    def full_disk(*args, **kwargs):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(pipeline.torch, 'save', full_disk)
    with pytest.raises(OSError, match='No space left'):
        deploy(config, searched_ckpt, str(out), latency_runs=1, force=True)
    assert snapshot(out) == before
    assert os.listdir(tmp_path) == ['deploy']


def test_deploy_of_a_checkpoint_of_another_width_is_one_line(
        searched_ckpt, tmp_path):
    from pas_mm.deploy import DeployError, deploy
    with pytest.raises(DeployError) as e:
        deploy(osp.join(ROOT, DIGITS), searched_ckpt, str(tmp_path / 'out'),
               cfg_options={'model.backbone.arch.width_factor':
                            [0.25, 0.25, 0.25, 1.0]})
    assert str(e.value) == (
        f'checkpoint {searched_ckpt} does not match the config: 86 tensors '
        'have other shapes, e.g. architecture.backbone.stem.branch_3x3.conv.'
        'weight (32, 3, 3, 3) in the checkpoint, (16, 3, 3, 3) in the model; '
        'was it trained with another config (width, subnet)?')
    assert os.listdir(tmp_path) == []


def test_deploy_reads_a_package_config(tmp_path):
    from pas_mm.deploy import DeployError, deploy
    with pytest.raises(DeployError, match=r'config \S+/resnet/resnet18_'
                       r"8xb32_in1k.py has no PaS model: .* got "
                       r"type='ImageClassifier'"):
        deploy('mmpretrain::resnet/resnet18_8xb32_in1k.py', 'none.pth',
               str(tmp_path / 'out'))
    proc = run('tools/deploy_reparam.py', 'mmpretrain::nothing/here.py',
               'none.pth', '--out', str(tmp_path / 'out'))
    assert proc.returncode == 2
    assert last_line(proc).startswith(
        'deploy_reparam: error: config mmpretrain::nothing/here.py cannot be '
        'found (')
    assert os.listdir(tmp_path) == []
