"""PaSModel: adds DBC-gate search and the MACs loss to any OpenMMLab model."""
import contextlib
import copy
import hashlib
from typing import Dict, Optional, Sequence, Union

import torch
from mmengine.model import BaseModel
from mmengine.registry import MODELS
from torch import nn

from ..errors import PaSConfigError
from ..ops import DBCGate
from .backbones.gated_backbone import GatedBackboneMixin
from .backbones.stock_backbone import gated_backbone_cfg
from .deploy_builder import build_deployed_model
from .gated_parts import build_gate_groups, group_layers
from .attention_heads import gate_attention_heads, head_counter
from .graph_gates import build_auto_gates, graph_counter
from ..budget import LatencyTable
from ..budget import MACsCounter
from .pas_search_mixin import PaSSearchMixin
from ..ops.raw_forward import raw_forward, training_only_layers


@MODELS.register_module()
class PaSModel(PaSSearchMixin, BaseModel):
    """Wraps an mmpretrain classifier or mmdet detector for PaS.

    ``forward(mode='loss')`` returns the wrapped model's losses plus
    ``loss_macs`` (while searching) and ``macs_ratio`` (current MACs / full
    MACs, logged), so mmengine's ``train_step`` and its DDP wrapper need no
    change. Other modes are the wrapped model's.

    Args:
        architecture (dict): the model config to wrap, e.g.
            ``{{_base_.model}}`` in a config inheriting an mmpretrain or
            mmdet config.
        backbone (dict, optional): merged into ``architecture['backbone']``
            with mmengine's config merge, e.g. ``dict(type='PaSRepVGG')``.
            The resulting backbone must be DBC-gated.
        macs_loss (dict, optional): the search budget: a :class:`MACsLoss`
            config with the target, or a :class:`LatencyLoss` one (a
            latency target, from per-layer tables measured on the device).
            None when nothing is searched: a fixed-width model
            (backbone ``gate_cfg=None``, e.g. the training form of a
            released subnet, which ``deploy_reparam.py`` then fuses) or
            masks fixed by ``subnet``.
        input_shape (Sequence[int]): (C, H, W) at which MACs are counted.
        gate_neck (bool): also gate the detector's neck (one gate for all
            FPN levels: its laterals are summed top-down and its levels feed
            shared heads).
        gate_heads (bool | list[str]): also gate the heads: one gate per
            conv shared across levels (dense heads, RPN, RoI heads' shared
            FCs and mask convs), YOLACT's protonet convs (the last one
            coupled with the coefficients: ``num_protos``). True gates every
            head; a list only the named ones, e.g. ``['bbox_head']``.
        part_gate_cfg (dict, optional): :class:`DBCGate` arguments of the
            neck and head gates, or of every gate under ``gates='auto'``
            (e.g. ``dict(min_keep=8)``).
        subnet (str, optional): a subnet JSON written by ``PaSSearchHook``;
            its masks are applied and fixed (fine-tune a searched width
            without its checkpoint).
        gates (str, optional): ``'auto'``: leave the stock model as it is
            and put one gate on each channel group of its dependency graph
            (Torch-Pruning, traced once at ``input_shape``; see
            :mod:`pas_mm.models.graph_gates`); ``backbone``, ``gate_neck``
            and ``gate_heads`` must then be unset. None: the gated backbone
            and parts above.
        ignored (list[str]): with ``gates='auto'``, module paths (or
            prefixes, e.g. ``'neck'``) whose channel groups stay ungated.
        data_preprocessor (dict, optional): passed to ``architecture`` when
            it has none (the Runner puts the config's top-level
            ``data_preprocessor`` here).
    """

    def __init__(self,
                 architecture: Union[dict, nn.Module],
                 backbone: Optional[dict] = None,
                 macs_loss: Optional[dict] = dict(type='MACsLoss',
                                                  target=0.5),
                 input_shape: Sequence[int] = (3, 224, 224),
                 gate_neck: bool = False,
                 gate_heads: Union[bool, Sequence[str]] = False,
                 part_gate_cfg: Optional[dict] = None,
                 subnet: Optional[str] = None,
                 gates: Optional[str] = None,
                 ignored: Sequence[str] = (),
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if isinstance(architecture, dict):
            architecture = copy.deepcopy(dict(architecture))
            if backbone is not None:
                architecture['backbone'] = gated_backbone_cfg(
                    architecture.get('backbone', {}), backbone)
            if data_preprocessor is not None:
                architecture.setdefault('data_preprocessor', data_preprocessor)
            # the merged config, from which deploy writes its config
            self.architecture_cfg = copy.deepcopy(architecture)
            architecture = MODELS.build(architecture)
        else:
            self.architecture_cfg = None
        self.architecture = architecture
        self.data_preprocessor = architecture.data_preprocessor
        if not (isinstance(input_shape, (list, tuple)) and len(input_shape)
                == 3 and all(isinstance(s, int) and s > 0
                             for s in input_shape)):
            raise PaSConfigError(f'PaSModel: input_shape={input_shape!r} '
                                 'must be (C, H, W), 3 positive integers')
        self.input_shape = tuple(input_shape)
        self.auto_gates = None
        if isinstance(ignored, str) or not isinstance(ignored, (list, tuple)) \
                or not all(isinstance(p, str) for p in ignored):
            raise PaSConfigError(
                f'PaSModel: ignored={ignored!r} must be a list of module '
                "paths, e.g. ['backbone.conv1']")
        if gates is not None:
            self._build_auto(gates, backbone, gate_neck or gate_heads,
                             ignored, part_gate_cfg, macs_loss, subnet)
            return
        if ignored:
            raise PaSConfigError("PaSModel: ignored is an option of "
                                 "gates='auto'")
        self.gate_groups = build_gate_groups(
            architecture, gate_neck, gate_heads,
            part_gate_cfg) if gate_neck or gate_heads else []
        backbone = getattr(architecture, 'backbone', None)
        if not isinstance(backbone, GatedBackboneMixin):
            if not self.gate_groups:
                raise PaSConfigError(
                    f'PaSModel: the backbone of {type(architecture).__name__}'
                    f' ({type(backbone).__name__}) has no DBC gates. Use a '
                    "gated backbone such as dict(type='PaSRepVGG') or "
                    "dict(type='PaSResNet'), or gate_neck / gate_heads.")
            backbone = None
        elif (not backbone.gates() and not self.gate_groups
              and macs_loss is not None):
            raise PaSConfigError(
                f'PaSModel: the backbone {type(backbone).__name__} was built '
                'without gates (gate_cfg=None) and nothing else is gated; '
                'set macs_loss=None to train this fixed-width model')
        gated, out_repeat = group_layers(self.gate_groups)
        if backbone is not None:
            gated.update(backbone.gated_layers())
        with self._runs_at_input_shape():
            self.counter, self.consumers = MACsCounter.profile(
                architecture,
                lambda: raw_forward(architecture,
                                    torch.zeros(1, *self.input_shape),
                                    training_branches=True),
                gated=gated,
                ignored=(training_only_layers(architecture) +
                         (backbone.fused_away() if backbone else [])),
                source=backbone,
                source_gates=backbone.output_gates() if backbone else (),
                gated_outputs={m: g.gate for g in self.gate_groups
                               for m in g.outputs},
                out_repeat=out_repeat)
        self.macs_full = self.counter.full()
        self.macs_min = self.counter.minimum()
        self._build_macs_loss(macs_loss, subnet)
        if subnet is not None:
            self.load_subnet(subnet)

    def _build_auto(self, gates, backbone, parts, ignored, gate_cfg,
                    macs_loss, subnet) -> None:
        """Gates from the dependency graph; counter from their groups."""
        if gates != 'auto':
            raise PaSConfigError(f"PaSModel: gates={gates!r}; use 'auto' "
                                 'or leave it unset')
        if backbone is not None or parts:
            raise PaSConfigError(
                "PaSModel: gates='auto' gates the stock model itself; "
                'remove backbone / gate_neck / gate_heads')
        if macs_loss is not None and macs_loss.get('type') == 'LatencyLoss':
            raise PaSConfigError("PaSModel: gates='auto' supports MACsLoss "
                                 'only (LatencyLoss not yet)')
        arch = self.architecture
        with self._runs_at_input_shape():
            self.auto_gates = build_auto_gates(
                arch, torch.zeros(1, *self.input_shape),
                lambda m, x: raw_forward(m, x, training_branches=True),
                ignored, gate_cfg)
        heads = gate_attention_heads(arch, self.auto_gates, ignored,
                                     gate_cfg)
        self.gate_groups, self.consumers = [], {}

        def run():
            return raw_forward(arch, torch.zeros(1, *self.input_shape),
                               training_branches=True)

        with self._runs_at_input_shape():
            self.counter = head_counter(
                graph_counter(arch, run, self.auto_gates,
                              ignored=training_only_layers(arch)),
                arch, run, heads, ignored=training_only_layers(arch))
        self.macs_full = self.counter.full()
        self.macs_min = self.counter.minimum()
        self._build_macs_loss(macs_loss, subnet)
        if subnet is not None:
            self.load_subnet(subnet)

    @contextlib.contextmanager
    def _runs_at_input_shape(self):
        """An error raised inside, where the network fails at
        ``input_shape`` but runs at 256 px (or more): ``PaSConfigError``,
        the input is too small; other errors pass through."""
        try:
            yield
        except Exception as e:
            c, h, w = self.input_shape
            big = (c, max(h, 256), max(w, 256))
            if big == self.input_shape:
                raise
            try:
                with torch.no_grad():
                    raw_forward(self.architecture, torch.zeros(1, c, h, w))
            except Exception as small:
                try:
                    with torch.no_grad():
                        raw_forward(self.architecture, torch.zeros(1, *big))
                except Exception:
                    raise e from None
                reason = (str(small).strip() or ' ').splitlines()[0]
                raise PaSConfigError(
                    f'PaSModel: input_shape={self.input_shape} is too small '
                    f'for this network (it runs at {big[1]}x{big[2]}; at '
                    f'{h}x{w}: {type(small).__name__}: {reason}); give the '
                    'input size the model is trained at') from e
            raise

    # gates -------------------------------------------------------------
    def gates(self) -> Dict[str, DBCGate]:
        """Gates by module path inside ``architecture``."""
        return {n: m for n, m in self.architecture.named_modules()
                if isinstance(m, DBCGate)}

    def _latency_key(self, table: LatencyTable) -> str:
        """The architecture (its module tree) and the input size."""
        arch = hashlib.sha1(repr(self.architecture).encode()).hexdigest()
        shape = 'x'.join(map(str, (table.batch_size, *self.input_shape)))
        return f'{type(self.architecture).__name__} {arch[:12]}, input {shape}'

    def _deployed_with(self, masks: Optional[Dict[DBCGate, torch.Tensor]]
                       ) -> nn.Module:
        """This model deployed with ``masks`` (None, or a gate missing from
        them: every channel kept); the model itself is not changed."""
        if self.architecture_cfg is None:
            raise PaSConfigError('PaSModel: LatencyLoss needs the model '
                                 'built from a config (architecture=dict)')
        names = {g: n for n, g in self.gates().items()}
        model = copy.deepcopy(self)
        gates = model.gates()
        for g, name in names.items():
            mask = (masks or {}).get(g)
            gates[name].fix(torch.ones(g.num_channels, dtype=torch.bool)
                            if mask is None else mask)
        return build_deployed_model(model).eval()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Also load a checkpoint of the wrapped model itself.

        A checkpoint without ``architecture.`` keys (e.g. an mmpretrain or
        mmdet model-zoo file, or a pre-trained unpruned network) is read as
        the wrapped model's: its keys move under ``architecture.``; the
        gates it lacks keep their initial (all kept) state and are reported
        missing as usual.
        """
        arch = prefix + 'architecture.'
        if not any(k.startswith(arch) for k in state_dict):
            for k in [k for k in state_dict if k.startswith(prefix)]:
                state_dict[arch + k[len(prefix):]] = state_dict.pop(k)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # forward -----------------------------------------------------------
    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        out = self.architecture(inputs, data_samples, mode)
        if mode == 'loss':
            out.update(self.macs_losses())
        return out
