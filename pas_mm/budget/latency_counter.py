"""Differentiable latency of a gated model, from per-layer latency tables."""
from typing import Callable, Dict, List, Optional, Sequence

import torch
from mmengine.dist import broadcast_object_list, get_rank, get_world_size
from torch import nn

from ..ops import DBCGate
from .latency_table import Grid, LatencyTable, interpolate
from .macs_counter import MACsCounter, MACsEntry, kept_counts
from ..ops.raw_forward import raw_forward


def gates_of(counter: MACsCounter) -> List[DBCGate]:
    """The gates the counter's layers read, in order, once each."""
    gates = {}
    for e in counter.entries:
        for g in (e.in_gate, e.out_gate):
            if g is not None:
                gates[g] = None
    return list(gates)


class LatencyCounter:
    """Predicted latency (ms) of the deployed model, from its DBC gates.

    ``latency = overhead + scale * sum over layers of table(kept in, kept
    out)``: each conv/linear layer of the MACs counter (the deploy
    structure) reads its table at the widths its gates keep. ``overhead``
    (what the tables miss: the other ops, the calls between layers) and
    ``scale`` (a layer inside the model against alone, and the machine's
    drift since the tables were measured) are fitted to two deployed
    models timed in turns: every channel kept, and every gate at half its
    width. It has the budget interface of :class:`MACsCounter` (``cost``,
    ``cost_of``, ``kept_cost``, ``full``, ``minimum``, ``format``), so the
    loss, the snap to the target and the divisor rounding work on it.
    """

    name = 'latency'

    def __init__(self, entries: List[MACsEntry], grids: List[List[Grid]],
                 overhead: float = 0., scale: float = 1.):
        self.entries = entries
        self.grids = grids
        self.overhead = overhead
        self.scale = scale

    @classmethod
    def build(cls, counter: MACsCounter, table: LatencyTable,
              model_key: str,
              deployed_with: Callable[[Optional[dict]], nn.Module],
              input_shape: Sequence[int]):
        """Tables of every layer of ``counter`` (measured where missing),
        fitted to the full and the half-width deployed model
        (``deployed_with(None)``, ``deployed_with(masks)``, run by
        :func:`raw_forward` on ``input_shape`` inputs), whose times are
        cached under ``model_key``. Under DDP rank 0 measures and the
        others receive its numbers, so every rank predicts the same."""
        data = [None]
        if get_rank() == 0:
            grids = [table.layer_grids(e) for e in counter.entries]
            half = {g: torch.arange(g.num_channels) < max(
                g.min_keep, g.num_channels // 2) for g in gates_of(counter)}
            x = torch.randn(table.batch_size, *input_shape)

            def measure():
                full_ms, half_ms = table.time_modules(
                    [deployed_with(None), deployed_with(half)], x,
                    run=raw_forward)
                return dict(full_ms=full_ms, half_ms=half_ms)

            ref, = table.lookup([f'model {model_key}'], [measure])
            data = [(grids, ref, {g: int(m.sum()) for g, m in half.items()})]
        if get_world_size() > 1:
            broadcast_object_list(data, src=0)
        grids, ref, half_widths = data[0]
        layers = cls(counter.entries, grids)
        sum_full = layers.full()
        sum_half = layers.cost_of(half_widths)
        layers.scale = ((ref['full_ms'] - ref['half_ms']) /
                        max(sum_full - sum_half, 1e-9))
        layers.overhead = ref['full_ms'] - layers.scale * sum_full
        return layers

    def _latency(self, kept: Callable[[DBCGate], object],
                 kept_in: Optional[Callable[[DBCGate], object]] = None):
        kept_in = kept_in or kept
        total = 0.
        for e, grids in zip(self.entries, self.grids):
            if e.depthwise:
                gate = e.in_gate if e.out_gate is None else e.out_gate
                c_in, c_out = e.in_channels, (
                    e.out_channels if gate is None else kept(gate))
            else:
                c_in = (e.in_channels if e.in_gate is None else
                        kept_in(e.in_gate))
                c_out = (e.out_channels // e.out_repeat
                         if e.out_gate is None else kept(e.out_gate))
            for grid in grids:
                total = total + interpolate(grid, c_in, c_out)
        return self.overhead + self.scale * total

    def cost(self, gradient: str = 'full',
             value_weighted: bool = False) -> torch.Tensor:
        """Predicted ms, differentiable in the gate weights (``gradient``,
        ``value_weighted``: as for :meth:`MACsCounter.macs`)."""
        return torch.as_tensor(
            self._latency(*kept_counts(gradient, value_weighted)),
            dtype=torch.float32)

    def kept_cost(self) -> float:
        """Predicted ms of the hard masks."""
        return float(self._latency(DBCGate.num_kept))

    def cost_of(self, widths: Dict[DBCGate, int]) -> float:
        """Predicted ms with ``widths[gate]`` channels kept."""
        return float(self._latency(widths.__getitem__))

    def full(self) -> float:
        """Predicted ms with every channel kept (the measured full model)."""
        return float(self._latency(lambda g: g.num_channels))

    def minimum(self) -> float:
        """Predicted ms with every gate at ``min_keep``."""
        return float(self._latency(lambda g: g.min_keep))

    @staticmethod
    def format(value: float) -> str:
        return f'{value:.3f} ms'
