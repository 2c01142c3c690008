"""DBC gates on the channel groups of a dependency graph (``gates='auto'``).

Torch-Pruning's ``DependencyGraph`` traces the model once (its raw forward)
and yields the groups of coupled channels: a conv's outputs with its norm
and the input channels of every layer reading them, the convs summed into
one residual stream, a depth-wise conv's inputs and outputs, the slices of a
concatenation, the channels an SE block multiplies. One :class:`DBCGate`
per group keeps or drops a channel in all its members at once. A grouped
conv couples its input and output groups into one gate whose units are
whole conv groups (the conv keeps ``groups = kept units``).

The gate is applied where channels mix: a forward pre-hook multiplies the
input of every conv / linear reading gated channels by the mask (dim 1; a
linear's last dim), so a pruned channel contributes nothing, whatever
activation lies between. Deploy removes the channels of every member
(``pas_mm.deploy.export``); :func:`graph_counter` counts MACs per member.

Not gated, and listed in ``AutoGates.skipped`` with the reason: groups
reaching the model's outputs (classifier, box / mask logits), groups with a
LayerNorm / GroupNorm / InstanceNorm (they normalize across channels, so a
channel cannot be removed alone), groups a layer holds only part of (a
slice), groups touching a module in ``ignored``, groups a module pas_mm
cannot slice carries (a bare parameter, a deformable conv's weight read by
an op), groups read where the traced graph cannot see (see ``_trace``),
groups reaching the model input.
"""
from collections import Counter
from dataclasses import dataclass
from typing import (Callable, Dict, Iterable, List, Optional, Sequence,
                    Tuple)

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd
from torch.utils._python_dispatch import TorchDispatchMode

from ..errors import PaSConfigError
from ..ops import DBCGate
from ..budget.macs_counter import (LAYERS, MACsCounter, _tensors,
                                   counted_attention)
from .channel_groups import (ChannelGrouper, ShapeRecorder,
                             torch_pruning_fixes)

CROSS_CHANNEL_NORMS = (nn.LayerNorm, nn.GroupNorm,
                       nn.modules.instancenorm._InstanceNorm)
SLICEABLE = (_ConvNd, nn.Linear, _BatchNorm)
# stock modules holding the width of the features they read as an option
# (class name in the MRO -> attribute): set to the kept width at deploy
WIDTH_ATTRS = {'BaseRoIExtractor': 'out_channels'}


def _torch_pruning():
    try:
        import torch_pruning
    except ImportError:
        raise PaSConfigError(
            "gates='auto' needs Torch-Pruning: pip install --no-deps "
            '"torch-pruning==1.6.1" (bash tools/install.sh does)') from None
    return torch_pruning


def is_depthwise(m: nn.Module) -> bool:
    """A conv with one filter per channel (groups == in == out > 1)."""
    return (isinstance(m, _ConvNd) and m.groups > 1 and
            m.groups == m.in_channels == m.out_channels)


class MaskIndex:
    """Which gate unit each position of one dim of a layer follows.

    ``index`` (size,) points into ``[1] + gate masks concatenated``: 0 is an
    ungated position.
    """

    def __init__(self, size: int):
        self.gates: List[DBCGate] = []
        self.index = torch.zeros(size, dtype=torch.long)
        self._terms = None  # cached by terms()

    def add(self, gate: DBCGate, positions: torch.Tensor,
            units: torch.Tensor) -> None:
        if gate not in self.gates:
            self.gates.append(gate)
        i = self.gates.index(gate)
        offset = 1 + sum(g.num_channels for g in self.gates[:i])
        self.index[positions] = offset + units
        self._terms = None

    def mask(self) -> torch.Tensor:
        """Float mask (size,), straight-through in the gate weights."""
        one = self.gates[0].weight.new_ones(1)
        return torch.cat([one] + [g.mask() for g in self.gates])[self.index]

    def keep(self) -> torch.Tensor:
        """Bool mask (size,) of kept positions, from the hard masks."""
        one = torch.ones(1, dtype=torch.bool)
        return torch.cat([one] + [g.hard_mask().cpu() for g in self.gates]
                         )[self.index]

    def terms(self) -> Tuple[int, List[Tuple[DBCGate, int]]]:
        """(ungated positions, [(gate, positions per kept unit)])."""
        if self._terms is not None:
            return self._terms
        offset, terms = 1, []
        for g in self.gates:
            n = int(((self.index >= offset) &
                     (self.index < offset + g.num_channels)).sum())
            terms.append((g, n // g.num_channels))
            offset += g.num_channels
        self._terms = int((self.index == 0).sum()), terms
        return self._terms

    def kept(self, kept: Callable[[DBCGate], object]):
        """Kept positions with ``kept(gate)`` units behind each gate."""
        const, terms = self.terms()
        return const + sum(n * kept(g) for g, n in terms)


class InputMask:
    """Forward pre-hook multiplying a layer's input by its mask (an object,
    not a closure, so a deep copy of the model applies the copied gates)."""

    def __init__(self, index: MaskIndex, dim: int):
        self.index, self.dim = index, dim

    def __call__(self, module, args):
        x = args[0]
        shape = [1] * x.dim()
        shape[self.dim] = -1
        return (x * self.index.mask().to(x.dtype).view(shape), ) + args[1:]


@dataclass
class ChannelGroup:
    """One gate on coupled channels.

    Attributes:
        path: the gate's module path (``gates.<root path, dots as dashes>``).
        root: module path of the group's first producing layer.
        gate: the gate; one weight per unit (a channel, or a conv group).
        members: (module path, 'out' | 'in') of the dims it controls.
    """
    path: str
    root: str
    gate: DBCGate
    members: List[Tuple[str, str]]


class AutoGates:
    """Gates of a model, by layer dim.

    Attributes:
        groups: the gated channel groups.
        skipped: (root path, reason) of the groups left ungated.
        width_attrs: (module path, attribute, :class:`MaskIndex` of the
            channels it reads): options following a kept width (an mmdet
            RoI extractor's ``out_channels``).
        dims: (module path, 'out' | 'in') -> :class:`MaskIndex`: output
            channels (a norm's or depth-wise conv's channels) and input
            channels of every layer with gated positions, under every path
            of a layer shared by several (paths, not modules: the Runner
            may swap norm layers, e.g. SyncBN -> BN).
    """

    def __init__(self, groups: List[ChannelGroup],
                 skipped: List[Tuple[str, str]],
                 dims: Dict[Tuple[str, str], MaskIndex],
                 width_attrs: List[Tuple[str, str, MaskIndex]]):
        self.groups, self.skipped, self.dims = groups, skipped, dims
        self.width_attrs = width_attrs

    def keep(self, path: str, side: str) -> Optional[torch.Tensor]:
        """Bool keep mask of a layer's output ('out') or input ('in')
        channels; None where nothing is gated."""
        index = self.dims.get((path, side))
        return None if index is None else index.keep()

    def summary(self) -> str:
        return (f'{len(self.groups)} channel groups gated, '
                f'{len(self.skipped)} not gated')


class _Units:
    """Union-find over (group, root channel) and (conv, conv group) keys."""

    def __init__(self):
        self.parent = {}

    def find(self, k):
        self.parent.setdefault(k, k)
        while self.parent[k] != k:
            self.parent[k] = self.parent[self.parent[k]]
            k = self.parent[k]
        return k

    def union(self, a, b):
        self.parent[self.find(a)] = self.find(b)


def _side(dg, m, handler) -> str:
    if isinstance(m, _BatchNorm) or is_depthwise(m):
        return 'out'
    return 'out' if handler == dg.get_pruner_of_module(
        m).prune_out_channels else 'in'


def _matches(name: str, ignored: Sequence[str]) -> bool:
    return any(name == p or name.startswith(p + '.') for p in ignored)


def build_auto_gates(model: nn.Module, example: torch.Tensor,
                     forward: Callable[[nn.Module, torch.Tensor], object],
                     ignored: Sequence[str] = (),
                     gate_cfg: Optional[dict] = None) -> AutoGates:
    """Trace ``model``, gate its channel groups, attach the input hooks.

    The gates go into ``model.gates`` (a ModuleDict keyed by the root path,
    dots as dashes).

    Args:
        model: the stock model (classifier or detector).
        example: (1, C, H, W) input for the trace.
        forward: ``forward(model, x)`` -> the raw outputs (no NMS).
        ignored: module paths (or path prefixes) whose groups stay ungated.
        gate_cfg: :class:`DBCGate` arguments (e.g. ``dict(min_keep=8)``;
            a gate with fewer units keeps ``min_keep`` = its units).

    Raises:
        PaSConfigError: an ``ignored`` path naming no module, or an internal
            error (the module being handled named, with ``ignored``).
    """
    names = {m: n for n, m in model.named_modules()}
    unknown = [p for p in ignored if not any(_matches(n, [p]) for n in
                                             names.values())]
    if unknown:
        raise PaSConfigError(f'ignored: no module {unknown[0]!r} in '
                             f'{type(model).__name__}')
    at = {'path': '', 'type': type(model).__name__}  # being handled
    try:
        return _build(model, example, forward, ignored, gate_cfg, names, at)
    except PaSConfigError:
        raise
    except Exception as e:
        path = at['path']
        hint = (f"PaSModel(ignored=['{path}']) to leave its channels "
                'ungated' if path else 'PaSModel(ignored=[...]) the '
                'modules of the part that fails')
        raise PaSConfigError(
            f"gates='auto': internal error at {path or 'the model'} "
            f"({at['type']}): {type(e).__name__}: {e}; list it in "
            f'{hint}') from e


def _build(model, example, forward, ignored, gate_cfg, names, at
           ) -> AutoGates:
    """:func:`build_auto_gates` after the argument checks; ``at`` follows
    the module being handled (path, type) for the error message."""
    dg, outputs, produced, readers, recorder, unseen = _trace(
        model, example, forward, names)
    order = {m: i for i, m in enumerate(names)}
    groups, reasons = _members(dg, names, outputs, ignored, recorder,
                               unseen, at)
    units, comps = _components(groups)

    gate_cfg = dict(gate_cfg or {})
    gates = nn.ModuleDict()
    result, skipped = [], []
    dims: Dict[Tuple[str, str], MaskIndex] = {}
    paths: Dict[nn.Module, List[str]] = {}
    for n, m in model.named_modules(remove_duplicate=False):
        paths.setdefault(m, []).append(n)
    layer_dims: Dict[Tuple[nn.Module, str], MaskIndex] = {}
    for gis in comps:
        members = [mb for gi in gis for mb in groups[gi]]
        producers = sorted((m for m, side, _, _ in members
                            if side == 'out' and not isinstance(
                                m, _BatchNorm)), key=order.get)
        first = producers[0] if producers else members[0][0]
        root = names.get(first, 'a parameter')
        at.update(path=root, type=type(first).__name__)
        reason = next((reasons[gi] for gi in gis if reasons[gi]), None)
        bad = next((mb for mb in members if mb[1] == 'unsupported'), None)
        if reason is None and bad is not None:
            m, _, name, _ = bad
            reason = (f'{name} ({type(m).__name__}) carries its channels; '
                      'pas_mm slices only convs, linear layers and BatchNorm')
        if reason is None:
            reason = _uneven(units, gis, groups, names)
        if reason is not None:
            skipped.append((root, reason))
            continue
        unit_ids: Dict[object, int] = {}
        for gi in gis:
            for m, side, pos, roots in groups[gi]:
                for r in roots.tolist():
                    unit_ids.setdefault(units.find((gi, r)), len(unit_ids))
        key = root.replace('.', '-')
        n = len(unit_ids)  # min_keep at most the gate's units
        gates[key] = gate = DBCGate(n, **dict(
            gate_cfg, min_keep=min(gate_cfg.get('min_keep', 1), n)))
        for gi in gis:
            for m, side, pos, roots in groups[gi]:
                size = _size(m, side)
                index = layer_dims.setdefault((m, side), MaskIndex(size))
                for path in paths[m]:
                    dims[(path, side)] = index
                index.add(gate, pos, torch.tensor(
                    [unit_ids[units.find((gi, r))] for r in roots.tolist()],
                    dtype=torch.long))
        result.append(ChannelGroup(f'gates.{key}', root, gate, sorted(
            {(names[m], side) for m, side, _, _ in members},
            key=lambda x: order[model.get_submodule(x[0])])))
    model.add_module('gates', gates)
    for (m, side), index in layer_dims.items():
        if side == 'in' and (isinstance(m, nn.Linear) or m.groups == 1):
            m.register_forward_pre_hook(
                InputMask(index, -1 if isinstance(m, nn.Linear) else 1))
    at.update(path='', type=type(model).__name__)
    result.sort(key=lambda g: order[model.get_submodule(g.root)])
    width_attrs = [(names[m], _width_attr(m), layer_dims[(produced[f], 'out')])
                   for m, f in readers.items()
                   if (produced.get(f), 'out') in layer_dims]
    return AutoGates(result, skipped, dims, width_attrs)


def _width_attr(m: nn.Module) -> Optional[str]:
    return next((WIDTH_ATTRS[c.__name__] for c in type(m).__mro__
                 if c.__name__ in WIDTH_ATTRS), None)


def _components(groups):
    """Units and gates of the Torch-Pruning groups.

    A unit is a set of (group, root channel) kept or dropped together: one
    channel, or (through a grouped conv, which ties its input and output
    channels per conv group) the channels of one conv group in both its
    input and output groups; groups sharing units share one gate.

    Returns:
        (union-find of the units, lists of group indices: one per gate)
    """
    units = _Units()
    for gi, members in enumerate(groups):
        for m, side, pos, roots in members:
            if side == 'unsupported':
                continue
            for p, r in zip(pos.tolist(), roots.tolist()):
                units.find((gi, r))
                if isinstance(m, _ConvNd) and m.groups > 1 and \
                        not is_depthwise(m):
                    per_group = (m.in_channels if side == 'in' else
                                 m.out_channels) // m.groups
                    units.union((gi, r), ('conv', id(m), p // per_group))
    joined = _Units()
    for gi, members in enumerate(groups):
        for m, side, pos, roots in members:
            if side != 'unsupported':
                for r in roots.tolist():
                    joined.union(gi, ('unit', units.find((gi, r))))
    comps: Dict[object, List[int]] = {}
    for gi in range(len(groups)):
        if any(s != 'unsupported' for _, s, _, _ in groups[gi]):
            comps.setdefault(joined.find(gi), []).append(gi)
    return units, list(comps.values())


def _trace(model: nn.Module, example: torch.Tensor, forward: Callable,
           names: Dict[nn.Module, str]):
    """Torch-Pruning's graph of one ``forward(model, example)``.

    Returns:
        (graph, the layers whose outputs are model outputs, grad_fn -> the
        layer producing it, width-option module -> grad_fn of its input,
        the :class:`ShapeRecorder` of the forward, the unseen readers:
        grad_fn -> why the graph cannot follow the channels there, for a
        layer not in the graph that read it (its output unused by the
        traced forward: HTC's semantic logits), a width option reading a
        tensor no layer produced (Libra R-CNN's RoI extractor after the BFP
        sum), a layer whose weight an op outside it reads (CSRA's
        weight-normalized head), an op outside the layers reading the model
        input (a residual from the image: its channels cannot be removed))
    """
    tp = _torch_pruning()
    out_fns, produced, readers, read = set(), {}, {}, {}
    recorder = ShapeRecorder()
    # an input requiring grad: the graph follows autograd, which would skip
    # frozen layers (frozen_stages) before the first trainable weight
    model_input = example.clone().requires_grad_(True)

    def traced(m, x):
        with recorder:
            out = forward(m, x)
        out_fns.update(t.grad_fn for t in _tensors(out))
        return out

    def record(module, inputs, output):
        stop = {t.grad_fn for t in _tensors(inputs)}
        read.setdefault(module, next(iter(stop), None))
        for t in _tensors(output):
            produced[t.grad_fn] = module
            recorder.inside(t.grad_fn, stop)

    def record_reader(module, inputs, output):
        readers.setdefault(module, _tensors(inputs)[0].grad_fn)

    hooks = [m.register_forward_hook(record) for m in model.modules()
             if isinstance(m, SLICEABLE + CROSS_CHANNEL_NORMS)]
    hooks += [m.register_forward_hook(record_reader) for m in model.modules()
              if _width_attr(m)]
    was_training = model.training
    try:
        with torch.enable_grad(), torch_pruning_fixes(recorder):
            dg = tp.DependencyGraph().build_dependency(
                model, model_input, forward_fn=traced, verbose=False)
    except Exception as e:
        raise PaSConfigError(
            f"gates='auto': Torch-Pruning could not trace "
            f'{type(model).__name__} ({type(e).__name__}: {e})') from e
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    outputs = {produced[f] for f in out_fns if f in produced}

    def named(m):
        return f'{names.get(m, "?")} ({type(m).__name__})'

    follow = ' (the graph cannot follow it)'
    unseen = {
        f: f'read by {named(m)}, whose output the traced forward does not '
           'use' + follow
        for m, f in read.items() if f is not None and m not in dg.module2node}
    unseen.update({
        f: f'read by {named(m)}, whose width option follows only a layer it '
           'reads directly' + follow
        for m, f in readers.items() if f is not None and f not in produced})
    weights = {id(m.weight): m for m in dg.module2node
               if isinstance(m, SLICEABLE) and m.weight is not None}
    # ops outside the layers reading a layer's weight or the model input
    for fn in recorder.shapes:
        if fn in recorder.internal or fn in produced:
            continue
        for nf, _ in fn.next_functions:
            leaf = getattr(nf, 'variable', None)
            m = weights.get(id(leaf))
            if m is not None:
                unseen.setdefault(
                    dg.module2node[m].grad_fn,
                    f'{named(m)}: its weight is also read outside it, by '
                    f'{type(fn).__name__}' + follow)
            elif leaf is model_input:
                unseen.setdefault(
                    fn, f'reaches the model input (through '
                        f'{type(fn).__name__}), whose channels stay')
    return dg, outputs, produced, readers, recorder, unseen


def _members(dg, names, outputs, ignored, recorder, unseen, at):
    """Per channel group (:class:`ChannelGrouper`): its members (module,
    'out' | 'in' | 'unsupported', positions, units) and the reason it stays
    ungated (None: gate it)."""
    from torch_pruning.ops import OPTYPE
    passive = (OPTYPE.ELEMENTWISE, OPTYPE.CONCAT, OPTYPE.SPLIT,
               OPTYPE.RESHAPE, OPTYPE.SLICE, OPTYPE.UNBIND, OPTYPE.EXPAND,
               OPTYPE.OUTPUT, OPTYPE.LN, OPTYPE.GN, OPTYPE.IN)
    groups, reasons = [], []
    for group in ChannelGrouper(dg, recorder, names, at, unseen).groups():
        members, reason, outside = [], None, None
        for (node, handler), (pos, units) in group.items.items():
            m = node.module
            name = (dg._param_to_name.get(m, 'a parameter')
                    if isinstance(m, nn.Parameter) else names.get(m))
            side = (_side(dg, m, handler)
                    if isinstance(m, SLICEABLE) else None)
            if node.type == OPTYPE.OUTPUT:
                reason = reason or 'reaches the model outputs'
            elif side == 'out' and m in outputs:
                reason = reason or f'{name} is an output layer'
            elif isinstance(m, CROSS_CHANNEL_NORMS):
                reason = reason or (f'{name} ({type(m).__name__}) normalizes '
                                    'across channels')
            elif name is not None and _matches(name, ignored):
                reason = reason or f'{name} is ignored'
            if side is not None:
                if max(pos) >= _size(m, side):
                    outside = outside or (
                        f'the graph maps channel {max(pos)} into the '
                        f'{_size(m, side)} {side} channels of {name} '
                        f'({type(m).__name__})')
                members.append((m, side,
                                torch.as_tensor(pos, dtype=torch.long),
                                torch.as_tensor(units, dtype=torch.long)))
            elif isinstance(m, nn.Parameter) or node.type not in passive:
                members.append((m, 'unsupported', name, None))
        groups.append(members)
        reasons.append(reason or group.taint or outside)
    return groups, reasons


def _size(m: nn.Module, side: str) -> int:
    if isinstance(m, nn.Linear):
        return m.out_features if side == 'out' else m.in_features
    if isinstance(m, _BatchNorm):
        return m.num_features
    return m.out_channels if side == 'out' else m.in_channels


def _uneven(units, gis, groups, names) -> Optional[str]:
    """Why the positions of a layer do not follow its group's units
    evenly (a slice reads part of them; the MACs of such a layer would
    depend on which units are kept, not on how many), or None."""
    for gi in gis:
        per_layer: Dict[Tuple[nn.Module, str], List[object]] = {}
        for m, side, pos, roots in groups[gi]:
            per_layer.setdefault((m, side), []).extend(
                units.find((gi, r)) for r in roots.tolist())
        every = {units.find((gi, r)) for _, _, _, roots in groups[gi]
                 for r in roots.tolist()}
        for (m, side), keys in per_layer.items():
            counts = Counter(keys)
            if set(counts) != every or len(set(counts.values())) > 1:
                return (f'{names[m]} ({type(m).__name__}) holds only part '
                        "of its group's channels")
    return None


@dataclass
class GraphMACsEntry:
    """One conv / linear layer: MACs = full * kept_in/in * kept_out/out.

    A grouped or depth-wise conv keeps its channels per group, so only its
    outputs count (``in_index`` None).
    """
    name: str
    full_macs: float
    in_channels: int
    out_channels: int
    in_index: Optional[MaskIndex]
    out_index: Optional[MaskIndex]
    module: nn.Module
    in_shapes: List[Tuple[int, ...]]

    def macs(self, kept: Callable[[DBCGate], object],
             kept_in: Optional[Callable[[DBCGate], object]] = None):
        """MACs with ``kept(gate)`` channels behind each gate
        (``kept_in(gate)`` on the input side, if given)."""
        c_in = (self.in_channels if self.in_index is None else
                self.in_index.kept(kept_in or kept))
        c_out = (self.out_channels if self.out_index is None else
                 self.out_index.kept(kept))
        return self.full_macs * c_in / self.in_channels * (
            c_out / self.out_channels)

    def full(self) -> float:
        return self.full_macs


@dataclass
class ConstantMACsEntry:
    """MACs of the ops outside conv / linear layers (attention's matmuls),
    which no gate narrows."""
    name: str
    full_macs: float

    def macs(self, kept: Callable[[DBCGate], object], kept_in=None):
        return self.full_macs

    def full(self) -> float:
        return self.full_macs


class OtherOpsFlops(TorchDispatchMode):
    """FLOPs, as torch's ``FlopCounterMode`` counts them, of the ops run
    outside the given layers (``inside`` > 0 while one of them runs)."""

    def __init__(self, layers: Iterable[nn.Module]):
        super().__init__()
        self.flops, self.inside = 0, 0
        self.hooks = []
        for m in layers:
            self.hooks += [m.register_forward_pre_hook(self._enter),
                           m.register_forward_hook(self._leave)]

    def _enter(self, *args):
        self.inside += 1

    def _leave(self, *args):
        self.inside -= 1

    def remove(self) -> None:
        for h in self.hooks:
            h.remove()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        from torch.utils.flop_counter import flop_registry
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        count = flop_registry.get(func._overloadpacket)
        if count is not None and not self.inside:
            self.flops += count(*args, **kwargs, out_val=out)
        return out


def count_other_ops(model: nn.Module, run: Callable[[], object],
                    mode: 'OtherOpsFlops') -> 'OtherOpsFlops':
    """``run()`` once in eval mode under ``mode`` (attention through its
    math backend), its hooks removed and the training flag restored."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), counted_attention(), mode:
            run()
    finally:
        mode.remove()
        model.train(was_training)
    return mode


def graph_counter(model: nn.Module, run: Callable[[], object],
                  auto: AutoGates,
                  ignored: Iterable[nn.Module] = ()) -> MACsCounter:
    """The MACs counter of an auto-gated model: the layers profiled by
    ``run()`` (batch 1), their kept channels from ``auto``'s gates, plus
    the constant MACs of matmuls outside them (attention), counted as
    torch's ``FlopCounterMode`` counts them (half its FLOPs)."""
    profiled, _ = MACsCounter.profile(model, run, ignored=ignored)
    entries = []
    for e in profiled.entries:
        m = e.module
        grouped = isinstance(m, _ConvNd) and m.groups > 1
        entries.append(GraphMACsEntry(
            e.name, e.full(), e.in_channels, e.out_channels,
            None if grouped else auto.dims.get((e.name, 'in')),
            auto.dims.get((e.name, 'out')), m, e.in_shapes))
    skip = [m for m in model.modules()
            if isinstance(m, LAYERS) or m in set(ignored)]
    other = count_other_ops(model, run, OtherOpsFlops(skip))
    if other.flops:
        entries.append(ConstantMACsEntry('other ops (matmuls)',
                                         other.flops / 2))
    return MACsCounter(entries)
