"""Configs inherit mmpretrain's through _base_ and load pas_mm by custom_imports."""
import os.path as osp

import pytest
from conftest import ROOT
from mmengine.config import Config
from mmengine.registry import MODELS

from pas_mm import PaSSearchHook


def load(name):
    return Config.fromfile(osp.join(ROOT, 'configs', name))


def test_imagenet_repvgg_config_inherits_mmpretrain():
    cfg = load('pas_repvgg_a0_8xb32_in1k.py')
    assert cfg.custom_imports == dict(imports=['pas_mm'],
                                      allow_failed_imports=False)
    arch = cfg.model.architecture
    # from mmpretrain's repvgg-A0 config, untouched
    assert arch.type == 'ImageClassifier' and arch.backbone.arch == 'A0'
    assert arch.head.in_channels == 1280 and arch.head.num_classes == 1000
    assert cfg.train_dataloader.dataset.type == 'ImageNet'
    # mmpretrain's paramwise keys survive next to the gate key
    keys = cfg.optim_wrapper.paramwise_cfg.custom_keys
    assert {'branch_3x3.norm', '.gate'} <= set(keys)
    assert cfg.train_cfg.max_epochs == 60
    model = MODELS.build(cfg.model)
    assert type(model.architecture.backbone).__name__ == 'PaSRepVGG'
    assert len(model.gates()) == 22  # stem + 2+4+14+1 blocks
    assert model.macs_full == pytest.approx(1.36e9, rel=0.01)


def test_demo_config_inherits_the_imagenet_pas_config():
    cfg = load('pas_repvgg_digits.py')
    assert cfg.custom_imports.imports == ['pas_mm']
    assert cfg.model.backbone.type == 'PaSRepVGG'  # from the parent config
    assert cfg.model.architecture.neck.type == 'GlobalAveragePooling'
    assert cfg.model.architecture.head.num_classes == 10
    assert cfg.train_dataloader.dataset.type == 'CustomDataset'
    assert cfg.custom_hooks[0].search_epochs == 3


def test_resnet_config_builds_with_gated_bottlenecks():
    cfg = load('pas_resnet50_8xb32_in1k.py')
    model = MODELS.build(cfg.model)
    assert len(model.gates()) == 2 * 16
    assert model.macs_target == 2e9


def test_hook_arguments_and_model_are_checked():
    with pytest.raises(ValueError, match='not both'):
        PaSSearchHook(search_epochs=1, search_iters=10)
    with pytest.raises(ValueError, match='search_epochs=-1'):
        PaSSearchHook(search_epochs=-1)

    class FakeRunner:
        model = MODELS.build(load('pas_repvgg_digits.py').model.architecture)

    with pytest.raises(TypeError, match="needs the model to be wrapped"):
        PaSSearchHook().before_train(FakeRunner())


@pytest.mark.parametrize('name, classes, size', [
    ('pas_repvgg_animals.py', 10, 32), ('pas_repvgg_elpv.py', 4, 32)])
def test_real_data_configs_search_from_pretrained_and_test_on_test(
        name, classes, size):
    cfg = load(name)
    assert cfg.load_from.endswith('pretrained.pth')
    assert cfg.test_dataloader.dataset.data_prefix == 'test'
    assert cfg.val_dataloader.dataset.data_prefix == 'val'
    assert cfg.model.architecture.head.num_classes == classes
    assert cfg.data_preprocessor.num_classes == classes
    assert tuple(cfg.model.input_shape) == (3, size, size)
    hook = cfg.custom_hooks[0]
    assert hook.type == 'PaSSearchHook' and hook.search_epochs == 2
    assert cfg.train_cfg.max_epochs == 5 == cfg.param_scheduler.T_max


def test_pas_model_builds_twice_and_loads_a_plain_checkpoint():
    """The wrapped model's own checkpoint (no 'architecture.' keys, no
    gates, as a model zoo file) loads into PaSModel; gates stay open."""
    import torch
    cfg = load('pas_repvgg_digits.py').model
    first = MODELS.build(cfg)
    second = MODELS.build(cfg)  # the config is not consumed by a build
    plain = {k: v for k, v in first.architecture.state_dict().items()
             if '.gate.' not in k}
    plain = {k: v + 1 if v.is_floating_point() else v
             for k, v in plain.items()}
    result = second.load_state_dict(plain, strict=False)
    assert not result.unexpected_keys
    assert result.missing_keys and all('.gate.' in k
                                       for k in result.missing_keys)
    state = second.architecture.state_dict()
    assert all(torch.equal(state[k], v) for k, v in plain.items())
    assert not second.searched and all(
        g.num_kept() == g.num_channels for g in second.gates().values())
    with pytest.raises(ValueError, match='snap_tol=1.5 must be in'):
        PaSSearchHook(snap_tol=1.5)
