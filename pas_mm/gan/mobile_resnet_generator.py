"""Mobile-ResNet generator (GAN Compression) with DBC gates on every width.

Layout at base width ``w`` (input H x W, widths before pruning)::

    stem    reflect-pad 3, conv 7x7 (in -> w), IN, ReLU       gate stem_gate
    down.0  conv 3x3 s2 (w -> 2w), IN, ReLU                    gate down_gate
    down.1  conv 3x3 s2 (2w -> 4w), IN, ReLU                   gate res_gate
    blocks  x + pw2(dw2(pw1(dw1(x)))), one per block:          gate blocks.i.gate
              dw1 depth-wise 3x3 (4w), IN
              pw1 1x1 (4w -> inner_i), IN, ReLU
              dw2 depth-wise 3x3 (inner_i), IN
              pw2 1x1 (inner_i -> 4w), IN                      gate res_gate
    up.0    transposed conv 3x3 s2 (4w -> 2w), IN, ReLU        gate up_gates.0
    up.1    transposed conv 3x3 s2 (2w -> w), IN, ReLU         gate up_gates.1
    head    reflect-pad 3, conv 7x7 (w -> out), Tanh

The residual stream (``down.1`` and every block's ``pw2``) is summed, so its
channels are one coupled group with one gate, ``res_gate``. Each gate is
applied after the norm and activation of the layer it follows (and again
after a depth-wise conv + norm on gated channels), so pruned channels are
exactly zero wherever a layer mixes channels, whatever the norm: slicing
them away is exact.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule, normal_init
from torch import nn

from mmagic.registry import MODELS

from ..errors import PaSConfigError
from ..models.backbones.gated_backbone import gate_or_none
from ..ops import DBCGate

GatePair = Tuple[Optional[DBCGate], Optional[DBCGate]]


class MobileResnetBlock(nn.Module):
    """Residual block of two depth-wise separable convs.

    Args:
        channels (int): residual stream width C.
        inner (int): width between the two separable convs.
        norm_cfg (dict): norm after every conv.
        padding_mode (str): padding of the depth-wise 3x3 convs.
        gate_cfg (dict, optional): :class:`DBCGate` of the inner width.

    Shapes: (N, C, H, W) -> (N, C, H, W).
    """

    def __init__(self, channels: int, inner: int, norm_cfg: dict,
                 padding_mode: str, gate_cfg: Optional[dict]):
        super().__init__()
        bias = norm_cfg['type'] == 'IN'

        def dw(c):
            return ConvModule(c, c, 3, padding=1, groups=c, bias=bias,
                              norm_cfg=norm_cfg, act_cfg=None,
                              padding_mode=padding_mode)

        self.dw1 = dw(channels)
        self.pw1 = ConvModule(channels, inner, 1, bias=bias,
                              norm_cfg=norm_cfg)
        self.dw2 = dw(inner)
        self.pw2 = ConvModule(inner, channels, 1, bias=bias,
                              norm_cfg=norm_cfg, act_cfg=None)
        self.gate = gate_or_none(inner, gate_cfg)

    def forward(self, x: torch.Tensor,
                res_gate: Optional[DBCGate] = None) -> torch.Tensor:
        res = res_gate or nn.Identity()
        inner = self.gate or nn.Identity()
        y = inner(self.pw1(res(self.dw1(x))))
        y = res(self.pw2(inner(self.dw2(y))))
        return x + y


@MODELS.register_module()
class PaSMobileResnetGenerator(BaseModule):
    """GAN Compression's Mobile-ResNet generator, DBC-gated or pruned.

    Args:
        in_channels (int): input image channels.
        out_channels (int): output image channels.
        base_channels (int): w, the stem width (mmagic's ResnetGenerator
            name); the stock widths are w, 2w, 4w (residual stream), 2w, w.
        num_blocks (int): residual blocks.
        inner_channels (int, optional): stock inner width of every block
            (default 4w, GAN Compression's full Mobile-ResNet).
        norm_cfg (dict): norm layer config (mmagic: ``dict(type='IN')``).
        padding_mode (str): padding of the 7x7 and depth-wise convs.
        widths (dict, optional): pruned widths (deploy form), as written by
            :meth:`export_deploy`: ``dict(stem=int, down=int, res=int,
            blocks=[int] * num_blocks, up=[int, int])``.
        gate_cfg (dict, optional): :class:`DBCGate` arguments; None builds
            the network without gates.
        init_cfg (dict): mmagic's generation init (``type``, ``gain``).

    Shapes: (N, in_channels, H, W) -> (N, out_channels, H, W), H and W
    divisible by 4.
    """

    def __init__(self,
                 in_channels: int = 3,
                 out_channels: int = 3,
                 base_channels: int = 64,
                 num_blocks: int = 9,
                 inner_channels: Optional[int] = None,
                 norm_cfg: dict = dict(type='IN'),
                 padding_mode: str = 'reflect',
                 widths: Optional[dict] = None,
                 gate_cfg: Optional[dict] = dict(),
                 init_cfg: dict = dict(type='normal', gain=0.02)):
        super().__init__(init_cfg=init_cfg)
        self.stock_widths = dict(
            stem=base_channels, down=2 * base_channels, res=4 * base_channels,
            blocks=[inner_channels or 4 * base_channels] * num_blocks,
            up=[2 * base_channels, base_channels])
        w = self._check_widths(widths or self.stock_widths)
        self.widths = w
        bias = norm_cfg['type'] == 'IN'
        conv = dict(bias=bias, norm_cfg=norm_cfg)
        deconv = dict(conv, conv_cfg=dict(type='deconv', output_padding=1))
        self.stem = ConvModule(in_channels, w['stem'], 7, padding=3,
                               padding_mode=padding_mode, **conv)
        self.down = nn.ModuleList([
            ConvModule(w['stem'], w['down'], 3, 2, 1, **conv),
            ConvModule(w['down'], w['res'], 3, 2, 1, **conv)])
        self.blocks = nn.ModuleList([
            MobileResnetBlock(w['res'], inner, norm_cfg, padding_mode,
                              gate_cfg) for inner in w['blocks']])
        self.up = nn.ModuleList([
            ConvModule(w['res'], w['up'][0], 3, 2, 1, **deconv),
            ConvModule(w['up'][0], w['up'][1], 3, 2, 1, **deconv)])
        self.head = ConvModule(w['up'][1], out_channels, 7, padding=3,
                               bias=True, norm_cfg=None,
                               act_cfg=dict(type='Tanh'),
                               padding_mode=padding_mode)
        self.stem_gate = gate_or_none(w['stem'], gate_cfg)
        self.down_gate = gate_or_none(w['down'], gate_cfg)
        self.res_gate = gate_or_none(w['res'], gate_cfg)
        self.up_gates = None if gate_cfg is None else nn.ModuleList(
            [DBCGate(c, **gate_cfg) for c in w['up']])

    def _check_widths(self, widths: dict) -> dict:
        stock = self.stock_widths
        if set(widths) != set(stock):
            raise PaSConfigError(
                f'PaSMobileResnetGenerator: widths keys {sorted(widths)} must '
                f'be {sorted(stock)}')
        for key, ref in stock.items():
            value = widths[key]
            if isinstance(ref, list) and (not isinstance(value, Sequence)
                                          or len(value) != len(ref)):
                raise PaSConfigError(
                    f'PaSMobileResnetGenerator: widths[{key!r}] must list '
                    f'{len(ref)} widths, got {value!r}')
            for v, r in zip(value if isinstance(ref, list) else [value],
                            ref if isinstance(ref, list) else [ref]):
                if not (isinstance(v, int) and 1 <= v <= r):
                    raise PaSConfigError(
                        f'PaSMobileResnetGenerator: width {v!r} in '
                        f'widths[{key!r}] must be an integer from 1 to its '
                        f'stock width {r}')
        return {k: list(v) if isinstance(v, (list, tuple)) else v
                for k, v in widths.items()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        def gated(gate, y):
            return y if gate is None else gate(y)

        x = gated(self.stem_gate, self.stem(x))
        x = gated(self.down_gate, self.down[0](x))
        x = gated(self.res_gate, self.down[1](x))
        for block in self.blocks:
            x = block(x, self.res_gate)
        for i, layer in enumerate(self.up):
            x = gated(None if self.up_gates is None else self.up_gates[i],
                      layer(x))
        return self.head(x)

    def init_weights(self) -> None:
        """mmagic's generation init: conv weights ~ N(0, ``gain``), biases 0
        (gates keep their ``init``)."""
        if self.init_cfg and self.init_cfg.get('type') == 'Pretrained':
            super().init_weights()
            return
        cfg = self.init_cfg or dict(type='normal')
        if cfg.get('type', 'normal') != 'normal':
            raise PaSConfigError(
                f"PaSMobileResnetGenerator: init_cfg type {cfg['type']!r} is "
                "not supported; use dict(type='normal', gain=...) or "
                "'Pretrained'")
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                normal_init(m, 0.0, cfg.get('gain', 0.02))
        self._is_init = True

    # PaS interface ------------------------------------------------------
    def gates(self) -> Dict[str, DBCGate]:
        """Gates by module path inside the generator."""
        return {n: m for n, m in self.named_modules()
                if isinstance(m, DBCGate)}

    def _layer_gates(self) -> List[Tuple[ConvModule, Optional[DBCGate],
                                         Optional[DBCGate]]]:
        """(layer, gate on its input, gate on its output) in forward order;
        a depth-wise layer has the same gate on both."""
        if self.stem_gate is None:
            return []
        res, up = self.res_gate, self.up_gates
        layers = [(self.stem, None, self.stem_gate),
                  (self.down[0], self.stem_gate, self.down_gate),
                  (self.down[1], self.down_gate, res)]
        for b in self.blocks:
            layers += [(b.dw1, res, res), (b.pw1, res, b.gate),
                       (b.dw2, b.gate, b.gate), (b.pw2, b.gate, res)]
        layers += [(self.up[0], res, up[0]), (self.up[1], up[0], up[1]),
                   (self.head, up[1], None)]
        return layers

    def gated_layers(self) -> Dict[nn.Module, GatePair]:
        """Conv -> (input gate, output gate), for :class:`MACsCounter`."""
        return {m.conv: (g_in, g_out)
                for m, g_in, g_out in self._layer_gates()}

    def export_deploy(self) -> Tuple[dict, Dict[str, torch.Tensor]]:
        """Pruned form: (config updates, state dict).

        Output channels of every conv (and its norm) are sliced by its
        gate's mask, input channels by the previous gate's mask (dim 1 of a
        conv weight, dim 0 of a transposed conv's; none for a depth-wise
        conv, whose groups shrink with its channels); gates are dropped.
        The state dict loads strictly into ``type(self)(**cfg, **updates)``.
        """
        if any(not bool(g.fixed) for g in self.gates().values()):
            raise RuntimeError('export_deploy: the gates are not fixed; end '
                               'the search first (PaSSearchHook)')
        names = {m: n for n, m in self.named_modules()}
        state = {k: v for k, v in self.state_dict().items()
                 if not isinstance(self.get_submodule(k.rpartition('.')[0]),
                                   DBCGate)}
        for layer, g_in, g_out in self._layer_gates():
            out = None if g_out is None else g_out.hard_mask()
            inp = None if g_in is None else g_in.hard_mask()
            transposed = isinstance(layer.conv, nn.ConvTranspose2d)
            depthwise = layer.conv.groups > 1
            prefix = names[layer]
            for key in [k for k in state if k.startswith(prefix + '.')]:
                t = state[key]
                if out is not None:
                    t = t[:, out] if transposed and t.dim() > 1 else t[out]
                if inp is not None and t.dim() > 1 and not depthwise:
                    t = t[inp] if transposed else t[:, inp]
                state[key] = t.detach().clone().contiguous()
        kept = {n: g.num_kept() for n, g in self.gates().items()}
        widths = dict(
            stem=kept['stem_gate'], down=kept['down_gate'],
            res=kept['res_gate'],
            blocks=[kept[f'blocks.{i}.gate'] for i in range(len(self.blocks))],
            up=[kept['up_gates.0'], kept['up_gates.1']])
        return dict(widths=widths, gate_cfg=None), state
