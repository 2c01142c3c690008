"""What a DBC-gated backbone declares so it can be counted and deployed."""
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

from ...ops import DBCGate

GatePair = Tuple[Optional[DBCGate], Optional[DBCGate]]


def gate_or_none(num_channels: int, gate_cfg: Optional[dict]):
    """A :class:`DBCGate` built from ``gate_cfg``, or None when it is None."""
    return None if gate_cfg is None else DBCGate(num_channels, **gate_cfg)


def slice_channels(t: torch.Tensor, out_mask=None, in_mask=None):
    """Keep output channels (dim 0) and input channels (dim 1) by bool masks."""
    if out_mask is not None:
        t = t[out_mask]
    if in_mask is not None and t.dim() > 1:
        t = t[:, in_mask]
    return t.contiguous()


class OutputGateMixin:
    """A block (first base after this one) with a :class:`DBCGate` on its
    output, built from ``gate_cfg`` (None: no gate).

    The gate sits after the sum of the block's branches and its activation
    (which commutes with a 0/1 mask), so the output width is free once the
    branches are fused into one conv.
    """

    def __init__(self, *args, gate_cfg: Optional[dict] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.gate = gate_or_none(self.out_channels, gate_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        return out if self.gate is None else self.gate(out)


class GatedBackboneMixin:
    """Interface of a backbone with explicitly declared DBC gates.

    A gated backbone tells the MACs counter which layers its gates control
    and which layers disappear at deploy, tells the deploy step which gate
    sits on each output, and exports its own pruned, fused weights.
    """

    def gates(self) -> Dict[str, DBCGate]:
        """Gates by module path inside the backbone."""
        return {n: m for n, m in self.named_modules()
                if isinstance(m, DBCGate)}

    def layer_widths(self) -> Dict[str, int]:
        """Built output width of every prunable layer, keyed by the path its
        gate has (or would have) in :meth:`gates`, in forward order; the
        same keys in the gated and in the deploy form."""
        raise NotImplementedError

    def gated_layers(self) -> Dict[nn.Module, GatePair]:
        """Layer -> (gate on its input channels, gate on its output)."""
        raise NotImplementedError

    def fused_away(self) -> List[nn.Module]:
        """Layers that no longer exist after deploy (not counted in MACs)."""
        return []

    def output_gates(self) -> List[Optional[DBCGate]]:
        """The gate on each output of ``forward`` (None: not gated)."""
        raise NotImplementedError

    def export_deploy(self) -> Tuple[dict, Dict[str, torch.Tensor]]:
        """Pruned deploy form: (backbone cfg updates, state dict).

        The state dict keys are relative to the backbone and load into
        ``type(self)(**cfg, **updates)`` with ``strict=True``.
        """
        raise NotImplementedError
