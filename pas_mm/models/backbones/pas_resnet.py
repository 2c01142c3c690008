"""ResNet with DBC gates on the inner channels of every residual block."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.utils.checkpoint as cp
from mmcv.cnn import build_norm_layer
from mmengine.registry import MODELS
from mmpretrain.models.backbones.resnet import (BasicBlock, Bottleneck, ResNet,
                                                ResNetV1c, ResNetV1d)
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ...errors import PaSConfigError
from .gated_backbone import GatedBackboneMixin, gate_or_none, slice_channels
from .stock_backbone import with_stock_defaults


def stock_resnets() -> Dict[type, dict]:
    """Stock ResNet classes PaSResNet reproduces -> options their class sets.

    mmdet's classes are included when mmdet is installed.
    """
    variants = {ResNet: {}, ResNetV1c: dict(deep_stem=True, avg_down=False),
                ResNetV1d: dict(deep_stem=True, avg_down=True)}
    try:
        from mmdet.models.backbones import resnet as det
    except ImportError:
        return variants
    variants.update({det.ResNet: {},
                     det.ResNetV1d: dict(deep_stem=True, avg_down=True)})
    return variants


def fold_bn(weight: torch.Tensor, bias: Optional[torch.Tensor],
            norm: Dict[str, torch.Tensor], eps: float):
    """Fold an eval-mode BN (its state tensors) into the conv before it.

    Returns the (O, I, k, k) weight and (O,) bias of one conv computing
    ``bn(conv(x))``.
    """
    scale = norm['weight'] / torch.sqrt(norm['running_var'] + eps)
    bias = torch.zeros_like(scale) if bias is None else bias
    return (weight * scale.reshape(-1, 1, 1, 1),
            (bias - norm['running_mean']) * scale + norm['bias'])


def _replace(root: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, attr = name.rpartition('.')
    setattr(root.get_submodule(parent) if parent else root, attr, module)


class GatedResidualMixin:
    """Gates after each inner conv-norm-relu of a residual block.

    The residual (block input/output) width is untouched; only the inner
    widths ``mid_widths`` (1 for BasicBlock, 2 for Bottleneck) are searched.
    """

    num_inner = 0

    def _add_gates(self, gate_cfg: Optional[dict]) -> None:
        for i, (_, norm) in enumerate(self.conv_norms()[:-1], 1):
            setattr(self, f'gate{i}', gate_or_none(norm.num_features,
                                                   gate_cfg))

    def conv_norms(self):
        """(conv, norm) pairs in forward order."""
        return [(getattr(self, f'conv{i}'), getattr(self, f'norm{i}'))
                for i in range(1, self.num_inner + 2)]

    def inner_gates(self) -> List[Optional[nn.Module]]:
        return [getattr(self, f'gate{i}')
                for i in range(1, self.num_inner + 1)]

    def set_mid_widths(self, widths: Sequence[int]) -> None:
        """Rebuild the inner convs and norms with the given widths."""
        pairs = self.conv_norms()
        chans = [pairs[0][0].in_channels, *widths, pairs[-1][0].out_channels]
        for i, (conv, norm) in enumerate(pairs, 1):
            if (conv.in_channels, conv.out_channels) == (chans[i - 1],
                                                         chans[i]):
                continue
            setattr(self, f'conv{i}', nn.Conv2d(
                chans[i - 1], chans[i], conv.kernel_size, conv.stride,
                conv.padding, conv.dilation, bias=conv.bias is not None))
            self.add_module(getattr(self, f'norm{i}_name'),
                            build_norm_layer(self.norm_cfg, chans[i])[1])
        self.mid_channels = chans[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:

        def _inner_forward(x):
            out, pairs = x, self.conv_norms()
            for i, (conv, norm) in enumerate(pairs):
                out = norm(conv(out))
                if i < len(pairs) - 1:
                    out = self.relu(out)
                    gate = getattr(self, f'gate{i + 1}')
                    if gate is not None:
                        out = gate(out)
            identity = x if self.downsample is None else self.downsample(x)
            return self.drop_path(out) + identity

        if self.with_cp and x.requires_grad:
            out = cp.checkpoint(_inner_forward, x)
        else:
            out = _inner_forward(x)
        return self.relu(out)


class GatedBasicBlock(GatedResidualMixin, BasicBlock):
    num_inner = 1

    def __init__(self, *args, gate_cfg: Optional[dict] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._add_gates(gate_cfg)


class GatedBottleneck(GatedResidualMixin, Bottleneck):
    num_inner = 2

    def __init__(self, *args, gate_cfg: Optional[dict] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._add_gates(gate_cfg)


@MODELS.register_module()
class PaSResNet(GatedBackboneMixin, ResNet):
    """mmpretrain/mmdet-compatible ResNet with searchable inner widths.

    Same arguments and state-dict names as mmpretrain's ``ResNet`` (and
    mmdet's, without DCN/plugins), plus:

    Args:
        mid_widths (list[list[int]], optional): inner widths of every block
            in forward order (one number per BasicBlock, two per
            Bottleneck). Pruned deploy models set these.
        gate_cfg (dict, optional): :class:`DBCGate` arguments; None builds
            no gates (the deploy form).
        fold_bn (bool): BN folded into the convs (convs with bias, norms
            replaced by ``nn.Identity``): the deploy form.
    """

    arch_settings = {
        18: (GatedBasicBlock, (2, 2, 2, 2)),
        34: (GatedBasicBlock, (3, 4, 6, 3)),
        50: (GatedBottleneck, (3, 4, 6, 3)),
        101: (GatedBottleneck, (3, 4, 23, 3)),
        152: (GatedBottleneck, (3, 8, 36, 3)),
    }

    def __init__(self,
                 depth: int,
                 mid_widths: Optional[List[List[int]]] = None,
                 gate_cfg: Optional[dict] = dict(),
                 fold_bn: bool = False,
                 **kwargs):
        self.gate_cfg = gate_cfg
        if depth not in self.arch_settings:
            raise PaSConfigError(f'PaSResNet: invalid depth {depth}, choose from '
                             f'{sorted(self.arch_settings)}')
        super().__init__(depth, **kwargs)
        if mid_widths is not None:
            blocks = self.blocks()
            if len(mid_widths) != len(blocks) or any(
                    len(w) != b.num_inner or min(w) < 1
                    for w, b in zip(mid_widths, blocks)):
                raise PaSConfigError(
                    f'PaSResNet: mid_widths needs one list of '
                    f'{blocks[0].num_inner} positive widths per block '
                    f'({len(blocks)} blocks), got {mid_widths}')
            for b, w in zip(blocks, mid_widths):
                b.set_mid_widths(w)
        if fold_bn:
            names = {m: n for n, m in self.named_modules()}
            for conv, norm in self.conv_norm_pairs():
                _replace(self, names[conv], nn.Conv2d(
                    conv.in_channels, conv.out_channels, conv.kernel_size,
                    conv.stride, conv.padding, conv.dilation, conv.groups,
                    bias=True))
                _replace(self, names[norm], nn.Identity())

    @classmethod
    def from_stock(cls, stock_cls: type, cfg: dict) -> dict:
        """Config reproducing a stock ResNet (``cfg``: merged, type ours).

        Fills the options the stock class sets itself (V1c/V1d stems) and
        its defaults that differ from mmpretrain's ResNet (mmdet:
        ``norm_eval=True``, ``out_indices=(0, 1, 2, 3)``); mmdet's
        ``pretrained`` becomes an ``init_cfg``.

        Raises:
            ValueError: the stock class or an option (DCN, plugins, ResNeXt
                groups) cannot be reproduced.
        """
        variants = stock_resnets()
        if stock_cls not in variants:
            raise PaSConfigError(
                f'PaSResNet cannot reproduce backbone {stock_cls.__name__} '
                f'({stock_cls.__module__}); supported: '
                f'{sorted({c.__name__ for c in variants})} from mmpretrain '
                'and mmdet (ResNeXt groups, Res2Net and the like are not)')
        cfg = with_stock_defaults(cls, stock_cls, cfg)
        cfg.update(variants[stock_cls])
        for name in ('dcn', 'plugins'):
            value = cfg.pop(name, None)
            if value is not None:
                raise PaSConfigError(
                    f'PaSResNet cannot reproduce {stock_cls.__name__} with '
                    f'{name}={value!r}: remove {name} from the backbone '
                    'config or keep the stock backbone')
        if any(cfg.pop('stage_with_dcn', ())):
            raise PaSConfigError(f'PaSResNet cannot reproduce '
                             f'{stock_cls.__name__} with DCN stages '
                             '(stage_with_dcn)')
        pretrained = cfg.pop('pretrained', None)
        if pretrained is not None:
            cfg['init_cfg'] = dict(type='Pretrained', checkpoint=pretrained)
        if cfg.get('stem_channels') is None:
            cfg['stem_channels'] = cfg.get('base_channels', 64)
        return cfg

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Also read mmdet's deep stem (a plain Sequential of conv/BN/ReLU)."""
        if self.deep_stem and prefix + 'stem.0.weight' in state_dict:
            for i, j in enumerate((0, 3, 6)):
                norm = self.stem[i].norm_name
                for old, new in ((j, 'conv'), (j + 1, norm)):
                    for k in [k for k in state_dict
                              if k.startswith(f'{prefix}stem.{old}.')]:
                        state_dict[k.replace(f'stem.{old}.',
                                             f'stem.{i}.{new}.')] = \
                            state_dict.pop(k)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _freeze_stages(self):
        """Frozen stages keep their weights; their gates are still searched."""
        super()._freeze_stages()
        for gate in self.gates().values():
            gate.weight.requires_grad = True

    def make_res_layer(self, **kwargs):
        return super().make_res_layer(gate_cfg=self.gate_cfg, **kwargs)

    def blocks(self) -> List[GatedResidualMixin]:
        return [b for name in self.res_layers for b in getattr(self, name)]

    def conv_norm_pairs(self) -> List[Tuple[nn.Conv2d, nn.Module]]:
        """Every (conv, norm that follows it): stem, blocks, downsamples."""
        if self.deep_stem:
            pairs = [(m.conv, m.norm) for m in self.stem]
        else:
            pairs = [(self.conv1, self.norm1)]
        for b in self.blocks():
            pairs += b.conv_norms()
            if b.downsample is not None:
                pairs += list(zip(
                    [m for m in b.downsample if isinstance(m, nn.Conv2d)],
                    [m for m in b.downsample
                     if not isinstance(m, (nn.Conv2d, nn.AvgPool2d))]))
        return pairs

    def gated_layers(self):
        layers = {}
        for b in self.blocks():
            gates = [None] + b.inner_gates() + [None]
            for i, (conv, _) in enumerate(b.conv_norms()):
                layers[conv] = (gates[i], gates[i + 1])
        return layers

    def output_gates(self):
        return [None] * len(self.out_indices)

    def layer_widths(self):
        names = {m: n for n, m in self.named_modules()}
        return {f'{names[b]}.gate{i}': conv.out_channels
                for b in self.blocks()
                for i, (conv, _) in enumerate(b.conv_norms()[:-1], 1)}

    def export_deploy(self):
        names = {m: n for n, m in self.named_modules()}
        state = {k: v.detach().clone() for k, v in self.state_dict().items()
                 if '.gate' not in k}
        mid_widths = []
        for b in self.blocks():
            masks = [None if g is None else g.hard_mask()
                     for g in b.inner_gates()]
            mid_widths.append([
                int(m.sum()) if m is not None else norm.num_features
                for m, (_, norm) in zip(masks, b.conv_norms())])
            masks = [None] + masks + [None]
            for i, (conv, norm) in enumerate(b.conv_norms()):
                c, n = names[conv], names[norm]
                state[c + '.weight'] = slice_channels(
                    state[c + '.weight'], masks[i + 1], masks[i])
                for k in ('weight', 'bias', 'running_mean', 'running_var'):
                    state[f'{n}.{k}'] = slice_channels(state[f'{n}.{k}'],
                                                       masks[i + 1])
        pairs = self.conv_norm_pairs()
        foldable = all(isinstance(n, _BatchNorm) for _, n in pairs)
        for conv, norm in pairs if foldable else []:
            c, n = names[conv], names[norm]
            bn = {k: state.pop(f'{n}.{k}') for k in
                  ('weight', 'bias', 'running_mean', 'running_var')}
            state.pop(f'{n}.num_batches_tracked', None)
            state[f'{c}.weight'], state[f'{c}.bias'] = fold_bn(
                state[f'{c}.weight'], state.pop(f'{c}.bias', None), bn,
                norm.eps)
        return dict(mid_widths=mid_widths, gate_cfg=None,
                    fold_bn=foldable), state
