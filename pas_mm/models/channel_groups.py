"""Channel groups of a traced dependency graph, in bounded time.

Torch-Pruning 1.6.1's ``DependencyGraph.get_all_groups`` walks a node again
each time it is reached with another subset of channels and compares the
new index list with every one its group holds (``Group.has_pruning_op``):
where concatenations, splits and shuffles fragment the channels
(ShuffleNetV2, Cascade R-CNN) it had not returned after 16 min. Here every
(node, pruning function, channel) is an *element*, visited once: a walk
from each conv / linear layer's output channels follows the graph's
dependencies and index mappings (concatenation offsets, splits,
flattening), and a union-find ties the root channels that reach the same
element into one *unit*. Work: O(elements x dependencies per node).

Ops whose channel mapping the graph cannot follow *taint* the group they
reach (it stays ungated, the reason naming the layer before the op): a
reshape that moves the channel dim (channel shuffle, ResNeSt's radix
split, attention heads), a permute / transpose, an unbind / select /
expand, a matmul or attention. A concatenation or split along a dim that
is not the channel dim (a ViT's class token, Torch-Pruning would shift the
channel indices) couples its inputs channel to channel. Channel dim of a
traced tensor: 1 for 2-D and 4-D tensors, the last for 3-D (tokens).
"""
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.logging import print_log
from torch.overrides import TorchFunctionMode

from ..errors import PaSConfigError

# grad_fn name fragments of ops that move or mix dims the graph takes for
# element-wise (lower case)
TAINTING = ('permute', 'transpose', 'unbind', 'expand', 'repeat',
            'mmbackward', 'bmmbackward', 'matmul', 'baddbmm', 'einsum',
            'attention', 'pixelshuffle', 'pixelunshuffle', 'unfold')
PROGRESS_S = 5.  # log progress when a build has run longer than this
BUDGET_S = 60.  # refuse the model when grouping takes longer than this


class ShapeRecorder(TorchFunctionMode):
    """Records the output shape of every op of a forward pass, by grad_fn,
    and (:meth:`inside`) the grad_fns inside a layer's call (a linear
    layer on tokens flattens them, multiplies and restores them)."""

    def __init__(self):
        super().__init__()
        self.shapes: Dict[object, Tuple[int, ...]] = {}
        self.internal = set()

    def inside(self, fn, stop, depth: int = 8) -> None:
        """Mark the grad_fns between a layer's output ``fn`` and its inputs'
        grad_fns ``stop`` (at most ``depth`` steps back)."""
        todo = [(f, 1) for f, _ in getattr(fn, 'next_functions', ())]
        while todo:
            f, d = todo.pop()
            if f is None or f in stop or f in self.internal or d > depth \
                    or not hasattr(f, 'next_functions'):
                continue
            self.internal.add(f)
            todo += [(g, d + 1) for g, _ in f.next_functions]

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out, ):
            if isinstance(t, torch.Tensor) and t.grad_fn is not None:
                self.shapes.setdefault(t.grad_fn, tuple(t.shape))
        return out


@contextmanager
def torch_pruning_fixes(recorder: ShapeRecorder):
    """Two index mappings Torch-Pruning 1.6.1 fails to build, mended
    inside this context:

    * a concatenation: it sums its inputs' channels and fails (``int +
      None``) where it cannot infer one (YOLOX's Focus concatenates slices
      of the image): the recorded input sizes along the concatenated dim
      are given to it first, and one it still cannot map keeps no mapping
      (the group reaching it is tainted, :meth:`ChannelGrouper.taint`);
    * a reshape to or from an empty tensor (SAM's window attention pads by
      0): it divides by the 0 channels (``ZeroDivisionError``); such a
      reshape keeps no mapping (its channels move: tainted too)."""
    from torch_pruning.dependency import index_mapping
    concat = index_mapping.update_concat_index_mapping
    reshape = index_mapping.update_reshape_index_mapping

    def update_concat(graph, node):
        dim = getattr(node.grad_fn, '_saved_dim', None)
        shapes = [recorder.shapes.get(n.grad_fn) for n in node.inputs]
        if node.module.concat_sizes is None and isinstance(dim, int) and \
                all(s is not None and len(s) > dim for s in shapes):
            node.module.concat_sizes = [s[dim] for s in shapes]
        try:
            concat(graph, node)
        except TypeError:
            node.module.offsets = None

    def update_reshape(graph, node):
        try:
            reshape(graph, node)
        except ZeroDivisionError:
            pass

    index_mapping.update_concat_index_mapping = update_concat
    index_mapping.update_reshape_index_mapping = update_reshape
    try:
        yield
    finally:
        index_mapping.update_concat_index_mapping = concat
        index_mapping.update_reshape_index_mapping = reshape


def channel_dim(shape: Tuple[int, ...]) -> Optional[int]:
    """The channel dim of a traced tensor: 1 (2-D, 4-D), -1 (3-D tokens),
    None (other ranks: unknown)."""
    return {2: 1, 4: 1, 3: 2}.get(len(shape))


@dataclass
class TracedGroup:
    """Coupled channels reached from one root layer's output channels.

    Attributes:
        items: (node, handler) -> (positions, element ids): the channels of
            one node dim (a handler is a Torch-Pruning pruning function:
            output or input channels) and the element behind each.
        taint: why the group cannot be gated (None: it can).
    """
    items: Dict[Tuple[object, object], Tuple[List[int], List[int]]] = \
        field(default_factory=dict)
    taint: Optional[str] = None


class _UnionFind:

    def __init__(self):
        self.parent: List[int] = []

    def add(self) -> int:
        self.parent.append(len(self.parent))
        return len(self.parent) - 1

    def find(self, k: int) -> int:
        p = self.parent
        while p[k] != k:
            p[k] = p[p[k]]
            k = p[k]
        return k

    def union(self, a: int, b: int) -> None:
        a, b = self.find(a), self.find(b)
        if a != b:
            self.parent[a] = b


class _Shapes:
    """Input / output shapes of graph nodes, from a :class:`ShapeRecorder`
    and the nodes' grad_fns."""

    def __init__(self, shapes: Dict[object, Tuple[int, ...]]):
        self.shapes = shapes

    def out(self, node) -> Optional[Tuple[int, ...]]:
        if isinstance(node.module, torch.nn.Parameter):
            return tuple(node.module.shape)
        return self.shapes.get(node.grad_fn)

    def ins(self, node) -> List[Optional[Tuple[int, ...]]]:
        return [self.out(n) for n in node.inputs]


def _op_name(node) -> str:
    fn = node.grad_fn
    return type(fn).__name__ if fn is not None else type(node.module).__name__


class ChannelGrouper:
    """Groups of a built ``DependencyGraph`` (see the module docstring).

    Args:
        dg: the graph (``build_dependency`` done).
        recorder: the :class:`ShapeRecorder` of the traced forward.
        names: module -> path, to name the layer before a tainting op.
        at: updated with the root layer being walked ('path', 'type'),
            for the caller's error message.
        unseen_readers: grad_fn -> why the graph cannot follow the
            channels there: a tensor read outside the graph, or the model
            input (``graph_gates._trace``).
    """

    def __init__(self, dg, recorder: ShapeRecorder,
                 names: Dict[object, str], at: Optional[dict] = None,
                 unseen_readers: Optional[Dict[object, str]] = None):
        from torch_pruning import ops
        self.dg, self.ops, self.names = dg, ops, names
        self.at = {} if at is None else at
        self.shapes = _Shapes(recorder.shapes)
        self.internal = recorder.internal
        self.unseen_readers = unseen_readers or {}
        self._identity: Dict[object, bool] = {}  # node -> cat/split by
        self._taint: Dict[object, Optional[str]] = {}
        self._width: Dict[Tuple[object, object], Optional[int]] = {}

    # -- per node rules --------------------------------------------------
    def identity(self, node) -> bool:
        """A concatenation / split along a dim other than the channel dim:
        its inputs and outputs share channels one to one."""
        if node not in self._identity:
            out = self.shapes.out(node) if node.type == \
                self.ops.OPTYPE.CONCAT else next(iter(self.shapes.ins(node)),
                                                 None)
            dim = getattr(node.grad_fn, '_saved_dim', None)
            cdim = channel_dim(out) if out is not None else None
            self._identity[node] = (
                isinstance(dim, int) and cdim is not None and
                dim % len(out) != cdim)
        return self._identity[node]

    def taint(self, node) -> Optional[str]:
        """Why channels cannot be followed through ``node`` (None: they
        can)."""
        if node not in self._taint:
            self._taint[node] = self._why(node)
        return self._taint[node]

    def _why(self, node) -> Optional[str]:
        OPTYPE = self.ops.OPTYPE
        why = self.unseen_readers.get(node.grad_fn)
        if why is not None:
            return why
        if node.grad_fn in self.internal:
            return None
        name = _op_name(node).lower()
        if node.type == OPTYPE.RESHAPE:
            ins, out = self.shapes.ins(node), self.shapes.out(node)
            if not ins or ins[0] is None or out is None:
                return self._say(node, 'a reshape of unknown shape')
            if _keeps_channels(ins[0], out):
                return None
            return self._say(node, f'a reshape {_fmt(ins[0])} -> '
                             f'{_fmt(out)} that moves channels')
        if node.type in (OPTYPE.CONCAT, OPTYPE.SPLIT):
            shape = (self.shapes.out(node) if node.type == OPTYPE.CONCAT
                     else next(iter(self.shapes.ins(node)), None))
            dim = getattr(node.grad_fn, '_saved_dim', None)
            if shape is None or not isinstance(dim, int) or \
                    channel_dim(shape) is None:
                return self._say(node, f'a {_op_name(node)} of unknown '
                                 'layout')
            if not self.identity(node) and len(shape) == 3:
                return self._say(node, f'a {_op_name(node)} along the token '
                                 'features')
            if not self.identity(node) and getattr(
                    node.module, 'offsets', None) is None:
                return self._say(node, f'a {_op_name(node)} of unknown '
                                 'sizes')
            return None
        if node.type in (OPTYPE.UNBIND, OPTYPE.EXPAND):
            return self._say(node, f'a {_op_name(node)}')
        if node.type == OPTYPE.ELEMENTWISE and any(t in name
                                                   for t in TAINTING):
            return self._say(node, f'a {_op_name(node)}')
        return None

    def _say(self, node, what: str) -> str:
        return (f'{what} after {self.where(node)} (the dependency graph '
                'cannot follow its channels)')

    def where(self, node) -> str:
        """The nearest named layer before ``node``: 'path (Type)'."""
        seen, todo = set(), [node]
        while todo and len(seen) < 200:
            n = todo.pop(0)
            if n in seen:
                continue
            seen.add(n)
            path = (self.dg._param_to_name.get(n.module) if isinstance(
                n.module, torch.nn.Parameter) else self.names.get(n.module))
            if path is not None:
                return f'{path or "the model"} ({type(n.module).__name__})'
            todo.extend(n.inputs)
        return 'the model input'

    # -- the walk ----------------------------------------------------------
    def groups(self, log_after: float = PROGRESS_S,
               budget: float = BUDGET_S) -> List[TracedGroup]:
        """Every group rooted at a conv / linear layer's output channels,
        in module order; each element in exactly one group.

        Raises:
            PaSConfigError: not done after ``budget`` seconds.
        """
        from torch_pruning.pruner import function
        dg, ops = self.dg, self.ops
        start = time.perf_counter()
        logged = start + log_after
        element: Dict[Tuple[object, object, int], int] = {}
        where: List[Tuple[object, object, int]] = []  # id -> key
        owner: List[int] = []  # id -> group index
        units = _UnionFind()
        merged = _UnionFind()  # groups joined by a shared element
        groups: List[TracedGroup] = []

        def new(key, gi):
            element[key] = units.add()
            where.append(key)
            owner.append(gi)
            return element[key]

        roots = [m for m in dg.module2node
                 if isinstance(m, (ops.TORCH_CONV, ops.TORCH_LINEAR))]
        for i, m in enumerate(roots):
            pruner = dg.get_pruner_of_module(m)
            channels = pruner.get_out_channels(m) if pruner else None
            if not channels:
                continue
            node = dg.module2node[m]
            self.at.update(path=self.names.get(m, ''), type=type(m).__name__)
            fn = pruner.prune_out_channels
            if isinstance(m, ops.TORCH_CONV) and m.groups == \
                    m.out_channels and m.out_channels > 1:
                fn = function.prune_depthwise_conv_out_channels
            if (node, fn, 0) in element:
                continue
            gi = len(groups)
            groups.append(TracedGroup())
            merged.add()
            ids = [new((node, fn, c), gi) for c in range(channels)]
            stack = [(node, fn, ids)]
            while stack:
                node, fn, ids = stack.pop()
                now = time.perf_counter()
                if now - start > budget:
                    raise PaSConfigError(
                        "gates='auto': grouping the channels did not finish "
                        f'in {budget:.0f} s ({len(element)} channels seen, '
                        f'at {self.names.get(m, "?")} ({type(m).__name__}))'
                        '; pass PaSModel(ignored=[...]) no help here: please '
                        'report the model')
                if now > logged:
                    logged = now + log_after
                    print_log(
                        f"gates='auto': grouping channels, {i + 1}/"
                        f'{len(roots)} root layers, {len(element)} channels '
                        f'seen, {now - start:.0f} s', logger='current',
                        level=logging.INFO)
                reason = self.taint(node)
                if reason is not None and groups[gi].taint is None:
                    groups[gi].taint = reason
                for dep in node.dependencies:
                    if not dep.is_triggered_by(fn):
                        continue
                    target = dep.target
                    reason = self.taint(target)
                    if reason is not None and groups[gi].taint is None:
                        groups[gi].taint = reason
                    mapped = self._map(dep, ids, where)
                    if any(e is None for _, e in mapped):
                        groups[gi].taint = groups[gi].taint or self._say(
                            target, 'an index mapping that loses which '
                            'channel an index came from')
                        mapped = [(i, e) for i, e in mapped if e is not None]
                    limit = self.width(target, dep.handler)
                    if limit is not None and any(i >= limit for i, _ in mapped):
                        groups[gi].taint = groups[gi].taint or self._say(
                            target, f'an index mapping past the {limit} '
                            'channels of a tensor')
                        mapped = [(i, e) for i, e in mapped if i < limit]
                    fresh = []
                    for idx, e in mapped:
                        key = (target, dep.handler, idx)
                        t = element.get(key)
                        if t is None:
                            t = new(key, gi)
                            fresh.append(t)
                        elif owner[t] != gi:
                            merged.union(owner[t], gi)
                        units.union(t, e)
                    if fresh:
                        stack.append((target, dep.handler, fresh))
        elapsed = time.perf_counter() - start
        if elapsed > log_after:
            print_log(f"gates='auto': grouped {len(element)} channels of "
                      f'{len(roots)} root layers in {elapsed:.0f} s',
                      logger='current', level=logging.INFO)
        return self._collect(groups, merged, element, where, owner, units)

    def width(self, node, handler) -> Optional[int]:
        """Channels of a node's dim (a layer's inputs or outputs, an op's
        tensor at its channel dim, the larger of dims 1 and 3 of a 4-D one:
        channels first or last; None: unknown)."""
        key = (node, handler)
        if key not in self._width:
            m, width = node.module, None
            pruner = self.dg.get_pruner_of_module(m) if isinstance(
                m, torch.nn.Module) else None
            if isinstance(m, (self.ops.TORCH_CONV, self.ops.TORCH_LINEAR,
                              self.ops.TORCH_BATCHNORM)) and pruner:
                width = (pruner.get_out_channels(m) if handler ==
                         pruner.prune_out_channels else
                         pruner.get_in_channels(m))
            else:
                shape = self.shapes.out(node)
                if shape is not None and len(shape) == 4:
                    width = max(shape[1], shape[3])  # NCHW or NHWC
                elif shape is not None and len(shape) > 1:
                    cdim = channel_dim(shape)
                    width = (shape[cdim] if cdim is not None else
                             int(torch.tensor(shape[1:]).prod()))
            self._width[key] = width
        return self._width[key]

    def flatten_stride(self, node) -> Optional[int]:
        """``H * W`` of a reshape (N, C, H, W) -> (N, C * H * W) with
        ``H * W > 1``; None for any other node. Torch-Pruning maps such a
        flatten only where it can infer C by walking back to a layer (not
        through GRoIE's sum of RoI features into a tensor of zeros)."""
        if node.type != self.ops.OPTYPE.RESHAPE:
            return None
        ins, out = self.shapes.ins(node), self.shapes.out(node)
        if not ins or ins[0] is None or out is None or len(ins[0]) != 4:
            return None
        n, c, h, w = ins[0]
        return h * w if h * w > 1 and tuple(out) == (n, c * h * w) else None

    def _map(self, dep, ids: List[int], where) -> List[Tuple[int, int]]:
        """(target index, source element) of each source element that the
        dependency's index mappings carry over (source None: the mapping
        lost it)."""
        mappings = [f for f in dep.index_mapping if f is not None]
        if not mappings:  # a flatten Torch-Pruning could not size
            hw = self.flatten_stride(dep.target)
            if hw and dep.source in dep.target.inputs:
                return [(where[e][2] * hw + k, e) for e in ids
                        for k in range(hw)]
            hw = self.flatten_stride(dep.source)
            if hw and dep.target in dep.source.inputs:
                return [(where[e][2] // hw, e) for e in ids]
        if not mappings or (dep.source.type in (self.ops.OPTYPE.CONCAT,
                                                self.ops.OPTYPE.SPLIT)
                            and self.identity(dep.source)) or (
                dep.target.type in (self.ops.OPTYPE.CONCAT,
                                    self.ops.OPTYPE.SPLIT)
                and self.identity(dep.target)):
            return [(where[e][2], e) for e in ids]
        from torch_pruning._helpers import _HybridIndex
        idxs = [_HybridIndex(idx=where[e][2], root_idx=e) for e in ids]
        try:
            for f in mappings:
                idxs = f(idxs)
        except ArithmeticError:  # a mapping built for another pattern
            return [(where[e][2], None) for e in ids]  # (GQA's, head_dim 0)
        return [(h.idx, h.root_idx) for h in idxs]

    @staticmethod
    def _collect(groups, merged, element, where, owner, units
                 ) -> List[TracedGroup]:
        out: Dict[int, TracedGroup] = {}
        for gi, g in enumerate(groups):
            top = out.setdefault(merged.find(gi), TracedGroup())
            top.taint = top.taint or g.taint
        for e, (node, fn, idx) in enumerate(where):
            pos, ids = out[merged.find(owner[e])].items.setdefault(
                (node, fn), ([], []))
            pos.append(idx)
            ids.append(units.find(e))
        return list(out.values())


def _keeps_channels(src: Tuple[int, ...], dst: Tuple[int, ...]) -> bool:
    """A reshape that leaves every channel where a reader expects it:
    singleton dims added or removed (a per-channel weight viewed as
    (1, C, 1, 1)), batch and channel dims unchanged ((N, C, H, W) -> (N, C, H * W), the
    (N, C, 1, 1) <-> (N, C) of a classifier), the feature dim of tokens
    unchanged ((B, N, C) -> (B * N, C)), or the flattening of (N, C, H, W)
    into (N, C * H * W) before a linear layer (Torch-Pruning's mapping)."""
    if [d for d in src if d != 1] == [d for d in dst if d != 1]:
        return True  # singleton dims added or removed
    if len(src) in (2, 4) and len(dst) in (2, 3, 4) and src[:2] == dst[:2]:
        return True
    if len(src) == 3 and len(dst) in (2, 3) and src[-1] == dst[-1]:
        return True
    if len(src) == 2 and len(dst) == 3 and src[-1] == dst[-1]:
        return True
    return len(src) == 4 and dst == (src[0], src[1] * src[2] * src[3])


def _fmt(shape) -> str:
    return '(' + ', '.join(map(str, shape)) + ')'
