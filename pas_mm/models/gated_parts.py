"""DBC gates on a detector's neck and heads, with their channel couplings.

A :class:`GateGroup` is one gate on the outputs of one or more layers whose
channels are coupled: FPN's laterals are summed top-down and all its levels
feed heads shared across levels, so the whole FPN is one group; a head conv
shared across levels is one group; YOLACT's ``num_protos`` couples the
protonet's last conv with the coefficient conv (``num_anchors`` copies).
The gates live in ``detector.gates`` (a ModuleDict keyed by the owning
module's path, dots as dashes: outside the modules whose ``init_cfg`` would
re-initialize them) and are applied by a forward hook on every output layer; layers reading the gated channels are
found by tracing (``MACsCounter.profile``) or declared (``readers``) where
the channels pass through functional sums tracing cannot follow.
"""
from dataclasses import dataclass, field
from typing import (Callable, Dict, List, Optional, Sequence, Tuple,
                    Union)

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..errors import PaSConfigError
from ..ops import DBCGate

# heads gated per shared conv: class name -> attributes holding the convs
STACKED_HEADS = {
    'RetinaHead': ('cls_convs', 'reg_convs'),
    'RPNHead': ('rpn_conv', ),
    'YOLACTHead': ('head_convs', ),
    # RoI heads (two-stage detectors' roi_head.bbox_head / .mask_head)
    'Shared2FCBBoxHead': ('shared_fcs', ),
    'FCNMaskHead': ('convs', ),
}
# layers reading a head's last stacked conv through functional ops
HEAD_READERS = {'RPNHead': ('rpn_cls', 'rpn_reg')}  # F.relu in between
NECKS = ('FPN', )
MASK_HEADS = ('YOLACTProtonet', )
# heads known to read the neck only through convs (and channel-wise ops),
# so a gated neck's channels can be sliced from them
NECK_READERS = ('RetinaHead', 'RPNHead', 'YOLACTHead', 'YOLACTProtonet',
                'ATSSHead', 'FCOSHead')


@dataclass
class GateGroup:
    """One gate on coupled channels.

    Attributes:
        path: module path of the gate inside the detector.
        gate: the gate.
        outputs: modules whose outputs the gate multiplies.
        convs: conv/linear layers whose output channels it keeps.
        norms: norms right after ``convs`` (sliced with them).
        readers: layers reading the gated channels through ops tracing
            cannot follow (FPN's top-down sums).
        repeated: (layer, copies) whose output channels are ``copies``
            consecutive blocks of the group's channels (YOLACT coeffs).
        cfg_updates: (config path, fn(kept width) -> value): stock options
            that follow the kept width (YOLACT's ``num_protos``).
    """
    path: str
    gate: DBCGate
    outputs: List[nn.Module]
    convs: List[nn.Module]
    norms: List[nn.Module] = field(default_factory=list)
    readers: List[nn.Module] = field(default_factory=list)
    repeated: List[Tuple[nn.Module, int]] = field(default_factory=list)
    cfg_updates: List[Tuple[str, Callable[[int], object]]] = field(
        default_factory=list)


class GateHook:
    """Forward hook multiplying a module's output by a gate.

    An object, not a closure, so a deep copy of the model applies the
    copied gate.
    """

    def __init__(self, gate: DBCGate):
        self.gate = gate

    def __call__(self, module, inputs, output):
        if isinstance(output, (tuple, list)):
            return type(output)(self.gate(o) for o in output)
        return self.gate(output)


def _conv_and_norm(module: nn.Module, where: str):
    """(conv, norm or None) of a Conv2d/Linear or an mmcv ConvModule."""
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        return module, None
    conv, norm = getattr(module, 'conv', None), getattr(module, 'norm', None)
    if type(conv) is not nn.Conv2d:
        raise NotImplementedError(
            f'{where} ({type(module).__name__}) is not a plain conv, linear '
            'or ConvModule; pas_mm cannot gate it')
    if norm is not None and not isinstance(norm, _BatchNorm):
        raise NotImplementedError(
            f'{where} uses {type(norm).__name__}; pruning single channels '
            'changes its statistics, pas_mm gates convs without norm or '
            'with BatchNorm only')
    return conv, norm


def _group(gates: nn.ModuleDict, owner_path: str, outputs, paths,
           gate_cfg: dict, **kwargs) -> GateGroup:
    convs, norms = [], []
    for m, p in zip(outputs, paths):
        conv, norm = _conv_and_norm(m, p)
        convs.append(conv)
        norms += [norm] if norm is not None else []
    key = owner_path.replace('.', '-')
    gates[key] = DBCGate(convs[0].weight.shape[0], **gate_cfg)
    return GateGroup(f'gates.{key}', gates[key], list(outputs), convs, norms,
                     **kwargs)


def fpn_groups(gates: nn.ModuleDict, neck: nn.Module, path: str,
               gate_cfg: dict) -> List[GateGroup]:
    """One gate on every lateral and output conv of an mmdet FPN."""
    n = len(neck.lateral_convs)
    outputs = list(neck.lateral_convs) + list(neck.fpn_convs)
    paths = ([f'{path}.lateral_convs.{i}' for i in range(n)] +
             [f'{path}.fpn_convs.{i}' for i in range(len(neck.fpn_convs))])
    readers = [_conv_and_norm(m, p)[0] for m, p in zip(
        neck.fpn_convs, paths[n:])][:n]  # read the summed laterals
    if neck.add_extra_convs in ('on_lateral', 'on_output'):
        readers += [_conv_and_norm(m, '')[0] for m in neck.fpn_convs[n:]]
    elif neck.add_extra_convs == 'on_input':  # first reads the backbone
        readers += [_conv_and_norm(m, '')[0] for m in neck.fpn_convs[n + 1:]]
    return [_group(gates, path, outputs, paths, gate_cfg, readers=readers)]


def stacked_head_groups(gates: nn.ModuleDict, head: nn.Module, path: str,
                        gate_cfg: dict) -> List[GateGroup]:
    """One gate per conv of a head's stacked convs (shared across levels)."""
    groups = []
    for attr in STACKED_HEADS[type(head).__name__]:
        layers = getattr(head, attr)
        if isinstance(layers, (nn.ModuleList, nn.Sequential)):
            layers = {f'{attr}.{i}': m for i, m in enumerate(layers)}
        else:
            layers = {attr: layers}
        for name, m in layers.items():
            groups.append(_group(gates, f'{path}.{name}', [m],
                                 [f'{path}.{name}'], gate_cfg))
    groups[-1].readers += [getattr(head, r) for r in HEAD_READERS.get(
        type(head).__name__, ())]
    return groups


def yolact_protonet_groups(gates: nn.ModuleDict, mask_head: nn.Module,
                           bbox_head: nn.Module, path: str,
                           gate_cfg: dict) -> List[GateGroup]:
    """A gate per protonet conv; the last one (``num_protos``) also keeps
    the matching coefficients of every anchor in ``bbox_head.conv_coeff``."""
    convs = [(i, m) for i, m in enumerate(mask_head.protonet)
             if isinstance(m, nn.Conv2d)]
    if any(isinstance(m, nn.ConvTranspose2d) for m in mask_head.protonet):
        raise NotImplementedError(
            f'{path}.protonet has a transposed conv; pas_mm gates conv '
            'protonets only')
    groups, protos = [], list(mask_head.proto_channels)
    for i, m in convs:
        p = f'{path}.protonet.{i}'
        last = i == convs[-1][0]
        extra = dict(repeated=[(bbox_head.conv_coeff,
                                bbox_head.num_base_priors)],
                     cfg_updates=[
                         ('bbox_head.num_protos', lambda k: k),
                         ('mask_head.num_protos', lambda k: k),
                         ('mask_head.proto_channels',
                          lambda k: protos[:-1] + [k])]) if last else {}
        groups.append(_group(gates, p, [m], [p], gate_cfg, **extra))
    return groups


HEADS = ('rpn_head', 'bbox_head', 'roi_head.bbox_head', 'roi_head.mask_head',
         'mask_head')


def build_gate_groups(detector: nn.Module, neck: bool,
                      heads: Union[bool, Sequence[str]],
                      gate_cfg: Optional[dict] = None) -> List[GateGroup]:
    """Gate the neck and/or heads of an mmdet detector; hooks attached.

    ``heads``: True gates every head the detector has, a list only the
    named ones (of :data:`HEADS`).

    Raises:
        NotImplementedError: a part asked for has a type pas_mm cannot gate
            (the message names the module and the supported types).
    """
    gate_cfg = dict(gate_cfg or {})
    gates = nn.ModuleDict()
    groups = []
    if neck:
        m = getattr(detector, 'neck', None)
        if type(m).__name__ not in NECKS:
            raise NotImplementedError(
                f'gate_neck: neck {type(m).__name__} cannot be gated; '
                f'supported: {NECKS}')
        for attr in ('rpn_head', 'bbox_head', 'mask_head', 'roi_head'):
            head = getattr(detector, attr, None)
            if head is not None and type(head).__name__ not in NECK_READERS:
                raise NotImplementedError(
                    f'gate_neck: the neck feeds {attr} '
                    f'({type(head).__name__}), which may mix its channels '
                    'in ways pas_mm cannot slice (RoI pooling + flatten, '
                    'concatenated coordinates); neck gating supports '
                    f'detectors whose heads are {NECK_READERS}. Use '
                    'gate_neck=False.')
        groups += fpn_groups(gates, m, 'neck', gate_cfg)
    if heads:
        names = HEADS if heads is True else tuple(heads)
        unknown = set(names) - set(HEADS)
        if unknown:
            raise PaSConfigError(f'gate_heads: unknown heads {sorted(unknown)}; '
                             f'name some of {HEADS} or pass True')
        found = False
        roi_head = getattr(detector, 'roi_head', None)
        for attr in HEADS[:-1]:
            owner = roi_head if attr.startswith('roi_head.') else detector
            m = getattr(owner, attr.rpartition('.')[2], None)
            if m is None or attr not in names:
                continue
            if type(m).__name__ not in STACKED_HEADS:
                raise NotImplementedError(
                    f'gate_heads: {attr} {type(m).__name__} cannot be gated; '
                    f'supported: {sorted(STACKED_HEADS)} (+ {MASK_HEADS})')
            groups += stacked_head_groups(gates, m, attr, gate_cfg)
            found = True
        m = getattr(detector, 'mask_head', None)
        if m is not None and roi_head is None and 'mask_head' in names:
            if type(m).__name__ not in MASK_HEADS:
                raise NotImplementedError(
                    f'gate_heads: mask_head {type(m).__name__} cannot be '
                    f'gated; supported: {MASK_HEADS}')
            groups += yolact_protonet_groups(gates, m, detector.bbox_head,
                                             'mask_head', gate_cfg)
            found = True
        if not found:
            raise NotImplementedError(
                f'gate_heads: {type(detector).__name__} has no head pas_mm '
                f'can gate (supported: {sorted(STACKED_HEADS)})')
    detector.add_module('gates', gates)
    for g in groups:
        for m in g.outputs:
            m.register_forward_hook(GateHook(g.gate))
    return groups


def group_layers(groups: List[GateGroup]) -> Tuple[dict, Dict[nn.Module,
                                                                int]]:
    """For the MACs counter: layer -> (in gate, out gate), layer -> copies."""
    gated, repeat = {}, {}
    for g in groups:
        for conv in g.convs:
            gated[conv] = (gated.get(conv, (None, None))[0], g.gate)
        for conv in g.readers:
            gated[conv] = (g.gate, gated.get(conv, (None, None))[1])
        for conv, copies in g.repeated:
            gated[conv] = (gated.get(conv, (None, None))[0], g.gate)
            repeat[conv] = copies
    return gated, repeat
