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
