"""The CUDA path: gates, MACs counter, search hook, deploy check and latency
tables on a GPU, against the CPU where the two must agree.

Skipped where torch sees no CUDA device. On a GPU machine without network,
``bash tools/gpu/run_cuda_tests.sh`` installs the wheels carried there
(``tools/gpu/fetch_wheels.sh`` downloads them) and runs ``pytest -m cuda``.
"""
import json

import mmengine.runner.runner as mm_runner
import pytest
import torch
from conftest import tiny_repvgg_classifier
from mmengine.registry import MODELS
from mmengine.runner import Runner

from pas_mm.deploy import count_macs, deploy, export_verified
from pas_mm.budget.latency_table import LatencyTable
from test_latency import check_one_layer_table
from test_search_runner import CONFIG, digits_cfg

DEVICE = 'cuda'
pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason='needs a CUDA device (torch.cuda.is_available() is False); '
        'on a GPU machine: bash tools/gpu/run_cuda_tests.sh'),
]


@pytest.fixture(scope='module')
def runs(digits_root, tmp_path_factory):
    """The digits demo, 1 search epoch (2 iterations, then the snap to the
    target) + 1 fine-tune epoch, through the Runner on the CPU and on
    ``DEVICE`` from the same seed; plain float32 on the GPU (no TF32), so
    both agree to rounding."""
    tf32 = (torch.backends.cudnn.allow_tf32,
            torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    out = {}
    try:
        for device in ('cpu', DEVICE):
            work_dir = tmp_path_factory.mktemp(f'search_{device}')
            cfg = digits_cfg(digits_root, work_dir, search_epochs=1,
                             max_epochs=2)
            cfg.train_dataloader.dataset.indices = 64
            cfg.val_dataloader.dataset.indices = 32
            with pytest.MonkeyPatch.context() as mp:  # the Runner's device
                mp.setattr(mm_runner, 'get_device', lambda d=device: d)
                runner = Runner.from_cfg(cfg)
                runner.train()
            out[device] = runner, work_dir
    finally:
        (torch.backends.cudnn.allow_tf32,
         torch.backends.cuda.matmul.allow_tf32) = tf32
    return out


def test_search_on_cuda_gives_the_masks_and_macs_of_the_cpu_run(runs):
    (cpu, cpu_dir), (gpu, gpu_dir) = runs['cpu'], runs[DEVICE]
    assert next(gpu.model.parameters()).device.type == DEVICE
    assert cpu.model.searched and gpu.model.searched
    cpu_gates, gpu_gates = cpu.model.gates(), gpu.model.gates()
    assert list(cpu_gates) == list(gpu_gates)
    for name, gate in gpu_gates.items():
        assert gate.weight.device.type == DEVICE
        torch.testing.assert_close(gate.weight.detach().cpu(),
                                   cpu_gates[name].weight.detach(),
                                   atol=1e-4, rtol=0)
        assert torch.equal(gate.hard_mask().cpu(),
                           cpu_gates[name].hard_mask()), name
    macs = gpu.model.counter.kept_macs()
    assert macs == cpu.model.counter.kept_macs()
    assert float(gpu.model.counter.macs().detach()) == pytest.approx(
        macs, rel=1e-6)
    assert abs(macs / gpu.model.macs_target - 1) <= 0.01  # snapped
    for key in ('train/loss', 'train/macs_ratio'):
        on_cpu, on_gpu = (r.message_hub.get_scalar(key).data[0]
                          for r in (cpu, gpu))
        assert on_gpu == pytest.approx(on_cpu, rel=1e-4), key
    subnets = [json.loads((d / 'pas_subnet.json').read_text())
               for d in (cpu_dir, gpu_dir)]
    assert subnets[0]['layers'] == subnets[1]['layers']


def test_deploy_check_on_cuda_and_of_the_cuda_checkpoint(runs, digits_root,
                                                         tmp_path):
    gpu, work_dir = runs[DEVICE]
    model = gpu.model
    _, _, deployed, diffs = export_verified(model)
    assert next(deployed.parameters()).device.type == DEVICE
    assert diffs['max_abs_diff_float64'] <= 1e-8
    assert diffs['max_abs_diff'] <= 1e-4
    assert count_macs(deployed.cpu(), model.input_shape) == \
        model.counter.kept_macs()
    # trained on the GPU, deployed by the tool (on the CPU)
    report = deploy(CONFIG, str(work_dir / 'epoch_2.pth'),
                    str(tmp_path / 'deploy'), latency_runs=2,
                    cfg_options={'data_root': digits_root})
    assert report['max_abs_diff_float64'] <= 1e-8
    assert report['macs']['deployed'] == model.counter.kept_macs()


def test_a_latency_table_of_one_layer_on_cuda(tmp_path):
    table = LatencyTable(str(tmp_path / 't.json'), DEVICE, grid=2,
                         min_run_time=0.001)
    assert table.name.startswith(f'cuda: {torch.cuda.get_device_name()}')
    check_one_layer_table(table)
    (name, tables), = json.loads((tmp_path / 't.json').read_text()).items()
    assert name == table.name and len(tables) == 1


def test_latency_loss_on_cuda_predicts_differentiably_and_times_deployed(
        tmp_path):
    model = MODELS.build(dict(
        type='PaSModel', architecture=tiny_repvgg_classifier(),
        input_shape=(3, 32, 32),
        macs_loss=dict(type='LatencyLoss', target=0.5, device=DEVICE,
                       table_file=str(tmp_path / 'tables.json'), grid=2,
                       min_run_time=0.001))).to(DEVICE)
    assert model.budget.full() > model.budget_target > 0
    losses = model.macs_losses()
    assert losses['loss_latency'].device.type == DEVICE
    losses['loss_latency'].backward()
    for gate in model.gates().values():
        assert gate.weight.grad.device.type == DEVICE
        assert bool(torch.isfinite(gate.weight.grad).all())
    g = torch.Generator().manual_seed(0)
    masks = {gate: torch.rand(gate.num_channels, generator=g) > 0.5
             for gate in model.gates().values()}
    for gate, mask in masks.items():
        mask[:gate.min_keep] = True
    full_ms, ms = model.deployed_latency(model.macs_loss.table, masks)
    assert full_ms > 0 and ms > 0
