"""PaS on CycleGAN (mmagic extra): gated Mobile-ResNet, search step, deploy."""
import copy
import os.path as osp
import subprocess
import sys

import pytest
import torch
from conftest import ROOT
from mmengine.config import Config
from mmengine.registry import init_default_scope

try:
    import pas_mm.gan  # noqa: F401
    from pas_mm.gan.require import MMagicMissingError
except ImportError as e:  # MMagicMissingError names the install command
    pytest.skip(str(e), allow_module_level=True)

from mmengine.runner import Runner  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from pas_mm.errors import PaSConfigError  # noqa: E402
from pas_mm.gan import PaSMobileResnetGenerator  # noqa: E402
from pas_mm.gan.deploy import export_generators, generator_macs  # noqa: E402

CONFIG = osp.join(ROOT, 'configs/pas_cyclegan.py')
SMALL = dict(base_channels=8, num_blocks=3)


@pytest.fixture(autouse=True)
def mmagic_scope():
    init_default_scope('mmagic')


def random_masks(gen, seed=0):
    """About a third of every gate's channels pruned, then fixed."""
    g = torch.Generator().manual_seed(seed)
    for gate in gen.gates().values():
        gate.weight.data = 0.5 + (torch.rand(gate.num_channels, generator=g)
                                  - 1 / 3)
        gate.fix()


def test_unpruned_gated_generator_equals_ungated():
    gated = PaSMobileResnetGenerator(**SMALL)
    gated.init_weights()
    plain = PaSMobileResnetGenerator(**SMALL, gate_cfg=None)
    plain.load_state_dict({k: v for k, v in gated.state_dict().items()
                           if k in plain.state_dict()}, strict=True)
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(gated(x), plain(x))
    assert len(gated.gates()) == 1 + 1 + 1 + 3 + 2  # stem, down, res, blocks, up


def test_deploy_equivalence_and_macs():
    gen = PaSMobileResnetGenerator(**SMALL).double()
    gen.init_weights()
    random_masks(gen)
    assert all(g.num_kept() < g.num_channels for g in gen.gates().values())
    updates, state = copy.deepcopy(gen).export_deploy()
    pruned = PaSMobileResnetGenerator(**SMALL, **updates).double()
    pruned.load_state_dict(state, strict=True)
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        assert (gen(x) - pruned(x)).abs().max() <= 1e-8
    # MACs: pas_mm's counter on the gated net == torch's counter (FLOPs / 2)
    # on the deployed net; depth-wise convs cost k*k*H*W per kept channel
    from pas_mm.budget import MACsCounter
    counter, _ = MACsCounter.profile(
        gen, lambda: gen(torch.zeros(1, 3, 32, 32, dtype=torch.float64)),
        gated=gen.gated_layers())
    with FlopCounterMode(display=False) as flops:
        pruned(torch.zeros(1, 3, 32, 32, dtype=torch.float64))
    assert counter.kept_macs() == flops.get_total_flops() / 2
    assert generator_macs(pruned, (3, 32, 32)) == counter.kept_macs()


def test_widths_are_checked():
    with pytest.raises(PaSConfigError, match=r"widths\['blocks'\] must list 3"):
        PaSMobileResnetGenerator(**SMALL, widths=dict(
            stem=8, down=16, res=32, blocks=[8], up=[16, 8]))
    with pytest.raises(PaSConfigError, match='from 1 to its stock width 32'):
        PaSMobileResnetGenerator(**SMALL, widths=dict(
            stem=8, down=16, res=40, blocks=[8] * 3, up=[16, 8]))


def tiny_cfg(work_dir, data_root, **model):
    cfg = Config.fromfile(CONFIG)
    cfg.model.generator.update(SMALL)
    cfg.model.discriminator.base_channels = 8
    cfg.model.input_shape = (3, 32, 32)
    cfg.model.update(model)
    for loader in ('train_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = data_root
    cfg.train_dataloader.batch_size = 1
    cfg.load_from = None
    cfg.work_dir = str(work_dir)
    cfg.train_cfg.max_iters = 2
    cfg.custom_hooks[0].search_iters = 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=2,
                                        by_epoch=False)
    cfg.log_level = 'WARNING'
    return cfg


@pytest.fixture(scope='module')
def unpaired_root(tmp_path_factory):
    """Two tiny unpaired domains (random 32x32 images)."""
    import cv2
    import numpy as np
    root = tmp_path_factory.mktemp('unpaired')
    rng = np.random.default_rng(0)
    for folder in ('trainA', 'trainB', 'testA', 'testB'):
        (root / folder).mkdir()
        for i in range(3):
            cv2.imwrite(str(root / folder / f'{i}.png'),
                        rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    return str(root)


@pytest.mark.parametrize('distill', [None, dict(loss_weight=1.0)])
def test_runner_search_iteration(tmp_path, unpaired_root, distill):
    """A search iteration through the Runner (loss_macs enters the
    generator step, every gate of the compressed generator gets a
    gradient), a fine-tune iteration, deploy of the checkpoint."""
    cfg = tiny_cfg(tmp_path, unpaired_root, distill=distill)
    runner = Runner.from_cfg(cfg)
    model = runner.model
    grads = {}  # of the first (search) iteration

    def record(grad, name):
        grads.setdefault(name, float(grad.abs().sum()))

    for name, gate in model.gates().items():
        gate.weight.register_hook(lambda g, name=name: record(g, name))
    runner.train()
    log = runner.message_hub.log_scalars
    assert 'train/loss_macs' in log and 'train/macs_ratio' in log
    assert ('train/loss_distill' in log) == (distill is not None)
    assert set(grads) == set(model.gates()) and len(grads) == 8
    assert all(g > 0 for g in grads.values())
    assert model.searched  # search_iters=1: fixed before iteration 2
    assert not model.generators['mono'].gates()  # only poly is compressed
    # deploy the saved checkpoint: pruned generator, float64 check
    from pas_mm.deploy import deploy
    cfg_path = osp.join(tmp_path, 'cfg.py')
    cfg.dump(cfg_path)
    report = deploy(cfg_path, osp.join(tmp_path, 'iter_2.pth'),
                    osp.join(tmp_path, 'deploy'), latency_runs=1)
    assert report['max_abs_diff_float64'] <= 1e-8
    assert report['macs']['deployed'] == report['macs']['searched']
    deploy_cfg = Config.fromfile(osp.join(tmp_path, 'deploy/deploy_config.py'))
    assert 'domain_generators' in deploy_cfg.model
    assert not any(h.type == 'PaSSearchHook'
                   for h in deploy_cfg.custom_hooks)


def test_the_gan_registers_its_deploy_step_which_refuses_onnx(tmp_path):
    from pas_mm.deploy import DeployError, deploy
    from pas_mm.deploy.pipeline import DEPLOY_STEPS
    from pas_mm.gan.deploy import deploy_cyclegan
    assert DEPLOY_STEPS['PaSCycleGAN'] is deploy_cyclegan
    out = tmp_path / 'deploy'
    with pytest.raises(DeployError, match='--onnx is not supported for '
                       'PaSCycleGAN'):
        deploy(CONFIG, str(tmp_path / 'none.pth'), str(out), onnx=True)
    assert not out.exists()


def test_unreachable_target_and_missing_generator_gates(tmp_path,
                                                        unpaired_root):
    cfg = tiny_cfg(tmp_path, unpaired_root,
                   macs_loss=dict(type='MACsLoss', target=0.01))
    with pytest.raises(PaSConfigError, match='below .* every gated layer'):
        Runner.from_cfg(cfg)
    cfg = tiny_cfg(tmp_path, unpaired_root)
    cfg.model.generator.gate_cfg = None
    with pytest.raises(PaSConfigError, match=r'nothing is gated \(gate_cfg='
                       r'None\); set macs_loss=None'):
        Runner.from_cfg(cfg)


def test_unpaired_folders_checked_before_training(tmp_path, unpaired_root):
    import shutil
    root = tmp_path / 'data'
    shutil.copytree(unpaired_root, root)
    shutil.rmtree(root / 'trainB')
    train = [sys.executable, osp.join(ROOT, 'tools/train.py'), CONFIG,
             '--work-dir', str(tmp_path / 'w'), '--cfg-options',
             f'data_root={root}', 'load_from=None']
    out = subprocess.run(train, capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2
    assert f'{root}/trainB' in out.stderr.splitlines()[-1]
    (root / 'trainB').mkdir()
    out = subprocess.run(train, capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2
    assert 'no images' in out.stderr.splitlines()[-1]


def test_missing_mmagic_error_names_install_command():
    code = ('import sys; sys.modules["mmagic"] = None\n'
            'try:\n    import pas_mm.gan\n'
            'except ImportError as e:\n    print(e)')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, cwd=ROOT)
    assert 'bash tools/install.sh --with-mmagic' in out.stdout
    assert issubclass(MMagicMissingError, ImportError)


def test_export_generators_refuses_unsearched(tmp_path, unpaired_root):
    from mmagic.registry import MODELS
    cfg = tiny_cfg(tmp_path, unpaired_root)
    model = MODELS.build(cfg.model)
    with pytest.raises(RuntimeError, match='gates are not fixed'):
        export_generators(model)
