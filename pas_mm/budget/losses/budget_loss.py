"""The search budget's loss: pulls a cost (MACs, latency) toward a target."""
import math
from typing import Optional, Union

import torch
from torch import nn

from ...errors import PaSConfigError

# how the cost's gradient reaches a gate (MACsCounter.macs)
GRADIENTS = ('full', 'own')
AUTO_FLOOR = 0.5  # floor=None


class BudgetLoss(nn.Module):
    """``multiplier * r + loss_weight * r ** 2``, ``r = (cost - target) /
    cost_full``.

    The linear term is a Lagrange multiplier moved by gradient ascent,
    ``multiplier <- multiplier + multiplier_lr * r`` every training step (as
    CoFi pruning does): while the cost stays above the target the pull
    grows, so the search reaches its budget in any length instead of
    stalling where the quadratic term's pull (which vanishes at the target)
    is matched by the task's. When the cost crosses the target the
    multiplier restarts from 0 (no wind-up carried past it), so below the
    target it turns into a push back up (cut channels come back) and the
    search holds the target instead of drifting under it. The crossing is
    that of ``r`` averaged over steps (``crossing_smoothing``): one noisy
    step across the target (a few channels of an early, wide-map layer
    flipping) does not restart it, so the multiplier builds up against the
    task's pull and the search ends on its target, not 1-2% above it.
    ``multiplier_lr=0`` is the paper's loss, the quadratic alone.

    The defaults (``multiplier_lr=1``, ``tol=0.005``, value-weighted,
    a floor of 0.5, with ``PaSSearchHook``'s ``target_anneal=0.5``) are what
    val picked on Animal-MNIST at 10% of the MACs (docs/benchmark/
    animals_v2/value_per_cost.md), ``crossing_smoothing=0.1`` what landed
    the search within 1% of its target there (docs/benchmark/animals_v2/
    landing.md); ``multiplier_lr=0, value_weighted=False, floor=0, tol=0``
    is the paper's search.

    Subclasses name the cost (``name``) and read and write its values
    (``parse``, ``format``).

    Args:
        target (str | float): an absolute cost as a string with a unit, or
            a ratio of the full model's cost in (0, 1].
        loss_weight (float): lambda of the quadratic term, > 0.
        multiplier_lr (float): ascent rate of the linear term's multiplier
            per training step, >= 0 (0: no linear term).
        gradient (str): how the cost's gradient reaches a gate: 'full'
            (marginal cost of a channel, both factors of ``c_in * c_out``)
            or 'own' (the official code's: input counts detached).
        value_weighted (bool): divide each channel's cost gradient by its
            relative Fisher importance (:meth:`DBCGate.cost_mask`), so the
            budget cuts the channels worth least per unit of cost first.
        floor (float, optional): every gate keeps at least ``ceil(floor *
            sqrt(target ratio) * channels)``: ``floor`` of the width a
            uniform cut to the target would leave it (0: only
            ``min_keep``), in [0, 1). None (default): 0.5, halved (logged)
            where it would leave more than 90% of the target (ungated
            layers); a floor given that leaves more than the target is an
            error. Not applied to a fixed ``subnet``.
        tol (float): within ``tol`` of the full cost from the target the
            budget is met: the loss is 0 and the multiplier holds, so the
            gates settle there instead of being pushed past it, in [0, 1).
        crossing_smoothing (float): weight of the newest step in the
            average of ``r`` whose change of sign restarts the multiplier,
            in (0, 1] (1: every step that crosses the target restarts it,
            the default before 2026-12-08, benchmark method
            ``pas-fast-vc1``).
    """

    name = 'cost'

    def __init__(self, target: Union[str, float], loss_weight: float = 1.0,
                 multiplier_lr: float = 1.0, gradient: str = 'full',
                 value_weighted: bool = True,
                 floor: Optional[float] = None,
                 tol: float = 0.005,
                 crossing_smoothing: float = 0.1):
        super().__init__()
        cls = type(self).__name__
        if not loss_weight > 0:
            raise PaSConfigError(f'{cls}: loss_weight={loss_weight!r} must '
                                 'be > 0')
        if not multiplier_lr >= 0:
            raise PaSConfigError(f'{cls}: multiplier_lr={multiplier_lr!r} '
                                 'must be >= 0')
        if gradient not in GRADIENTS:
            raise PaSConfigError(f'{cls}: gradient={gradient!r} must be one '
                                 f'of {GRADIENTS}')
        if floor is not None and not 0 <= floor < 1:
            raise PaSConfigError(f'{cls}: floor={floor!r} must be in [0, 1)')
        if not 0 <= tol < 1:
            raise PaSConfigError(f'{cls}: tol={tol!r} must be in [0, 1)')
        if not 0 < crossing_smoothing <= 1:
            raise PaSConfigError(f'{cls}: crossing_smoothing='
                                 f'{crossing_smoothing!r} must be in (0, 1]')
        self.target = target
        self.loss_weight = loss_weight
        self.multiplier_lr = multiplier_lr
        self.gradient = gradient
        self.value_weighted = bool(value_weighted)
        self.floor = floor
        self.tol = tol
        self.crossing_smoothing = crossing_smoothing
        # not in the state dict (checkpoints of older runs load strictly);
        # PaSSearchHook keeps it in the checkpoint for resume
        self.register_buffer('multiplier', torch.zeros(()), persistent=False)
        # r averaged over the steps outside the tolerance (its sign change
        # restarts the multiplier)
        self.register_buffer('smoothed', torch.zeros(()), persistent=False)

    def parse(self, value: Union[str, float, int]) -> float:
        raise NotImplementedError

    def format(self, value: float) -> str:
        raise NotImplementedError

    def resolve_target(self, full: float, minimum: float) -> float:
        """Absolute target, checked against what the model can reach.

        Raises:
            PaSConfigError: target <= 0, a number above 1 (an absolute
                target is a string with its unit), above the full model, or
                below the cost left when every gate keeps its minimum.
        """
        value = self.parse(self.target)
        name, fmt = self.name, self.format
        if value <= 0:
            raise PaSConfigError(f'{name} target {self.target!r} must be > 0')
        if not isinstance(self.target, str) and value > 1:
            raise PaSConfigError(
                f'{name} target {self.target!r}: a number is a ratio of the '
                'full model, in (0, 1]; an absolute target needs its unit, '
                f'e.g. {fmt(full / 2)!r}')
        target = value if isinstance(self.target, str) else value * full
        if target > full:
            raise PaSConfigError(
                f'{name} target {self.target!r} ({fmt(target)}) is '
                f'larger than the full model ({fmt(full)})')
        if target < minimum:
            raise PaSConfigError(
                f'{name} target {self.target!r} ({fmt(target)}) is '
                f'below {fmt(minimum)}, the {name} left when every '
                'gated layer keeps its minimum channels; ungated layers '
                'alone cost more. Raise the target or gate more layers.')
        return target

    @staticmethod
    def floor_width(channels: int, ratio: float, floor: float) -> int:
        """The fewest channels a gate of ``channels`` may keep at a target
        of ``ratio`` of the full cost under ``floor`` (at least 1)."""
        return max(1, math.ceil(floor * math.sqrt(ratio) * channels))

    def forward(self, cost: torch.Tensor, target: float,
                full: float) -> torch.Tensor:
        r = (cost - target) / full
        if self.tol and abs(float(r.detach())) <= self.tol:
            return 0 * r  # on budget: the task alone moves the gates
        loss = self.multiplier.clone() * r + self.loss_weight * r**2
        if self.multiplier_lr and self.training and torch.is_grad_enabled():
            r_now = r.detach().to(self.multiplier.dtype)
            before = self.smoothed.clone()
            self.smoothed.lerp_(r_now, self.crossing_smoothing)
            if bool(before * self.smoothed < 0):  # crossed the target
                self.multiplier.zero_()  # no wind-up carried across it
            self.multiplier.add_(self.multiplier_lr * r_now)
        return loss
