"""MobileOne with per-layer widths and a DBC gate after every point-wise
block."""
from typing import List, Optional, Sequence, Tuple, Union

import torch
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import Sequential
from mmengine.registry import MODELS
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from mmpretrain.models.backbones.mobileone import MobileOne, MobileOneBlock
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ...errors import PaSConfigError
from ...ops import DBCGate
from .gated_backbone import (GatedBackboneMixin, OutputGateMixin,
                             slice_channels)
from .stock_backbone import with_stock_defaults

ARCH_KEYS = ('num_blocks', 'width_factor', 'num_conv_branches',
             'num_se_blocks')
BASE_CHANNELS = (64, 128, 256, 512)  # as mmpretrain's MobileOne
# (block, gate on its input, gate on its output), in forward order
LayerGates = List[Tuple[MobileOneBlock, Optional[DBCGate], Optional[DBCGate]]]


class GatedMobileOneBlock(OutputGateMixin, MobileOneBlock):
    """MobileOneBlock with a :class:`DBCGate` after its Add and activation
    (``gate_cfg``)."""


@MODELS.register_module()
class PaSMobileOne(GatedBackboneMixin, MobileOne):
    """MobileOne backbone whose stem and point-wise widths are searchable.

    Same arguments as mmpretrain's ``MobileOne`` (``arch`` 's0'-'s3' or a
    dict without SE blocks), plus ``widths`` and ``gate_cfg``. Each layer of
    a stage is a depth-wise 3x3 block (``stage{i}.{2j}``) and a point-wise
    1x1 block (``stage{i}.{2j + 1}``); the stem (``stage0``) and every
    point-wise block have a gate after their activation. A depth-wise block
    has as many channels as its input: the gate of its input is applied
    again on its output (a pruned channel would otherwise carry
    ``act(BN bias)`` into the point-wise conv), and at deploy its channels
    and groups shrink together.

    Args:
        widths (Sequence[int], optional): output channels of the stem and of
            every point-wise block, ``1 + sum(num_blocks)`` numbers, each at
            most the stock width. Defaults to the stock widths. Pruned
            deploy models set these.
        gate_cfg (dict, optional): :class:`DBCGate` arguments; None builds
            no gates (the deploy form).

    ``se_cfg`` is taken for compatibility only: an arch with SE blocks is
    refused (:class:`PaSConfigError`), as are non-BN norms, custom convs and
    ``deploy=True`` with gates.

    Shapes: input (N, 3, H, W); output i (N, widths of stage i's last
    block, H / 2**(i + 2), W / 2**(i + 2)).
    """

    def __init__(self,
                 arch: Union[str, dict],
                 widths: Optional[Sequence[int]] = None,
                 gate_cfg: Optional[dict] = dict(),
                 in_channels: int = 3,
                 out_indices: Union[int, Sequence[int]] = (3, ),
                 frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 se_cfg: dict = dict(ratio=16),
                 deploy: bool = False,
                 norm_eval: bool = False,
                 init_cfg=[
                     dict(type='Kaiming', layer=['Conv2d']),
                     dict(type='Constant', val=1, layer=['_BatchNorm'])
                 ]):
        BaseBackbone.__init__(self, init_cfg)
        arch = self.check_arch(arch)
        self.check_layers(conv_cfg, norm_cfg, deploy, gate_cfg)
        widths = self.check_widths(widths, arch)
        self.arch = arch
        self.widths = widths
        self.gate_cfg = gate_cfg
        self.in_channels = in_channels
        self.out_indices = self.check_out_indices(out_indices)
        self.deploy = deploy
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.se_cfg = se_cfg
        self.act_cfg = act_cfg
        block_cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                         act_cfg=act_cfg, deploy=deploy)

        self.stage0 = GatedMobileOneBlock(
            in_channels, widths[0], kernel_size=3, num_convs=1, stride=2,
            gate_cfg=gate_cfg, **block_cfg)
        self.stages = []
        idx, channels = 1, widths[0]
        for i, n in enumerate(arch['num_blocks']):
            branches = arch['num_conv_branches'][i]
            blocks = []
            for j in range(n):
                blocks.append(MobileOneBlock(  # depth-wise
                    channels, channels, kernel_size=3, num_convs=branches,
                    stride=2 if j == 0 else 1, padding=1, groups=channels,
                    **block_cfg))
                blocks.append(GatedMobileOneBlock(  # point-wise
                    channels, widths[idx], kernel_size=1, num_convs=branches,
                    padding=0, gate_cfg=gate_cfg, **block_cfg))
                channels = widths[idx]
                idx += 1
            self.add_module(f'stage{i + 1}', Sequential(*blocks))
            self.stages.append(f'stage{i + 1}')

    # config checks -----------------------------------------------------
    @classmethod
    def from_stock(cls, stock_cls: type, cfg: dict) -> dict:
        """Config reproducing mmpretrain's ``MobileOne`` (``cfg``: merged).

        Raises:
            PaSConfigError: another backbone class, or an option the gated
                backbone cannot reproduce (SE blocks, non-BN norms, custom
                convs, ``deploy=True``), or bad ``widths``.
        """
        if stock_cls is not MobileOne:
            raise PaSConfigError(
                f'PaSMobileOne cannot reproduce backbone {stock_cls.__name__}'
                f' ({stock_cls.__module__}); supported: mmpretrain MobileOne')
        cfg = with_stock_defaults(cls, stock_cls, cfg)
        arch = cls.check_arch(cfg['arch'])
        cls.check_layers(cfg['conv_cfg'], cfg['norm_cfg'], cfg['deploy'],
                         cfg.get('gate_cfg', {}))
        cls.check_widths(cfg.get('widths'), arch)
        return cfg

    @staticmethod
    def check_arch(arch: Union[str, dict]) -> dict:
        """The arch dict of ``arch``.

        Raises:
            PaSConfigError: unknown name, missing keys, SE blocks or no conv
                branch.
        """
        name = arch if isinstance(arch, str) else 'dict'
        if isinstance(arch, str):
            if arch not in MobileOne.arch_zoo:
                raise PaSConfigError(
                    f'PaSMobileOne: unknown arch {arch!r}, choose from '
                    f'{sorted(MobileOne.arch_zoo)}')
            arch = MobileOne.arch_zoo[arch]
        missing = [k for k in ARCH_KEYS if len(arch.get(k, ())) != 4]
        if missing:
            raise PaSConfigError(
                f'PaSMobileOne: arch needs 4 numbers (one per stage) for '
                f'each of {list(ARCH_KEYS)}; {missing} missing or not 4 long')
        if any(arch['num_se_blocks']):
            raise PaSConfigError(
                f'PaSMobileOne cannot gate SE layers: arch {name} has '
                f"num_se_blocks={list(arch['num_se_blocks'])} (se_cfg); use "
                's0-s3 or num_se_blocks=[0, 0, 0, 0]')
        if min(arch['num_conv_branches']) < 1:
            raise PaSConfigError(
                'PaSMobileOne: num_conv_branches='
                f"{list(arch['num_conv_branches'])} must be >= 1 per stage")
        return dict(arch)

    @staticmethod
    def check_layers(conv_cfg: Optional[dict], norm_cfg: dict, deploy: bool,
                     gate_cfg: Optional[dict]) -> None:
        """Refuse layers the deploy step cannot fuse or slice.

        Raises:
            PaSConfigError: ``conv_cfg`` other than a plain conv, a norm
                without running statistics (BN folds into the conv),
                ``deploy=True`` with gates.
        """
        if type(build_conv_layer(conv_cfg, 1, 1, 1)) is not nn.Conv2d:
            raise PaSConfigError(
                f'PaSMobileOne: conv_cfg={conv_cfg!r} is not a plain conv, '
                'which deploy cannot fuse and slice; use conv_cfg=None')
        if not isinstance(build_norm_layer(norm_cfg, 1)[1], _BatchNorm):
            raise PaSConfigError(
                f"PaSMobileOne: norm_cfg type {norm_cfg.get('type')!r} "
                'cannot be folded into the convs at deploy; use BN or SyncBN')
        if deploy and gate_cfg is not None:
            raise PaSConfigError(
                'PaSMobileOne: deploy=True (branches already fused) cannot be '
                'searched; use deploy=False, or gate_cfg=None for the pruned '
                'deploy form')

    @staticmethod
    def arch_widths(arch: dict) -> List[int]:
        """Stock stem + per point-wise block widths of an arch dict."""
        factors = arch['width_factor']
        widths = [min(64, int(BASE_CHANNELS[0] * factors[0]))]
        for i, n in enumerate(arch['num_blocks']):
            widths += [int(BASE_CHANNELS[i] * factors[i])] * n
        return widths

    @staticmethod
    def layer_names(arch: dict) -> List[str]:
        """'stage0' (stem) and 'stage{i} block {j}', one per width."""
        return ['stage0'] + [f'stage{i + 1} block {j}'
                             for i, n in enumerate(arch['num_blocks'])
                             for j in range(n)]

    @classmethod
    def check_widths(cls, widths: Optional[Sequence[int]],
                     arch: dict) -> List[int]:
        """``widths`` (default: stock) checked against the stock widths.

        Raises:
            PaSConfigError: wrong length, or a width below 1 or above the
                layer's stock width, naming the layer.
        """
        stock = cls.arch_widths(arch)
        if widths is None:
            return stock
        widths = list(widths)
        if len(widths) != len(stock):
            raise PaSConfigError(
                f'PaSMobileOne: widths needs {len(stock)} numbers (stem + '
                f"{sum(arch['num_blocks'])} point-wise blocks), got "
                f'{len(widths)}')
        for i, (name, w, full) in enumerate(
                zip(cls.layer_names(arch), widths, stock)):
            if not isinstance(w, int) or w < 1:
                raise PaSConfigError(f'PaSMobileOne: widths[{i}] ({name}) = '
                                     f'{w!r} must be a positive integer')
            if w > full:
                raise PaSConfigError(
                    f'PaSMobileOne: widths[{i}] ({name}) = {w} is above its '
                    f'stock width {full}')
        return widths

    @staticmethod
    def check_out_indices(out_indices: Union[int, Sequence[int]]) -> list:
        """``out_indices`` as non-negative stage indices."""
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        indices = [i + 4 if i < 0 else i for i in out_indices]
        if not indices or not all(0 <= i < 4 for i in indices):
            raise PaSConfigError(f'PaSMobileOne: out_indices={out_indices} '
                                 'must name stages 0-3')
        return indices

    # structure ---------------------------------------------------------
    def stage_layers(self, i: int) -> List[Tuple[MobileOneBlock,
                                                 GatedMobileOneBlock]]:
        """(depth-wise, point-wise) block pairs of stage ``i`` (0-based)."""
        stage = getattr(self, self.stages[i])
        return list(zip(stage[::2], stage[1::2]))

    def layer_gates(self) -> LayerGates:
        """Every block with the gates on its input and output channels."""
        layers, prev = [(self.stage0, None, self.stage0.gate)], \
            self.stage0.gate
        for i in range(len(self.stages)):
            for dw, pw in self.stage_layers(i):
                layers += [(dw, prev, prev), (pw, prev, pw.gate)]
                prev = pw.gate
        return layers

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x = self.stage0(x)
        gate, outs = self.stage0.gate, []
        for i in range(len(self.stages)):
            for dw, pw in self.stage_layers(i):
                x = dw(x)
                if gate is not None:  # the depth-wise block keeps its input's
                    x = gate(x)       # channels
                x = pw(x)
                gate = pw.gate
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _freeze_stages(self):
        """Frozen stages keep their weights; their gates are still searched."""
        super()._freeze_stages()
        for gate in self.gates().values():
            gate.weight.requires_grad = True

    # GatedBackboneMixin ------------------------------------------------
    def layer_widths(self):
        names = {m: n for n, m in self.named_modules()}
        return {f'{names[b]}.gate': b.out_channels
                for b, _, _ in self.layer_gates()
                if isinstance(b, GatedMobileOneBlock)}

    def gated_layers(self):
        """The first conv branch of every block stands for the fused conv."""
        if self.deploy:
            return {}
        return {b.branch_conv_list[0].conv: (g_in, g_out)
                for b, g_in, g_out in self.layer_gates()}

    def fused_away(self):
        if self.deploy:
            return []
        return [m.conv for b, _, _ in self.layer_gates()
                for m in [*b.branch_conv_list[1:], b.branch_scale]
                if m is not None]

    def output_gates(self):
        return [self.stage_layers(i)[-1][1].gate for i in self.out_indices]

    def export_deploy(self):
        if self.deploy:
            raise RuntimeError('PaSMobileOne is already in deploy form')
        names = {m: n for n, m in self.named_modules()}
        state, widths = {}, []
        for b, g_in, g_out in self.layer_gates():
            weight, bias = b.reparameterize()
            keep = None if g_out is None else g_out.hard_mask()
            keep_in = None if g_in is None or b.groups > 1 else \
                g_in.hard_mask()  # depth-wise: (C, 1, k, k)
            prefix = names[b] + '.branch_reparam.'
            state[prefix + 'weight'] = slice_channels(weight.detach(), keep,
                                                      keep_in)
            state[prefix + 'bias'] = slice_channels(bias.detach(), keep)
            if isinstance(b, GatedMobileOneBlock):
                widths.append(len(state[prefix + 'bias']))
        return dict(widths=widths, deploy=True, gate_cfg=None), state
