"""DBC gate: a depth-wise 1x1 binary conv with a straight-through estimator."""
from typing import Optional

import torch
from torch import nn

from ..errors import PaSConfigError


class BinarizeSTE(torch.autograd.Function):
    """``b = 1[v > threshold]`` forward, identity gradient backward."""

    @staticmethod
    def forward(ctx, v: torch.Tensor, hard: torch.Tensor) -> torch.Tensor:
        return hard.to(v.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, None


class ValueWeightedSTE(torch.autograd.Function):
    """``b = hard`` forward; backward the gradient times ``scale`` where it
    cuts (positive: descent lowers ``v``) and divided by it where it
    restores, so the budget cuts the channels worth least per unit of cost
    first and brings back the ones worth most first."""

    @staticmethod
    def forward(ctx, v: torch.Tensor, hard: torch.Tensor,
                scale: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(scale)
        return hard.to(v.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        scale, = ctx.saved_tensors
        return grad * torch.where(grad > 0, scale, 1 / scale), None, None


class DBCGate(nn.Module):
    """Differentiable binary channel gate placed after a prunable layer.

    Holds one weight ``v`` per channel (a depth-wise 1x1 conv without bias)
    and multiplies channel ``c`` of the feature by ``1[v_c > threshold]``.
    Pruned channels are exactly zero in forward, so the layers that produce
    them get no gradient from the task loss; ``v`` itself always gets the
    straight-through gradient, so a pruned channel can come back.

    While searching it can also track each channel's worth to the task
    (``track_importance``): the Fisher importance, the mean over samples of
    ``(sum_{h,w} dL/dy * x)^2`` (the loss's second-order rise when the
    channel is cut; the mean first-order gradient vanishes at a trained
    minimum), an exponential moving average over iterations in
    ``importance`` (C,). A cut channel's input ``x`` is still computed, so
    its importance (of putting it back) is tracked too.

    Args:
        num_channels (int): C, channels of the gated feature.
        init (float): initial ``v``; above ``threshold`` keeps all channels.
        threshold (float): binarization threshold.
        min_keep (int): the gate never keeps fewer channels than this; the
            channels with the largest ``v`` are forced on.
        importance_momentum (float): EMA momentum of ``importance`` per
            backward pass.

    Shapes: input (N, C, H, W) or (N, C); output the same.
    """

    def __init__(self,
                 num_channels: int,
                 init: float = 1.0,
                 threshold: float = 0.5,
                 min_keep: int = 1,
                 importance_momentum: float = 0.9):
        super().__init__()
        if isinstance(min_keep, bool) or not isinstance(min_keep, int) or \
                not 1 <= min_keep <= num_channels:
            raise PaSConfigError(
                f'DBCGate: min_keep={min_keep!r} must be an integer in [1, '
                f'num_channels={num_channels}]')
        if init <= threshold:
            raise PaSConfigError(f'DBCGate: init={init} must be above '
                             f'threshold={threshold} so all channels start '
                             'kept')
        self.num_channels = num_channels
        self.threshold = threshold
        self.min_keep = min_keep
        self.weight = nn.Parameter(torch.full((num_channels, ), float(init)))
        self.importance_momentum = importance_momentum
        self.track_importance = False  # set by the model's budget loss
        self.register_buffer('importance', torch.zeros(num_channels),
                             persistent=False)
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

    def cost_mask(self, value_weighted: bool = False) -> torch.Tensor:
        """Float mask (C,) for the budget: ``mask()`` forward; backward,
        with ``value_weighted``, a cutting gradient is divided by each
        channel's relative worth, ``importance / mean(importance)`` clipped
        to [1/10, 10] (no importance yet: 1), and a restoring one multiplied
        by it (:class:`ValueWeightedSTE`)."""
        if self.fixed or not value_weighted:
            return self.mask()
        return ValueWeightedSTE.apply(self.weight, self.hard_mask(),
                                      self.cost_scale().to(self.weight.dtype))

    def cost_scale(self) -> torch.Tensor:
        """(C,) ``mean(importance) / importance``, clipped to [0.1, 10]."""
        imp = self.importance
        mean = imp.mean()
        if not bool(mean > 0):
            return torch.ones_like(imp)
        return (mean / imp.clamp_min(mean * 0.1)).clamp(0.1, 10.)

    def _track(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Accumulate the Fisher importance from ``y``'s gradient."""
        dims = tuple(range(2, x.dim()))
        x = x.detach()

        def hook(grad: torch.Tensor) -> None:
            per_sample = (grad * x).sum(dims) if dims else grad * x  # (N, C)
            # the loss is a batch mean: N x sum of squares = mean over
            # samples of the per-sample squared gradient
            fisher = per_sample.float().pow(2).sum(0) * per_sample.shape[0]
            m = self.importance_momentum
            self.importance.mul_(m).add_(fisher.detach(), alpha=1 - m)

        y.register_hook(hook)

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
        y = x * m.view(shape)
        if (self.track_importance and self.training and not self.fixed
                and y.requires_grad):
            self._track(x, y)
        return y

    def extra_repr(self) -> str:
        return (f'{self.num_channels}, threshold={self.threshold}, '
                f'min_keep={self.min_keep}')
