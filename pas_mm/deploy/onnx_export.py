"""ONNX export of a deployed model, run in onnxruntime and checked
against torch on the same input."""
from typing import Sequence

import torch
from torch import nn

from ..ops import raw_forward
from .verify import flatten_outputs, measure_latency

ONNX_INSTALL = 'pip install "onnx==1.23.2" "onnxruntime==1.32.0" "numpy<2"'


class RawForward(nn.Module):
    """Traceable deploy-time forward of a classifier or detector: every
    output tensor of :func:`raw_forward` (logits, or each head's raw
    outputs), in a flat tuple."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return tuple(flatten_outputs(raw_forward(self.model, x)))


class OnnxError(RuntimeError):
    """The ONNX export or its check failed (message says why)."""


def export_onnx(model: nn.Module, input_shape: Sequence[int], path: str,
                atol: float = 1e-4, opset: int = 17,
                latency_runs: int = 10) -> dict:
    """Export ``model`` (eval, float32) to ``path`` and check onnxruntime.

    Args:
        input_shape: (C, H, W); exported with batch 1.
        atol: largest accepted absolute difference between onnxruntime's
            and torch's outputs.

    Returns:
        dict(max_abs_diff=..., outputs=n, latency_ms=onnxruntime median).

    Raises:
        OnnxError: onnx/onnxruntime missing (naming the install command),
            the export failed, or the outputs differ by more than ``atol``.
    """
    try:
        import onnxruntime
    except ImportError as e:
        raise OnnxError(f'--onnx needs onnx and onnxruntime: '
                        f'{ONNX_INSTALL}') from e
    wrapped = RawForward(model).eval()
    x = torch.randn(1, *input_shape,
                    generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = wrapped(x)
    try:
        torch.onnx.export(wrapped, (x, ), path, dynamo=False,
                          opset_version=opset, input_names=['input'])
    except Exception as e:  # tracing and symbolic errors of many types
        first = str(e).strip().splitlines()[0] if str(e).strip() else ''
        raise OnnxError(f'ONNX export failed ({type(e).__name__}: '
                        f'{first})') from e
    session = onnxruntime.InferenceSession(
        path, providers=['CPUExecutionProvider'])
    feed = {'input': x.numpy()}
    got = session.run(None, feed)
    if len(got) != len(expected):
        raise OnnxError(f'ONNX model has {len(got)} outputs, torch '
                        f'{len(expected)}')
    diff = max((float((torch.from_numpy(g).double() - t.double()).abs().max())
                for g, t in zip(got, expected) if t.numel()), default=0.)
    if not diff <= atol:
        raise OnnxError(f'onnxruntime outputs differ from torch: max abs '
                        f'diff {diff:.3g} > {atol}')
    return dict(max_abs_diff=diff, outputs=len(got),
                latency_ms=measure_latency(lambda: session.run(None, feed),
                                           runs=latency_runs))
