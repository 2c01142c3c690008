"""deploy_reparam --onnx: export, onnxruntime run, check against torch."""
import os
import sys

import pytest
import torch
from conftest import ROOT, randomize, tiny_repvgg_classifier
from mmengine.config import Config
from mmengine.registry import MODELS

from pas_mm.deploy import (ONNX_INSTALL, DeployError, OnnxError,
                           build_deployed, deploy, export_deploy, export_onnx)

pytest.importorskip('onnxruntime', reason=f'optional extra: {ONNX_INSTALL}')
CONFIG = os.path.join(ROOT, 'configs/pas_repvgg_digits.py')


def searched(arch, shape):
    model = randomize(MODELS.build(dict(type='PaSModel', architecture=arch,
                                        input_shape=shape)))
    model.fix_gates()
    return model.eval()


def test_classifier_onnx_matches_torch(tmp_path):
    cfg, state = export_deploy(searched(tiny_repvgg_classifier(),
                                        (3, 32, 32)))
    result = export_onnx(build_deployed(cfg, state).eval(), (3, 32, 32),
                         str(tmp_path / 'm.onnx'), latency_runs=2)
    assert result['outputs'] == 1 and result['max_abs_diff'] <= 1e-4
    assert (tmp_path / 'm.onnx').stat().st_size > 100_000


# the number of raw outputs the deploy check compares
@pytest.mark.parametrize('name, outputs', [
    ('retinanet', 10), ('solov2', 1), ('yolact', 11)])
def test_detector_raw_head_outputs_in_onnx(name, outputs, tmp_path):
    sys.path.insert(0, os.path.dirname(__file__))
    from test_detectors import build
    model = randomize(build(name, str(tmp_path)))
    model.fix_gates()
    cfg, state = export_deploy(model.eval())
    result = export_onnx(build_deployed(cfg, state).eval(), (3, 64, 64),
                         str(tmp_path / 'det.onnx'), latency_runs=2)
    assert result['outputs'] == outputs
    assert result['max_abs_diff'] <= 1e-4


def test_onnx_over_tolerance_fails(tmp_path):
    cfg, state = export_deploy(searched(tiny_repvgg_classifier(),
                                        (3, 32, 32)))
    with pytest.raises(OnnxError, match=r'onnxruntime outputs differ from '
                       r'torch: max abs diff .* > 0.0'):
        export_onnx(build_deployed(cfg, state).eval(), (3, 32, 32),
                    str(tmp_path / 'm.onnx'), atol=0.)


def test_without_onnxruntime_the_torch_deploy_is_still_written(
        tmp_path, monkeypatch):
    model = randomize(MODELS.build(Config.fromfile(CONFIG).model))
    model.fix_gates()
    ckpt = tmp_path / 'searched.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    monkeypatch.setitem(sys.modules, 'onnxruntime', None)  # import fails
    out = tmp_path / 'deploy'
    with pytest.raises(DeployError) as e:
        deploy(CONFIG, str(ckpt), str(out), onnx=True, latency_runs=1)
    assert str(e.value) == (f'--onnx needs onnx and onnxruntime: '
                            f'{ONNX_INSTALL}; the torch deploy is written '
                            f'to {out}')
    assert sorted(os.listdir(out)) == [
        'deploy.pth', 'deploy_config.py', 'pas_subnet.json', 'report.json']
