"""Differentiable latency of a gated model, from per-layer latency tables."""
from typing import Callable, Dict, List

import torch
from mmengine.dist import broadcast_object_list, get_rank, get_world_size

from ..ops import DBCGate
from .latency_table import Grid, LatencyTable, interpolate
from .macs_counter import MACsCounter, MACsEntry


class LatencyCounter:
    """Predicted latency (ms) of the deployed model, from its DBC gates.

    ``latency = overhead + sum over layers of table(kept in, kept out)``:
    each conv/linear layer of the MACs counter (the deploy structure) reads
    its table at the widths its gates keep; ``overhead`` is what the tables
    miss (the other ops and the Python calls between layers): the measured
    latency of the full-width deployed model minus the tables' sum at full
    width. It has the budget interface of :class:`MACsCounter` (``cost``,
    ``cost_of``, ``kept_cost``, ``full``, ``minimum``, ``format``), so the
    loss, the snap to the target and the divisor rounding work on it.
    """

    name = 'latency'

    def __init__(self, entries: List[MACsEntry], grids: List[List[Grid]],
                 overhead: float, device: str):
        self.entries = entries
        self.grids = grids
        self.overhead = overhead
        self.device = device

    @classmethod
    def build(cls, counter: MACsCounter, table: LatencyTable,
              model_key: str, full_latency: Callable[[], float]):
        """Tables of every layer of ``counter`` (measured where missing)
        and the overhead from ``full_latency()``, the measured ms of the
        full-width deployed model (cached under ``model_key``). Under DDP
        rank 0 measures and the others receive its numbers, so every rank
        predicts the same latency."""
        data = [None]
        if get_rank() == 0:
            grids = [table.layer_grids(e) for e in counter.entries]
            full, = table.lookup([f'model {model_key}'],
                                 [lambda: dict(ms=full_latency())])
            data = [(grids, full['ms'])]
        if get_world_size() > 1:
            broadcast_object_list(data, src=0)
        grids, full_ms = data[0]
        layers = cls(counter.entries, grids, 0., table.name)
        layers.overhead = full_ms - layers.full()
        return layers

    def _latency(self, kept: Callable[[DBCGate], object]):
        total = self.overhead
        for e, grids in zip(self.entries, self.grids):
            if e.depthwise:
                gate = e.in_gate if e.out_gate is None else e.out_gate
                c_in, c_out = e.in_channels, (
                    e.out_channels if gate is None else kept(gate))
            else:
                c_in = (e.in_channels if e.in_gate is None else
                        kept(e.in_gate))
                c_out = (e.out_channels // e.out_repeat
                         if e.out_gate is None else kept(e.out_gate))
            for grid in grids:
                total = total + interpolate(grid, c_in, c_out)
        return total

    def cost(self) -> torch.Tensor:
        """Predicted ms, differentiable in the gate weights."""
        return torch.as_tensor(
            self._latency(lambda g: g.mask().sum()), dtype=torch.float32)

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
