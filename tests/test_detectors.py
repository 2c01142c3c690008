"""PaS on stock mmdet detectors: build, one search step, exact deploy, MACs."""
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT, independent_macs
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmengine.structures import InstanceData

from pas_mm.deploy import count_macs
from pas_mm.deploy.pipeline import export_verified
from pas_mm.ops.raw_forward import detector_data_samples

SIZE = 64
# stock config, gate_neck, gate_heads, test_cfg changes (speed; keep the
# low scores of random weights)
DETECTORS = {
    'mask-rcnn': ('mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py', False, True,
                  dict(rpn=dict(max_per_img=50), rcnn=dict(score_thr=0.))),
    'solov2': ('solov2/solov2_r50_fpn_1x_coco.py', False, False,
               dict(score_thr=0.)),
    'retinanet': ('retinanet/retinanet_r50_fpn_1x_coco.py', True, True,
                  dict(score_thr=0.)),
    'yolact': ('yolact/yolact_r50_1xb8-55e_coco.py', True, True,
               dict(score_thr=0.)),
}


def build(name, tmp_path, **kwargs):
    base, neck, heads, changes = DETECTORS[name]
    cfg_file = osp.join(tmp_path, 'cfg.py')
    with open(cfg_file, 'w') as f:
        f.write(f"_base_ = ['mmdet::{base}']\n")
    cfg = Config.fromfile(cfg_file)
    cfg.merge_from_dict({f'model.test_cfg.{k}': v
                         for k, v in changes.items()})
    arch = cfg.model
    init_default_scope('mmdet')
    return MODELS.build(dict(
        type='PaSModel', architecture=arch, backbone=dict(type='PaSResNet'),
        gate_neck=neck, gate_heads=heads,
        macs_loss=dict(type='MACsLoss', target=0.99, loss_weight=1.0),
        input_shape=(3, SIZE, SIZE), **kwargs))


def train_batch():
    """Two images with one box + mask each, as a data loader gives them."""
    from mmdet.structures.mask import BitmapMasks
    inputs = torch.randn(2, 3, SIZE, SIZE)
    samples = detector_data_samples(inputs)
    mask = np.zeros((1, SIZE, SIZE), np.uint8)
    mask[0, 12:52, 8:40] = 1
    for s in samples:
        s.gt_instances = InstanceData(
            bboxes=torch.tensor([[8., 12., 40., 52.]]),
            labels=torch.tensor([3]), masks=BitmapMasks(mask, SIZE, SIZE))
    return inputs, samples


@pytest.mark.parametrize('name', list(DETECTORS))
def test_detector_searches_and_deploys_exactly(name, tmp_path):
    torch.manual_seed(0)
    model = build(name, tmp_path)
    # one search step reaches the gates through the task and MACs losses
    model.train()
    losses = model(*train_batch(), mode='loss')
    assert 'loss_macs' in losses
    total = sum(v.sum() for k, v in losses.items() if 'loss' in k
                for v in (v if isinstance(v, list) else [v]))
    total.backward()
    gates = model.gates()
    assert all(g.weight.grad is not None for g in gates.values())
    # prune a third of every gate, then deploy
    with torch.no_grad():
        for g in gates.values():
            g.weight[::3] = 0.
    model.fix_gates()
    model.eval()
    cfg, state, deployed, diffs = export_verified(model)
    assert diffs['max_abs_diff_float64'] <= 1e-8
    kept = model.counter.kept_macs()
    assert kept < model.macs_full
    assert count_macs(deployed, model.input_shape) == pytest.approx(kept)
    assert independent_macs(deployed, model.input_shape) == pytest.approx(kept, rel=1e-6)
    neck, heads = DETECTORS[name][1:3]
    assert (cfg['type'] == 'PaSNarrowed') == (neck or heads)
    # post-processing (NMS, YOLACT's num_protos reshape) agrees too (mmcv's
    # NMS is float32 only; SOLOv2's mask scores move by < 1% when a pixel
    # at the 0.5 mask threshold flips on float32 rounding)
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        a, = model.architecture.predict(x, detector_data_samples(x))
        b, = deployed.predict(x, detector_data_samples(x))
    a, b = a.pred_instances, b.pred_instances
    assert len(a) == len(b) > 0
    torch.testing.assert_close(a.scores, b.scores, atol=1e-2, rtol=0)


def run_count_macs(*args):
    return subprocess.run([sys.executable, 'tools/count_macs.py', *args],
                          cwd=ROOT, capture_output=True, text=True)


def test_count_macs_reports_the_reach_of_neck_and_head_gates():
    proc = run_count_macs('configs/pas_yolact_neck_head.py',
                          '--cfg-options', 'model.gate_heads=True')
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = {line[:34].strip(): float(line.split()[-1].rstrip('%'))
             for line in proc.stdout.splitlines()[1:]}
    assert lines['full'] == 100.0 and lines['target'] == 50.0
    assert lines['reachable, all gates'] < 15.0  # neck + heads gated
    assert lines['reachable, backbone gates only'] > 50.0
    assert 'neck 1, bbox_head 1, mask_head 5' in proc.stdout


def test_unknown_head_name_is_refused():
    proc = run_count_macs('configs/pas_yolact_neck_head.py',
                          '--cfg-options', 'model.gate_heads=[box_head]')
    assert proc.returncode == 1
    assert "gate_heads: unknown heads ['box_head']" in proc.stderr


def test_neck_gating_under_a_roi_head_is_refused_at_build():
    proc = run_count_macs('configs/detectors/pas_mask-rcnn_r50_fpn_1x_coco.py',
                          '--cfg-options', 'model.gate_neck=True')
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith(
        'count_macs: error: gate_neck: the neck feeds roi_head '
        '(StandardRoIHead)')
