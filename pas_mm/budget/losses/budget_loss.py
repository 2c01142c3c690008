"""The search budget's loss: pulls a cost (MACs, latency) toward a target."""
from typing import Union

import torch
from torch import nn

from ...errors import PaSConfigError


class BudgetLoss(nn.Module):
    """``loss_weight * ((cost - target) / cost_full) ** 2``.

    Subclasses name the cost (``name``) and read and write its values
    (``parse``, ``format``).

    Args:
        target (str | float): an absolute cost as a string with a unit, or
            a ratio of the full model's cost in (0, 1].
        loss_weight (float): lambda.
    """

    name = 'cost'

    def __init__(self, target: Union[str, float], loss_weight: float = 1.0):
        super().__init__()
        self.target = target
        self.loss_weight = loss_weight

    def parse(self, value: Union[str, float, int]) -> float:
        raise NotImplementedError

    def format(self, value: float) -> str:
        raise NotImplementedError

    def resolve_target(self, full: float, minimum: float) -> float:
        """Absolute target, checked against what the model can reach.

        Raises:
            PaSConfigError: target <= 0, above the full model, or below the
                cost left when every gate keeps its minimum.
        """
        value = self.parse(self.target)
        target = value * full if 0 < value <= 1 and not isinstance(
            self.target, str) else value
        name, fmt = self.name, self.format
        if target <= 0:
            raise PaSConfigError(f'{name} target {self.target!r} must be > 0')
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

    def forward(self, cost: torch.Tensor, target: float,
                full: float) -> torch.Tensor:
        return self.loss_weight * ((cost - target) / full)**2
