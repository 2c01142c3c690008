"""Output equivalence, MACs, params and CPU latency of a model."""
import time
from typing import Callable, List, Optional

import torch
from mmengine.structures import BaseDataElement
from torch import nn

from ..budget import MACsCounter
from ..ops import raw_forward


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


def _leaf_outputs(models, run: Callable[[nn.Module], object]) -> List[dict]:
    """Per model, path -> the first output tensor of each leaf module (None
    for a non-tensor output), in call order, from one ``run(model)``."""
    outputs = [{} for _ in models]
    handles = []

    def record(out, path):
        def hook(module, inputs, output):
            # returns None: a value returned would replace the output (of a
            # module called again, e.g. a block's shared ReLU)
            out.setdefault(path, output if isinstance(output, torch.Tensor)
                           else None)
        return hook

    for model, out in zip(models, outputs):
        for path, m in model.named_modules():
            if not list(m.children()):
                handles.append(m.register_forward_hook(record(out, path)))
    try:
        with torch.no_grad():
            for model in models:
                run(model)
    finally:
        for h in handles:
            h.remove()
    return outputs


def first_nonfinite_layer(model: nn.Module,
                          run: Callable[[nn.Module], object]
                          ) -> Optional[str]:
    """The first leaf layer, in call order, whose output holds NaN or inf,
    as ``'path (Type)'``; None if none."""
    out, = _leaf_outputs([model], run)
    for path, t in out.items():
        if t is not None and t.is_floating_point() and \
                not bool(torch.isfinite(t).all()):
            return f'{path} ({type(model.get_submodule(path)).__name__})'
    return None


def first_divergent_layer(gated: nn.Module, deployed: nn.Module,
                          run: Callable[[nn.Module], object],
                          keep: Callable[[str], Optional[torch.Tensor]],
                          atol: float) -> Optional[str]:
    """The first layer, in call order, whose deployed output differs from
    the gated one by more than ``atol``, as ``'path (Type)'``; None if none.

    Both models run once (``run(model)``); the gated output is taken at the
    kept channels ``keep(path)`` (dim 1, a linear layer's last dim; None:
    all), leaf modules only, first call of each.
    """
    outputs = _leaf_outputs((gated, deployed), run)
    for path, b in outputs[1].items():
        a = outputs[0].get(path)
        if a is None or b is None:
            continue
        m = gated.get_submodule(path)
        k = keep(path)
        if k is not None:
            a = a.index_select(-1 if isinstance(m, nn.Linear) else 1,
                               k.nonzero().flatten().to(a.device))
        if a.shape == b.shape and not float((a - b).abs().max()) <= atol:
            return f'{path} ({type(m).__name__})'
    return None


def failing_module(error: BaseException, model: nn.Module) -> str:
    """The innermost module of ``model`` in whose code ``error`` was
    raised, as ``'path (Type)'`` (``'the model'`` if none)."""
    names = {id(m): n for n, m in model.named_modules()}
    tb, found = error.__traceback__, None
    while tb is not None:
        owner = tb.tb_frame.f_locals.get('self')
        if isinstance(owner, nn.Module) and id(owner) in names:
            found = owner
        tb = tb.tb_next
    if found is None:
        return 'the model'
    path = names[id(found)] or type(found).__name__
    return f'{path} ({type(found).__name__})'


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
