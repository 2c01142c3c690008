"""MACs loss: pulls the MACs of the gated model toward a target."""
import re
from typing import Union

from mmengine.registry import MODELS

from ...errors import PaSConfigError
from .budget_loss import BudgetLoss

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
class MACsLoss(BudgetLoss):
    """``multiplier * r + loss_weight * r ** 2``, ``r = (MACs - target) /
    MACs_full`` (:class:`BudgetLoss`: the multiplier, the gradient's form,
    value weighting and the per-layer floor).

    Args:
        target (str | float): absolute MACs, a string with its unit
            (``'1.2G'``, ``'300M'``), or a ratio of the full model's MACs in
            (0, 1].
        loss_weight (float): lambda.
        **search: ``multiplier_lr``, ``gradient``, ``value_weighted``,
            ``floor`` of :class:`BudgetLoss`.
    """

    name = 'MACs'

    def parse(self, value: Union[str, float, int]) -> float:
        return parse_macs(value)

    def format(self, value: float) -> str:
        return format_macs(value)
