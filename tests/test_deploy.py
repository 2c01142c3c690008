import pytest
import torch
from conftest import randomize, resnet_classifier, tiny_repvgg_classifier
from mmengine.registry import MODELS
from torch import nn

from pas_mm.deploy import build_deployed, export_deploy, max_abs_diff


def searched_model(arch, shape, seed=0):
    model = MODELS.build(dict(type='PaSModel', architecture=arch,
                              input_shape=shape))
    randomize(model, seed)
    model.fix_gates()
    return model.eval()


def assert_equivalent(model, deployed, shape):
    x = torch.randn(4, *shape)
    with torch.no_grad():
        diff = max_abs_diff(model.architecture(x, mode='tensor'),
                            deployed(x, mode='tensor'))
    assert diff <= 1e-4


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_repvgg_deploy_equivalence_with_random_masks(seed):
    model = searched_model(tiny_repvgg_classifier(), (3, 32, 32), seed)
    cfg, state = export_deploy(model)
    widths = cfg['backbone']['widths']
    expected = [g.num_kept() for g in model.gates().values()]
    assert widths == expected
    # consecutive blocks of a stage now differ in width: only possible
    # because the identity branch was fused into the 3x3 conv
    assert widths[2] != widths[3] or widths[4] != widths[5]
    assert cfg['head']['in_channels'] == widths[-1]
    deployed = build_deployed(cfg, state)
    assert not any('gate' in k for k in deployed.state_dict())
    assert all(hasattr(b, 'branch_reparam') and not hasattr(b, 'branch_3x3')
               for b in deployed.backbone.blocks())
    assert_equivalent(model, deployed, (3, 32, 32))


@pytest.mark.parametrize('depth, backbone', [
    (18, {}), (50, {}), (50, dict(deep_stem=True, avg_down=True))])
def test_resnet_deploy_equivalence_with_random_masks(depth, backbone):
    arch = resnet_classifier(depth)
    arch['backbone'].update(backbone)
    model = searched_model(arch, (3, 64, 64))
    cfg, state = export_deploy(model)
    blocks = model.architecture.backbone.blocks()
    assert cfg['backbone']['mid_widths'] == [
        [g.num_kept() for g in b.inner_gates()] for b in blocks]
    assert cfg['backbone']['fold_bn']
    deployed = build_deployed(cfg, state)
    assert deployed.backbone.layer1[0].conv2.in_channels == \
        blocks[0].gate1.num_kept()
    # BN folded into the convs: no norm layer is left (stem, blocks,
    # downsample), every conv has a bias
    assert not any(isinstance(m, torch.nn.BatchNorm2d)
                   for m in deployed.backbone.modules())
    convs = [m for m in deployed.backbone.modules()
             if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.bias is not None for c in convs)
    assert_equivalent(model, deployed, (3, 64, 64))


def test_export_refuses_unsearched_model():
    model = MODELS.build(dict(type='PaSModel',
                              architecture=tiny_repvgg_classifier(),
                              input_shape=(3, 32, 32)))
    with pytest.raises(RuntimeError, match='has not been searched'):
        export_deploy(model)


def test_deploy_runs_the_step_a_package_registered_for_its_model_type(
        tmp_path, monkeypatch):
    from pas_mm.deploy import deploy, pipeline
    calls = []

    def step(cfg, checkpoint, out_dir, **kwargs):
        calls.append((cfg.model.type, checkpoint, out_dir, kwargs))
        return dict(done=True)

    monkeypatch.setitem(pipeline.DEPLOY_STEPS, 'OtherModel', step)
    config = tmp_path / 'cfg.py'
    config.write_text("model = dict(type='OtherModel')\n")
    out = str(tmp_path / 'out')
    assert deploy(str(config), 'c.pth', out, onnx=True) == dict(done=True)
    assert calls == [('OtherModel', 'c.pth', out,
                      dict(atol=1e-4, latency_runs=10, onnx=True))]


def test_to_dtype_moves_a_modules_own_dtype_attribute():
    """A module that builds a tensor in its own ``self.dtype`` (EdgeNeXt's
    Fourier position encoding) runs in float64 after ``to_dtype``, which
    the exact float64 deploy check needs (it crashed with 'Input type
    (float) and bias type (double)')."""
    from pas_mm.deploy.export import to_dtype

    class PositionEncoding(nn.Module):
        def __init__(self):
            super().__init__()
            self.dtype = torch.float32
            self.proj = nn.Conv2d(2, 2, 1)

        def forward(self, x):
            return x + self.proj(torch.ones(1, 2, 3, 3, dtype=self.dtype))

    m = to_dtype(PositionEncoding(), torch.float64)
    assert m.dtype == torch.float64 and m.proj.weight.dtype == torch.float64
    assert m(torch.zeros(1, 2, 3, 3, dtype=torch.float64)).dtype == \
        torch.float64


def test_build_deployed_loads_strictly_but_lets_a_load_hook_drop_keys():
    """Swin-v2's load pre-hook deletes the relative position index it
    re-creates: given keys a model's own hook removes do not fail the
    load (they crashed the deploy); a key missing from the state does."""
    from pas_mm.deploy.export import build_deployed

    @MODELS.register_module(force=True)
    class IndexNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 1)
            self.register_buffer('index', torch.arange(4))
            self._register_load_state_dict_pre_hook(self._drop_index)

        def _drop_index(self, state_dict, prefix, *args):
            state_dict.pop(prefix + 'index', None)

    state = IndexNet().state_dict()
    assert build_deployed(dict(type='IndexNet'), state).index.tolist() == [
        0, 1, 2, 3]
    del state['conv.bias']
    with pytest.raises(RuntimeError, match=r"missing keys \['conv.bias'\]"):
        build_deployed(dict(type='IndexNet'), state)
