"""Output equivalence, MACs, params and CPU latency of a model."""
import time
from typing import Callable, List

import torch
from mmengine.structures import BaseDataElement
from torch import nn

from ..models import MACsCounter, raw_forward


def flatten_outputs(obj) -> List[torch.Tensor]:
    """All tensors in nested outputs (tuples, dicts, data samples)."""
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, BaseDataElement):
        obj = dict(obj.items())
    if isinstance(obj, dict):
        return [t for k in sorted(obj) for t in flatten_outputs(obj[k])]
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in flatten_outputs(o)]
    return []


def max_abs_diff(a, b) -> float:
    """Largest absolute difference between two nested outputs.

    Raises:
        RuntimeError: the outputs differ in structure or shape.
    """
    ta, tb = flatten_outputs(a), flatten_outputs(b)
    if len(ta) != len(tb) or any(x.shape != y.shape for x, y in zip(ta, tb)):
        raise RuntimeError(
            'outputs differ in structure: '
            f'{[tuple(t.shape) for t in ta]} vs {[tuple(t.shape) for t in tb]}')
    return max((float((x.double() - y.double()).abs().max()) if x.numel()
                else 0. for x, y in zip(ta, tb)), default=0.)


def count_macs(model: nn.Module, input_shape) -> float:
    """Conv + FC MACs of one deploy-time forward (batch 1, ``(C, H, W)``)."""
    x = torch.zeros(1, *input_shape)
    return MACsCounter.profile(model, lambda: raw_forward(model, x))[0].full()


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def measure_latency(run: Callable[[], object], warmup: int = 3,
                    runs: int = 10) -> float:
    """Median wall time of ``run()`` in milliseconds."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    return sorted(times)[len(times) // 2]
