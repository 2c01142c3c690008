"""RepVGG with per-layer widths and a DBC gate after every block."""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.model import Sequential
from mmengine.registry import MODELS
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from mmpretrain.models.backbones.repvgg import RepVGG, RepVGGBlock
from torch import nn

from ...errors import PaSConfigError
from .gated_backbone import (GatedBackboneMixin, OutputGateMixin,
                             slice_channels)
from .stock_backbone import with_stock_defaults


class GatedRepVGGBlock(OutputGateMixin, RepVGGBlock):
    """RepVGGBlock with a :class:`DBCGate` after its Add (``gate_cfg``)."""


@MODELS.register_module()
class PaSRepVGG(GatedBackboneMixin, RepVGG):
    """RepVGG backbone whose every block width is searchable.

    Same arguments as mmpretrain's ``RepVGG`` (``arch`` string or dict,
    without group convs or SE), plus:

    Args:
        widths (Sequence, optional): output channels of the stem and of
            every block, flat (``1 + sum(num_blocks)`` numbers) or nested
            per stage as the official PaS code writes them
            (``[[stem], [stage 1 ...], ..., [stage 4 ...]]``); each at most
            the width ``arch`` gives that layer. Defaults to those widths.
            Pruned deploy models and released subnets set these.
        gate_cfg (dict, optional): :class:`DBCGate` arguments; None builds
            no gates (the deploy form).
        unpruned_layers (Sequence[str]): layers built without a gate, by
            path: ``'stem'`` or ``'stage_{i}.{j}'`` (e.g. ``'stage_4.0'``,
            the last B1 layer, which the paper never prunes).
    """

    def __init__(self,
                 arch: Union[str, dict],
                 widths: Optional[Sequence[int]] = None,
                 gate_cfg: Optional[dict] = dict(),
                 unpruned_layers: Sequence[str] = (),
                 in_channels: int = 3,
                 base_channels: int = 64,
                 out_indices: Sequence[int] = (3, ),
                 strides: Sequence[int] = (2, 2, 2, 2),
                 dilations: Sequence[int] = (1, 1, 1, 1),
                 frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 with_cp: bool = False,
                 deploy: bool = False,
                 norm_eval: bool = False,
                 init_cfg=[
                     dict(type='Kaiming', layer=['Conv2d']),
                     dict(type='Constant', val=1,
                          layer=['_BatchNorm', 'GroupNorm'])
                 ]):
        BaseBackbone.__init__(self, init_cfg)
        if isinstance(arch, str):
            if arch not in RepVGG.arch_settings:
                raise PaSConfigError(f'PaSRepVGG: unknown arch {arch!r}, choose '
                                 f'from {sorted(RepVGG.arch_settings)}')
            arch = RepVGG.arch_settings[arch]
        if arch.get('group_layer_map') or arch.get('se_cfg'):
            raise NotImplementedError(
                'PaSRepVGG does not prune group convs or SE layers; use an '
                'arch without group_layer_map and se_cfg (A0-A2, B0-B3).')
        num_blocks = list(arch['num_blocks'])
        if not (len(num_blocks) == len(strides) == len(dilations)
                and max(out_indices) < len(num_blocks)):
            raise PaSConfigError('PaSRepVGG: num_blocks, strides and dilations '
                             'must have one entry per stage and out_indices '
                             'must name existing stages')
        arch = dict(arch, group_layer_map=None, se_cfg=None)
        widths = self.check_widths(
            widths, self.arch_widths(arch, base_channels), num_blocks)
        names = self.layer_names(num_blocks)
        unknown = sorted(set(unpruned_layers) - set(names))
        if unknown:
            raise PaSConfigError(
                f'PaSRepVGG: unpruned_layers {unknown} are not layers of '
                f"this arch ('stem' or 'stage_i.j', e.g. {names[-1]!r})")
        layer_gate_cfg = [None if n in unpruned_layers else gate_cfg
                          for n in names]
        self.arch = arch
        self.widths = widths
        self.gate_cfg = gate_cfg
        self.unpruned_layers = tuple(unpruned_layers)
        self.base_channels = base_channels
        self.in_channels = in_channels
        self.out_indices = out_indices
        self.strides = strides
        self.dilations = dilations
        self.deploy = deploy
        self.frozen_stages = frozen_stages
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.act_cfg = act_cfg
        self.with_cp = with_cp
        self.norm_eval = norm_eval
        block_cfg = dict(with_cp=with_cp, conv_cfg=conv_cfg,
                         norm_cfg=norm_cfg, act_cfg=act_cfg, deploy=deploy)

        self.stem = GatedRepVGGBlock(in_channels, widths[0], stride=2,
                                     gate_cfg=layer_gate_cfg[0], **block_cfg)
        self.stages = []
        idx, channels = 1, widths[0]
        for i, n in enumerate(num_blocks):
            blocks = []
            for j in range(n):
                d = dilations[i]
                blocks.append(GatedRepVGGBlock(
                    channels, widths[idx],
                    stride=strides[i] if j == 0 else 1,
                    padding=d, dilation=d, gate_cfg=layer_gate_cfg[idx],
                    **block_cfg))
                channels = widths[idx]
                idx += 1
            self.add_module(f'stage_{i + 1}', Sequential(*blocks))
            self.stages.append(f'stage_{i + 1}')
        self.ppf = nn.Identity()

    @classmethod
    def from_stock(cls, stock_cls: type, cfg: dict) -> dict:
        """Config reproducing mmpretrain's ``RepVGG`` (``cfg``: merged).

        Raises:
            ValueError: another backbone class, or ``add_ppf=True``.
        """
        if stock_cls is not RepVGG:
            raise PaSConfigError(
                f'PaSRepVGG cannot reproduce backbone {stock_cls.__name__} '
                f'({stock_cls.__module__}); supported: mmpretrain RepVGG')
        cfg = with_stock_defaults(cls, stock_cls, cfg)
        if cfg.pop('add_ppf', False):
            raise PaSConfigError('PaSRepVGG cannot reproduce RepVGG with '
                             'add_ppf=True (the pyramid pooling of YOLOX-PAI)')
        return cfg

    @staticmethod
    def check_widths(widths: Optional[Sequence], default: List[int],
                     num_blocks: Sequence[int]) -> List[int]:
        """``widths`` as a flat list, checked against ``default``.

        Raises:
            PaSConfigError: wrong length (per stage when nested), or a
                width below 1 or above the layer's ``default``, naming the
                layer.
        """
        names = PaSRepVGG.layer_names(num_blocks)
        if widths is None:
            return list(default)
        widths = list(widths)
        if widths and all(isinstance(w, (list, tuple)) for w in widths):
            lengths = [1] + list(num_blocks)
            if len(widths) != len(lengths):
                raise PaSConfigError(
                    f'PaSRepVGG: nested widths need {len(lengths)} lists '
                    f'(stem + {len(num_blocks)} stages), got {len(widths)}')
            for i, (stage, n) in enumerate(zip(widths, lengths)):
                if len(stage) != n:
                    where = 'the stem' if i == 0 else f'stage_{i}'
                    raise PaSConfigError(
                        f'PaSRepVGG: widths for {where} has {len(stage)} '
                        f'numbers, the arch has {n} layers there')
            widths = [w for stage in widths for w in stage]
        if len(widths) != len(default):
            raise PaSConfigError(
                f'PaSRepVGG: widths needs {len(default)} numbers (stem + '
                f'{sum(num_blocks)} blocks), got {len(widths)}')
        for name, w, full in zip(names, widths, default):
            if not isinstance(w, int) or not 1 <= w <= full:
                raise PaSConfigError(
                    f'PaSRepVGG: width {w!r} of {name} must be an integer '
                    f'from 1 to its stock width {full}')
        return widths

    @staticmethod
    def layer_names(num_blocks: Sequence[int]) -> List[str]:
        """Module paths of the stem and every block, in forward order."""
        return ['stem'] + [f'stage_{i + 1}.{j}'
                           for i, n in enumerate(num_blocks)
                           for j in range(n)]

    @staticmethod
    def arch_widths(arch: dict, base_channels: int) -> List[int]:
        """Stem + per-block widths of an mmpretrain RepVGG arch."""
        widths = [min(arch.get('stem_channels', 64),
                      int(base_channels * arch['width_factor'][0]))]
        for i, n in enumerate(arch['num_blocks']):
            widths += [int(base_channels * 2**i * arch['width_factor'][i])] * n
        return widths

    def blocks(self) -> List[GatedRepVGGBlock]:
        """Stem and all blocks in forward order."""
        return [self.stem] + [b for s in self.stages for b in getattr(self, s)]

    def _last_blocks(self) -> List[GatedRepVGGBlock]:
        return [getattr(self, s)[-1] for s in self.stages]

    def layer_widths(self):
        return {f'{name}.gate': w for name, w in zip(
            self.layer_names(self.arch['num_blocks']), self.widths)}

    def gated_layers(self):
        if self.deploy:
            return {}
        layers, prev = {}, None
        for b in self.blocks():
            layers[b.branch_3x3.conv] = (prev, b.gate)
            prev = b.gate
        return layers

    def fused_away(self):
        return [] if self.deploy else [b.branch_1x1.conv for b in self.blocks()]

    def output_gates(self):
        last = self._last_blocks()
        return [last[i].gate for i in self.out_indices]

    def export_deploy(self):
        if self.deploy:
            raise RuntimeError('PaSRepVGG is already in deploy form')
        state: Dict[str, torch.Tensor] = {}
        names = {b: n for n, b in self.named_modules()}
        widths, prev = [], None
        for b in self.blocks():
            weight, bias = b.reparameterize()
            keep = None if b.gate is None else b.gate.hard_mask()
            prefix = names[b] + '.branch_reparam.'
            state[prefix + 'weight'] = slice_channels(weight.detach(), keep,
                                                      prev)
            state[prefix + 'bias'] = slice_channels(bias.detach(), keep)
            widths.append(len(state[prefix + 'bias']))
            prev = keep
        return dict(widths=widths, deploy=True, gate_cfg=None), state
