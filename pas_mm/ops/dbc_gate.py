"""DBC gate: a depth-wise 1x1 binary conv with a straight-through estimator."""
from typing import Optional

import torch
from torch import nn


class BinarizeSTE(torch.autograd.Function):
    """``b = 1[v > threshold]`` forward, identity gradient backward."""

    @staticmethod
    def forward(ctx, v: torch.Tensor, hard: torch.Tensor) -> torch.Tensor:
        return hard.to(v.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, None


class DBCGate(nn.Module):
    """Differentiable binary channel gate placed after a prunable layer.

    Holds one weight ``v`` per channel (a depth-wise 1x1 conv without bias)
    and multiplies channel ``c`` of the feature by ``1[v_c > threshold]``.
    Pruned channels are exactly zero in forward, so the layers that produce
    them get no gradient from the task loss; ``v`` itself always gets the
    straight-through gradient, so a pruned channel can come back.

    Args:
        num_channels (int): C, channels of the gated feature.
        init (float): initial ``v``; above ``threshold`` keeps all channels.
        threshold (float): binarization threshold.
        min_keep (int): the gate never keeps fewer channels than this; the
            channels with the largest ``v`` are forced on.

    Shapes: input (N, C, H, W) or (N, C); output the same.
    """

    def __init__(self,
                 num_channels: int,
                 init: float = 1.0,
                 threshold: float = 0.5,
                 min_keep: int = 1):
        super().__init__()
        if not 1 <= min_keep <= num_channels:
            raise ValueError(f'DBCGate: min_keep={min_keep} must be in '
                             f'[1, num_channels={num_channels}]')
        if init <= threshold:
            raise ValueError(f'DBCGate: init={init} must be above '
                             f'threshold={threshold} so all channels start '
                             'kept')
        self.num_channels = num_channels
        self.threshold = threshold
        self.min_keep = min_keep
        self.weight = nn.Parameter(torch.full((num_channels, ), float(init)))
        # Set by ``fix()``: the mask is frozen and saved with the checkpoint.
        self.register_buffer('fixed', torch.tensor(False))
        self.register_buffer('fixed_mask',
                             torch.ones(num_channels, dtype=torch.bool))

    def hard_mask(self) -> torch.Tensor:
        """Bool mask (C,) of kept channels, without gradient."""
        if self.fixed:
            return self.fixed_mask.clone()
        v = self.weight.detach()
        keep = v > self.threshold
        if int(keep.sum()) < self.min_keep:
            keep[v.topk(self.min_keep).indices] = True
        return keep

    def mask(self) -> torch.Tensor:
        """Float mask (C,) in {0, 1}; straight-through gradient to ``v``.

        Once fixed, the gradient to ``v`` is zero (``v`` still takes part in
        the graph so DDP sees every parameter used).
        """
        if self.fixed:
            return self.fixed_mask.to(self.weight.dtype) + 0 * self.weight
        return BinarizeSTE.apply(self.weight, self.hard_mask())

    def fix(self, mask: Optional[torch.Tensor] = None) -> None:
        """Freeze ``mask`` (bool (C,); default: the current mask)."""
        mask = self.hard_mask() if mask is None else mask.to(torch.bool)
        if mask.shape != (self.num_channels, ) or \
                int(mask.sum()) < self.min_keep:
            raise ValueError(
                f'DBCGate.fix: mask of shape {tuple(mask.shape)} keeping '
                f'{int(mask.sum())} channels; need ({self.num_channels},) '
                f'keeping >= min_keep={self.min_keep}')
        self.fixed_mask.copy_(mask)
        self.fixed.fill_(True)

    def num_kept(self) -> int:
        return int(self.hard_mask().sum())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.mask()
        shape = (1, -1) + (1, ) * (x.dim() - 2)
        return x * m.view(shape)

    def extra_repr(self) -> str:
        return (f'{self.num_channels}, threshold={self.threshold}, '
                f'min_keep={self.min_keep}')
