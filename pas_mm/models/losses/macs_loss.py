"""MACs loss: pulls the MACs of the gated model toward a target."""
import re
from typing import Union

import torch
from mmengine.registry import MODELS
from torch import nn

from ...errors import PaSConfigError

_UNITS = {'': 1, 'K': 1e3, 'M': 1e6, 'G': 1e9, 'T': 1e12}


def parse_macs(value: Union[str, float, int]) -> float:
    """'1.2G' -> 1.2e9, '300M' -> 3e8; numbers pass through."""
    if isinstance(value, str):
        m = re.fullmatch(r'\s*([0-9.]+(?:e[-+]?\d+)?)\s*([KMGT]?)\s*',
                         value, re.I)
        if m is None:
            raise PaSConfigError(f'MACs target {value!r} is not a number with an '
                             'optional K/M/G/T suffix, e.g. "1.2G"')
        return float(m.group(1)) * _UNITS[m.group(2).upper()]
    return float(value)


def format_macs(macs: float) -> str:
    for unit in ('T', 'G', 'M', 'K'):
        if abs(macs) >= _UNITS[unit]:
            return f'{macs / _UNITS[unit]:.3f}{unit}'
    return f'{macs:.0f}'


@MODELS.register_module()
class MACsLoss(nn.Module):
    """``loss_weight * ((MACs - target) / MACs_full) ** 2``.

    Args:
        target (str | float): absolute MACs (``'1.2G'``, ``'300M'``, or a
            number > 1) or a ratio of the full model's MACs in (0, 1].
        loss_weight (float): lambda.
    """

    def __init__(self, target: Union[str, float], loss_weight: float = 1.0):
        super().__init__()
        self.target = target
        self.loss_weight = loss_weight

    def resolve_target(self, macs_full: float, macs_min: float) -> float:
        """Absolute target MACs, checked against what the model can reach.

        Raises:
            ValueError: target <= 0, above the full model, or below the
                MACs left when every gate keeps its minimum.
        """
        value = parse_macs(self.target)
        target = value * macs_full if 0 < value <= 1 and not isinstance(
            self.target, str) else value
        if target <= 0:
            raise PaSConfigError(f'MACs target {self.target!r} must be > 0')
        if target > macs_full:
            raise PaSConfigError(
                f'MACs target {self.target!r} ({format_macs(target)}) is '
                f'larger than the full model ({format_macs(macs_full)})')
        if target < macs_min:
            raise PaSConfigError(
                f'MACs target {self.target!r} ({format_macs(target)}) is '
                f'below {format_macs(macs_min)}, the MACs left when every '
                'gated layer keeps its minimum channels; ungated layers '
                'alone cost more. Raise the target or gate more layers.')
        return target

    def forward(self, macs: torch.Tensor, target: float,
                macs_full: float) -> torch.Tensor:
        return self.loss_weight * ((macs - target) / macs_full)**2
