"""Differentiable MACs counter for conv and linear layers.

MACs of a conv are ``k_h * k_w * c_in * c_out * H_out * W_out / groups``
(a transposed conv: ``H_in * W_in``) and of a linear layer
``rows * c_in * c_out``. A depth-wise conv (``groups == c_in == c_out``)
keeps ``groups`` equal to its channels when pruned, so it costs
``k_h * k_w * H_out * W_out`` per kept channel. A profiling forward pass
records the static part (``k_h * k_w * H_out * W_out / groups`` summed over
calls, so a head shared across FPN levels counts once per level); the
channel counts come from the DBC gates before and after each layer, so the
total is differentiable in the gate weights through the straight-through
estimator.
"""
import contextlib
import logging
from dataclasses import dataclass, field
from typing import (Callable, Dict, Iterable, List, Optional, Sequence,
                    Tuple, Union)

import torch
from mmengine.logging import print_log
from torch import nn

from ..ops import DBCGate
from .losses.budget_loss import GRADIENTS
from .losses.macs_loss import format_macs

GatePair = Tuple[Optional[DBCGate], Optional[DBCGate]]
# the layers counted (and pruned)
LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def counted_attention():
    """A context in which ``F.scaled_dot_product_attention`` runs its math
    backend: torch's ``FlopCounterMode`` counts no FLOPs for the fused CPU
    kernel (torch 2.13), but counts the math backend's two matmuls. MACs
    of attention are counted, by pas_mm and by torch, inside it."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    return sdpa_kernel(SDPBackend.MATH)

# Modules that keep channel c of their input in channel c of their output.
CHANNELWISE = ('GlobalAveragePooling', 'AdaptiveAvgPool2d', 'AvgPool2d',
               'MaxPool2d', 'Dropout', 'Identity', 'ReLU', 'Flatten',
               'InterpolateModule', 'Upsample', 'DBCGate')


@dataclass
class MACsEntry:
    """One conv/linear layer: MACs = factor * kept_in * kept_out.

    A depth-wise entry (``depthwise=True``) has one filter per channel and
    one gate for its input and output channels (``out_gate``, else
    ``in_gate``): MACs = factor * kept, ``factor`` = ``k_h * k_w * H * W``.
    """
    name: str
    factor: float
    in_channels: int
    out_channels: int
    in_gate: Optional[DBCGate] = None
    out_gate: Optional[DBCGate] = None
    out_repeat: int = 1  # output channels = out_repeat x the gated channels
    depthwise: bool = False
    module: Optional[nn.Module] = field(default=None, repr=False)
    # shape of the layer's input at each call of the profile (batch 1)
    in_shapes: List[Tuple[int, ...]] = field(default_factory=list)

    def macs(self, kept: Callable[[DBCGate], Union[int, torch.Tensor]],
             kept_in: Optional[Callable] = None):
        """MACs with ``kept(gate)`` channels behind each gate
        (``kept_in(gate)`` for the input gate, if given)."""
        if self.depthwise:
            gate = self.in_gate if self.out_gate is None else self.out_gate
            return self.factor * (self.out_channels if gate is None else
                                  kept(gate))
        c_in = self.in_channels if self.in_gate is None else (
            kept_in or kept)(self.in_gate)
        c_out = (self.out_channels if self.out_gate is None else
                 kept(self.out_gate) * self.out_repeat)
        return self.factor * c_in * c_out

    def full(self) -> float:
        """MACs with every channel kept."""
        if self.depthwise:
            return self.factor * self.out_channels
        return self.factor * self.in_channels * self.out_channels


def _static_factor(module: nn.Module, x: torch.Tensor,
                   out: torch.Tensor) -> float:
    """MACs per (input channel x output channel) of one call, ``x -> out``.

    Rows of dim 0 count: the profile runs one image, so they are 1 except
    in a RoI head, where they are the RoIs.
    """
    if isinstance(module, nn.Linear):  # one product per row
        return x.numel() / module.in_features
    k_h, k_w = module.kernel_size
    # a conv computes each output position, a transposed conv spreads each
    # input position
    n, _, h, w = (x if isinstance(module, nn.ConvTranspose2d) else out).shape
    return k_h * k_w * n * h * w / module.groups


def _is_depthwise(module: nn.Module) -> bool:
    """A conv with one filter per channel: groups == c_in == c_out."""
    return (isinstance(module, nn.Conv2d) and module.groups > 1 and
            module.groups == module.in_channels == module.out_channels)


def _tensors(obj) -> List[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in _tensors(o)]
    return []


def kept_counts(gradient: str, value_weighted: bool) -> tuple:
    """``(kept, kept_in)``: a gate's differentiable kept count for the
    layers it is the output of, and for those it is the input of (None:
    the same); ``gradient`` and ``value_weighted`` as for
    :meth:`MACsCounter.macs`."""
    if gradient not in GRADIENTS:
        raise ValueError(f'gradient={gradient!r} is not one of {GRADIENTS}')

    def kept(g: DBCGate) -> torch.Tensor:
        return g.cost_mask(value_weighted).sum()

    return kept, (lambda g: kept(g).detach()) if gradient == 'own' else None


class MACsCounter:
    """Counts MACs of a model from its profiled layers and its DBC gates.

    Build it with :meth:`profile`. ``macs()`` is differentiable in the gate
    weights; ``full()`` is the MACs with every channel kept and ``minimum()``
    the MACs with every gate at its ``min_keep``.
    """

    def __init__(self, entries: List[MACsEntry]):
        self.entries = entries

    @classmethod
    def profile(cls,
                model: nn.Module,
                run: Callable[[], object],
                gated: Optional[Dict[nn.Module, GatePair]] = None,
                ignored: Iterable[nn.Module] = (),
                source: Optional[nn.Module] = None,
                source_gates: Sequence[Optional[DBCGate]] = (),
                gated_outputs: Optional[Dict[nn.Module, DBCGate]] = None,
                out_repeat: Optional[Dict[nn.Module, int]] = None):
        """Run ``run()`` once (batch 1) and record every conv/linear layer.

        Args:
            model: the root module; entry names are paths inside it.
            run: callable doing one forward pass of ``model``.
            gated: layer -> (gate on its input, gate on its output), for the
                layers whose widths the gates control.
            ignored: layers that do not exist after deploy (e.g. RepVGG's
                1x1 branch, fused into the 3x3 conv).
            source: a module whose outputs are gated (the backbone).
            source_gates: the gate of each output of ``source``. Layers
                outside ``source`` that read such an output (directly or
                through channel-wise modules such as global pooling) get
                that gate as their input gate.
            gated_outputs: more modules whose outputs are gated (neck and
                head gates); the layers reading them are found the same way.
            out_repeat: layer -> how many copies of its output gate's
                channels it outputs (YOLACT's coefficients per anchor).

        Returns:
            tuple[MACsCounter, dict[str, DBCGate]]: the counter and the
            layers found consuming gated outputs of ``source``.
        """
        gated = dict(gated or {})
        ignored = set(ignored)
        names = {m: n for n, m in model.named_modules()}
        inside_source = set(source.modules()) if source is not None else set()
        factors: Dict[nn.Module, float] = {}
        in_shapes: Dict[nn.Module, List[Tuple[int, ...]]] = {}
        consumers: Dict[nn.Module, DBCGate] = {}
        linked: Dict[int, DBCGate] = {}
        keep_alive: List[torch.Tensor] = []  # ids of freed tensors get reused

        def link(outputs, gates):
            for t, g in zip(_tensors(outputs), gates):
                if g is not None:
                    linked[id(t)] = g
                    keep_alive.append(t)

        def on_source(module, inputs, output):
            link(output, source_gates)

        def on_gated_output(module, inputs, output):
            gate = gated_outputs[module]
            link(output, [gate] * len(_tensors(output)))

        def on_layer(module, inputs, output):
            is_layer = isinstance(module, LAYERS)
            if is_layer:
                factors[module] = (factors.get(module, 0.) +
                                   _static_factor(module, inputs[0], output))
                in_shapes.setdefault(module, []).append(
                    tuple(inputs[0].shape))
            if module in inside_source:
                return
            gates = [linked.get(id(t)) for t in _tensors(inputs)]
            if is_layer:
                if gates and gates[0] is not None:
                    consumers[module] = gates[0]
            elif any(g is not None for g in gates):
                if type(module).__name__ not in CHANNELWISE:
                    raise NotImplementedError(
                        f'{names[module]} ({type(module).__name__}) reads a '
                        'gated feature; pas_mm can only prune conv/linear '
                        'layers and channel-wise modules '
                        f'{CHANNELWISE} there. Gate a different layer or '
                        'disable that gate (backbone output gates, '
                        'gate_neck, gate_heads).')
                link(output, gates)

        handles = []
        if source is not None:
            handles.append(source.register_forward_hook(on_source))
        gated_outputs = dict(gated_outputs or {})
        for m in gated_outputs:  # after the gate hooks: sees gated outputs
            handles.append(m.register_forward_hook(on_gated_output))
        for m in model.modules():
            if m is source:
                continue
            if (not list(m.children()) or isinstance(m, LAYERS)
                    or type(m).__name__ in CHANNELWISE):
                handles.append(m.register_forward_hook(on_layer))
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                run()
        finally:
            model.train(was_training)
            for h in handles:
                h.remove()

        unread = [i for i, g in enumerate(source_gates)
                  if g is not None and g not in consumers.values()]
        if unread:
            print_log(
                f'gated backbone outputs {unread} are read by no conv or '
                'linear layer: unused (e.g. FPN start_level > 0) or read by '
                'an op pas_mm cannot trace, which deploy verification would '
                'catch', logger='current', level=logging.WARNING)
        entries = []
        for m, factor in factors.items():
            if m in ignored:
                continue
            in_gate, out_gate = gated.get(m, (None, None))
            c_in, c_out = ((m.in_features, m.out_features)
                           if isinstance(m, nn.Linear) else
                           (m.in_channels, m.out_channels))
            depthwise = _is_depthwise(m)
            entries.append(
                MACsEntry(names[m], factor * c_in if depthwise else factor,
                          c_in, c_out,
                          consumers.get(m) if in_gate is None else in_gate,
                          out_gate, (out_repeat or {}).get(m, 1), depthwise,
                          m, in_shapes[m]))
        counter = cls(entries)
        return counter, {names[m]: g for m, g in consumers.items()}

    def macs(self, gradient: str = 'full',
             value_weighted: bool = False) -> torch.Tensor:
        """Current MACs, differentiable in the gate weights.

        Args:
            gradient: 'full': a gate's gradient is the marginal MACs of one
                of its channels, ``dMACs/dc_l``, from the layers it feeds and
                the layers it reads (``c_in * c_out`` differentiated in both
                factors). 'own': every layer's input count is detached, as
                the official PaS code does (``torch.tensor(...)`` in
                ``prunesearch.py``): a gate sees only the cost of the layers
                it is the output of.
            value_weighted: each channel's gradient divided by its relative
                worth to the task (:meth:`DBCGate.cost_mask`): cost per
                value.
        """
        kept, kept_in = kept_counts(gradient, value_weighted)
        total = sum(e.macs(kept, kept_in) for e in self.entries)
        return torch.as_tensor(total, dtype=torch.float32)

    def kept_macs(self) -> float:
        """Current MACs from the hard masks (no graph)."""
        return float(sum(e.macs(DBCGate.num_kept) for e in self.entries))

    def macs_of(self, widths: Dict[DBCGate, int]) -> float:
        """MACs with ``widths[gate]`` channels kept behind each gate."""
        return float(sum(e.macs(widths.__getitem__) for e in self.entries))

    def full(self) -> float:
        """MACs with every channel kept."""
        return float(sum(e.full() for e in self.entries))

    def minimum(self) -> float:
        """MACs with every gate keeping only ``min_keep`` channels."""
        return float(sum(
            e.macs(lambda g: g.min_keep) for e in self.entries))

    # the budget interface, shared with LatencyCounter: the search's loss,
    # snap and divisor rounding work on either
    name = 'MACs'
    cost = macs
    kept_cost = kept_macs
    cost_of = macs_of

    @staticmethod
    def format(value: float) -> str:
        return format_macs(value)
