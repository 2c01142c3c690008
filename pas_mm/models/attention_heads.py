"""Attention heads as whole units under ``gates='auto'``.

The dependency graph cannot follow channels through an attention's reshape
into heads, so it leaves q, k, v and the output projection ungated. For the
attention classes it knows (:data:`HEAD_SPECS`: mmpretrain's
``MultiheadAttention`` of ViT / DeiT, ``WindowMSA`` of Swin,
``BEiTAttention`` of BEiT without a shared position bias), pas_mm adds
one :class:`DBCGate` per attention module whose units are its heads:

* **gate**: a forward pre-hook multiplies the input columns of a pruned
  head in the output projection by 0 (exact: the projection is linear in
  its input, and every other op of a head stays inside the head);
* **MACs**: the qkv linear's kept outputs (head h's rows in q, k and v) and
  the projection's kept inputs follow the gate like any gated channel; the
  matmuls run inside the attention module (``q @ k^T``, ``attn @ v``; what
  torch's ``FlopCounterMode`` counts of them) scale with kept heads /
  heads (:class:`HeadMACsEntry`);
* **deploy**: the qkv rows and projection columns of pruned heads are
  sliced (``shapes``), per-head parameters (Swin's and BEiT's
  ``relative_position_bias_table``, one column per head; BEiT's ``q_bias``
  and ``v_bias``, per channel) too, and the
  deploy config lists ``heads={path: kept}``: :func:`narrow_heads` sets
  ``num_heads`` (and the widths the forward reshapes with) on the stock
  module, or swaps in a subclass whose forward takes the head width from
  the kept weights where the stock forward reshapes with the input width.

A recognised module that cannot be sliced (one head, a value shortcut, a
layer already gated otherwise, an ignored path, a position bias shared
across layers) keeps its attention whole
and its reason goes into ``AutoGates.skipped``.
"""
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..budget.macs_counter import LAYERS, MACsCounter
from ..errors import PaSConfigError
from ..ops import DBCGate
from .graph_gates import (AutoGates, ChannelGroup, ConstantMACsEntry,
                          InputMask, MaskIndex, OtherOpsFlops,
                          count_other_ops)


def _window_msa_forward(self, x, mask=None):
    """mmpretrain's ``WindowMSA.forward`` with the head width taken from
    the qkv weights (the stock one divides the input width by the heads)."""
    B_, N, _ = x.shape
    qkv = self.qkv(x).reshape(B_, N, 3, self.num_heads,
                              -1).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    q = q * self.scale
    attn = (q @ k.transpose(-2, -1))
    relative_position_bias = self.relative_position_bias_table[
        self.relative_position_index.view(-1)].view(
            self.window_size[0] * self.window_size[1],
            self.window_size[0] * self.window_size[1], -1)
    relative_position_bias = relative_position_bias.permute(2, 0,
                                                            1).contiguous()
    attn = attn + relative_position_bias.unsqueeze(0)
    if mask is not None:
        nW = mask.shape[0]
        attn = attn.view(B_ // nW, nW, self.num_heads, N,
                         N) + mask.unsqueeze(1).unsqueeze(0)
        attn = attn.view(-1, self.num_heads, N, N)
    attn = self.softmax(attn)
    attn = self.attn_drop(attn)
    x = (attn @ v).transpose(1, 2).reshape(B_, N, -1)
    x = self.proj(x)
    x = self.proj_drop(x)
    return x


def _beit_attention_forward(self, x, rel_pos_bias=None):
    """mmpretrain's ``BEiTAttention.forward`` with the output width taken
    from the kept heads (the stock one reshapes to the input width)."""
    B, N, _ = x.shape
    if self.bias == 'qv_bias':
        k_bias = torch.zeros_like(self.v_bias, requires_grad=False)
        qkv_bias = torch.cat((self.q_bias, k_bias, self.v_bias))
        qkv = F.linear(input=x, weight=self.qkv.weight, bias=qkv_bias)
    else:
        qkv = self.qkv(x)
    qkv = qkv.reshape(B, N, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    q = q * self.scale
    attn = (q @ k.transpose(-2, -1))
    if self.relative_position_bias_table is not None:
        Wh, Ww = self.window_size
        relative_position_bias = self.relative_position_bias_table[
            self.relative_position_index.view(-1)].view(
                Wh * Ww + 1, Wh * Ww + 1, -1)
        relative_position_bias = relative_position_bias.permute(
            2, 0, 1).contiguous()
        attn = attn + relative_position_bias.unsqueeze(0)
    if rel_pos_bias is not None:
        attn = attn + rel_pos_bias
    attn = attn.softmax(dim=-1)
    attn = self.attn_drop(attn)
    x = (attn @ v).transpose(1, 2).reshape(B, N, -1)
    x = self.proj(x)
    x = self.proj_drop(x)
    return x


@dataclass(frozen=True)
class HeadSpec:
    """How one attention class is sliced by heads.

    Attributes:
        qkv: child linear with q, k and v stacked, ``heads * head_dims``
            outputs each.
        proj: child linear reading the concatenated heads.
        tables: (parameter name, dim): parameters with one entry per head
            along ``dim`` (a parameter set to None is skipped).
        channels: parameters with one entry per projection input channel
            (BEiT's ``q_bias``, ``v_bias``; absent ones are skipped).
        shared: classes (by name) which, anywhere in the model, feed every
            attention module one tensor per head (BEiT's shared relative
            position bias): their heads are not sliced.
        check: why a module of the class cannot be sliced, or None.
        attrs: kept heads, head width -> the attributes the forward
            reshapes with.
        forward: a forward that reshapes from the kept weights, swapped in
            (as a subclass) at deploy, or None (the stock forward follows
            ``attrs``).
    """
    qkv: str = 'qkv'
    proj: str = 'proj'
    tables: Tuple[Tuple[str, int], ...] = ()
    channels: Tuple[str, ...] = ()
    shared: Tuple[str, ...] = ()
    check: Callable[[nn.Module], Optional[str]] = lambda m: None
    attrs: Callable[[int, int], Dict[str, int]] = lambda k, d: dict(
        num_heads=k)
    forward: Optional[Callable] = None


# attention class (module.qualname) -> how its heads are sliced
HEAD_SPECS: Dict[str, HeadSpec] = {
    'mmpretrain.models.utils.attention.MultiheadAttention': HeadSpec(
        check=lambda m: ('a value shortcut (v_shortcut) adds v to the '
                         'output' if m.v_shortcut else None),
        attrs=lambda k, d: dict(num_heads=k, embed_dims=k * d)),
    'mmpretrain.models.utils.attention.WindowMSA': HeadSpec(
        tables=(('relative_position_bias_table', 1), ),
        forward=_window_msa_forward),
    'mmpretrain.models.utils.attention.BEiTAttention': HeadSpec(
        tables=(('relative_position_bias_table', 1), ),
        channels=('q_bias', 'v_bias'), shared=('RelativePositionBias', ),
        forward=_beit_attention_forward),
}


def _class_key(m: nn.Module) -> str:
    return f'{type(m).__module__}.{type(m).__qualname__}'


def head_spec(m: nn.Module) -> Optional[HeadSpec]:
    """The spec of a recognised attention module (None: not one)."""
    return HEAD_SPECS.get(_class_key(m))


@dataclass
class HeadGroup:
    """One attention module gated by heads.

    Attributes:
        path: the module's path in the model.
        module: the attention module.
        gate: one unit per head.
        num_heads: heads of the stock module.
        head_dims: channels per head (in each of q, k, v).
        spec: its :class:`HeadSpec`.
    """
    path: str
    module: nn.Module
    gate: DBCGate
    num_heads: int
    head_dims: int
    spec: HeadSpec


def _why_not(m: nn.Module, spec: HeadSpec) -> Optional[str]:
    """Why ``m`` cannot be sliced by heads, or None."""
    qkv, proj = getattr(m, spec.qkv, None), getattr(m, spec.proj, None)
    heads = getattr(m, 'num_heads', None)
    if not (isinstance(qkv, nn.Linear) and isinstance(proj, nn.Linear)):
        return f'no {spec.qkv} / {spec.proj} linear layers'
    if not isinstance(heads, int) or heads < 2:
        return f'num_heads={heads!r} (one head is the whole attention)'
    width = proj.in_features
    if width % heads or qkv.out_features != 3 * width:
        return (f'{spec.qkv} has {qkv.out_features} outputs, not 3 x the '
                f'{width} inputs of {spec.proj} in {heads} equal heads')
    for name, dim in spec.tables:
        t = getattr(m, name, None)
        if t is not None and t.shape[dim] != heads:
            return f'{name} has {t.shape[dim]} entries, not one per head'
    for name in spec.channels:
        t = getattr(m, name, None)
        if t is not None and tuple(t.shape) != (width, ):
            return f'{name} has shape {tuple(t.shape)}, not ({width},)'
    return spec.check(m)


def gate_attention_heads(model: nn.Module, auto: AutoGates,
                         ignored: Sequence[str] = (),
                         gate_cfg: Optional[dict] = None) -> List[HeadGroup]:
    """Gate the heads of every recognised attention module of ``model``.

    The gates go into ``model.gates`` (``<module path, dots as
    dashes>-heads``), their groups into ``auto.groups`` and their layer
    dims into ``auto.dims``; the graph's skip entry of the qkv layer goes
    (or says why the heads are not gated either); ``auto.heads`` lists the
    :class:`HeadGroup` s (for the MACs and the deploy).
    """
    gate_cfg = dict(gate_cfg or {})
    paths: Dict[nn.Module, List[str]] = {}
    for n, m in model.named_modules(remove_duplicate=False):
        paths.setdefault(m, []).append(n)
    skipped = dict(auto.skipped)
    classes = {type(m).__name__ for m in model.modules()}
    heads: List[HeadGroup] = []
    for path, m in model.named_modules():
        spec = head_spec(m)
        if spec is None:
            continue
        try:
            why = _why_not(m, spec)
            shared = next((c for c in spec.shared if c in classes), None)
            if why is None and shared is not None:
                why = f'a {shared} in the model adds one tensor per head'
            qkv_path, proj_path = f'{path}.{spec.qkv}', f'{path}.{spec.proj}'
            if why is None and any(p == path or p.startswith(path + '.') or
                                   path.startswith(p + '.') for p in ignored):
                why = 'ignored'
            if why is None and len(paths[m]) > 1:
                why = f'shared by {len(paths[m])} paths'
            if why is None and ((qkv_path, 'out') in auto.dims or
                                (proj_path, 'in') in auto.dims):
                why = 'its q, k, v channels are gated by the graph'
            if why is not None:
                if qkv_path in skipped:
                    i = next(i for i, (r, _) in enumerate(auto.skipped)
                             if r == qkv_path)
                    auto.skipped[i] = (qkv_path, f'{skipped[qkv_path]}; '
                                       f'heads of {path} not gated: {why}')
                else:
                    auto.skipped.append(
                        (path, f'heads of {path} ({type(m).__name__}) not '
                         f'gated: {why}'))
                continue
            heads.append(_gate_one(model, auto, path, m, spec, paths,
                                   gate_cfg))
            auto.skipped[:] = [s for s in auto.skipped if s[0] != qkv_path]
        except PaSConfigError:
            raise
        except Exception as e:
            raise PaSConfigError(
                f"gates='auto': internal error at {path} "
                f'({type(m).__name__}) while gating its heads: '
                f'{type(e).__name__}: {e}; list it in '
                f"PaSModel(ignored=['{path}']) to keep its attention whole"
            ) from e
    order = {n: i for i, n in enumerate(n for n, _ in model.named_modules())}
    auto.groups.sort(key=lambda g: order.get(g.root, -1))
    auto.heads = heads
    return heads


def _gate_one(model, auto, path, m, spec, paths, gate_cfg) -> HeadGroup:
    qkv, proj = getattr(m, spec.qkv), getattr(m, spec.proj)
    n, width = m.num_heads, proj.in_features
    dims = width // n
    gate = DBCGate(n, **dict(gate_cfg, min_keep=min(
        gate_cfg.get('min_keep', 1), n)))
    key = f"{path.replace('.', '-')}-heads"
    model.gates[key] = gate
    unit = torch.arange(width) // dims  # head of each channel
    out_index, in_index = MaskIndex(qkv.out_features), MaskIndex(width)
    out_index.add(gate, torch.arange(3 * width), unit.repeat(3))
    in_index.add(gate, torch.arange(width), unit)
    for p in paths[qkv]:
        auto.dims[(p, 'out')] = out_index
    for p in paths[proj]:
        auto.dims[(p, 'in')] = in_index
    proj.register_forward_pre_hook(InputMask(in_index, -1))
    auto.groups.append(ChannelGroup(
        f'gates.{key}', path, gate,
        [(f'{path}.{spec.qkv}', 'out'), (f'{path}.{spec.proj}', 'in')]))
    return HeadGroup(path, m, gate, n, dims, spec)


@dataclass
class HeadMACsEntry:
    """MACs of the matmuls inside one attention module (outside its linear
    layers): full * kept heads / heads."""
    name: str
    full_macs: float
    gate: DBCGate
    num_heads: int

    def macs(self, kept: Callable[[DBCGate], object], kept_in=None):
        return self.full_macs * kept(self.gate) / self.num_heads

    def full(self) -> float:
        return self.full_macs


class _ScopedFlops(OtherOpsFlops):
    """:class:`OtherOpsFlops`, with the FLOPs run inside each gated
    attention module (outside its layers) counted apart."""

    def __init__(self, layers: Iterable[nn.Module], heads: List[HeadGroup]):
        super().__init__(layers)
        self.stack: List[HeadGroup] = []
        self.by_head = {id(h): 0 for h in heads}
        for h in heads:
            self.hooks += [
                h.module.register_forward_pre_hook(
                    lambda *a, h=h: self.stack.append(h)),
                h.module.register_forward_hook(self._pop)]

    def _pop(self, *args) -> None:
        self.stack.pop()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        before = self.flops
        out = super().__torch_dispatch__(func, types, args, kwargs)
        if self.stack and self.flops != before:
            self.by_head[id(self.stack[-1])] += self.flops - before
            self.flops = before
        return out


def head_counter(counter: MACsCounter, model: nn.Module,
                 run: Callable[[], object], heads: List[HeadGroup],
                 ignored: Iterable[nn.Module] = ()) -> MACsCounter:
    """``counter`` (from ``graph_counter``) with the constant MACs of the
    ops outside layers split: those inside a gated attention module scale
    with its kept heads, the rest stay constant (as torch's
    ``FlopCounterMode`` counts them: half its FLOPs)."""
    if not heads:
        return counter
    skip = [m for m in model.modules()
            if isinstance(m, LAYERS) or m in set(ignored)]
    flops = count_other_ops(model, run, _ScopedFlops(skip, heads))
    entries = [e for e in counter.entries
               if not isinstance(e, ConstantMACsEntry)]
    entries += [HeadMACsEntry(f'{h.path} (attention matmuls)',
                              flops.by_head[id(h)] / 2, h.gate, h.num_heads)
                for h in heads if flops.by_head[id(h)]]
    if flops.flops:
        entries.append(ConstantMACsEntry('other ops (matmuls)',
                                         flops.flops / 2))
    return MACsCounter(entries)


def export_heads(auto: AutoGates, state: Dict[str, torch.Tensor]
                 ) -> Dict[str, int]:
    """Slice the per-head parameters of the gated attention modules in
    ``state`` (the qkv / projection layers are sliced with the channel
    groups); returns {module path: kept heads} for ``PaSNarrowed``."""
    kept = {}
    for h in getattr(auto, 'heads', ()):
        keep = h.gate.hard_mask()
        index = keep.nonzero().flatten()
        for name, dim in h.spec.tables:
            key = f'{h.path}.{name}'
            if key in state:
                state[key] = state[key].index_select(
                    dim, index.to(state[key].device))
        channels = keep.repeat_interleave(h.head_dims).nonzero().flatten()
        for name in h.spec.channels:
            key = f'{h.path}.{name}'
            if key in state:
                state[key] = state[key].index_select(
                    0, channels.to(state[key].device))
        kept[h.path] = int(keep.sum())
    return kept


_NARROWED_CLASSES: Dict[type, type] = {}


def narrow_heads(m: nn.Module, kept: int) -> None:
    """Make a stock attention module (its qkv / projection already
    narrowed) run ``kept`` heads: per-head parameters resized, the
    attributes of its reshapes set, its class swapped for one with a
    head-width-following forward where the spec has one (state-dict keys
    unchanged)."""
    spec = head_spec(m)
    if spec is None:
        raise TypeError(f'{type(m).__name__} is no attention class pas_mm '
                        f'slices by heads ({sorted(HEAD_SPECS)})')
    dims = getattr(m, spec.proj).in_features // kept
    for name, dim in spec.tables:
        t = getattr(m, name, None)
        if t is not None:
            shape = list(t.shape)
            shape[dim] = kept
            setattr(m, name, nn.Parameter(t.new_empty(shape),
                                          requires_grad=t.requires_grad))
    for name in spec.channels:
        t = getattr(m, name, None)
        if isinstance(t, nn.Parameter):
            setattr(m, name, nn.Parameter(t.new_empty(kept * dims),
                                          requires_grad=t.requires_grad))
    for attr, value in spec.attrs(kept, dims).items():
        setattr(m, attr, value)
    if spec.forward is not None:
        cls = type(m)
        if cls not in _NARROWED_CLASSES:
            _NARROWED_CLASSES[cls] = type(
                f'Heads{cls.__name__}', (cls, ), dict(
                    forward=spec.forward, __module__=__name__,
                    __doc__=f'{cls.__name__} with fewer heads'))
        m.__class__ = _NARROWED_CLASSES[cls]
