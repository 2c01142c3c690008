"""Latency loss: pulls the predicted latency of the deployed model toward a
target."""
import re
from typing import Optional, Union

from mmengine.registry import MODELS

from ...errors import PaSConfigError
from ..latency_table import DEFAULT_TABLE_FILE, LatencyTable
from .budget_loss import BudgetLoss

_UNITS = {'s': 1e3, 'ms': 1., 'us': 1e-3}


def parse_latency(value: Union[str, float, int]) -> float:
    """'2.5ms' -> 2.5, '800us' -> 0.8, '0.01s' -> 10.0 (milliseconds);
    numbers pass through (ratios)."""
    if isinstance(value, str):
        m = re.fullmatch(r'\s*([0-9.]+(?:e[-+]?\d+)?)\s*(s|ms|us)\s*',
                         value, re.I)
        if m is None:
            raise PaSConfigError(
                f'latency target {value!r} is not a number with a unit '
                's/ms/us (e.g. "2.5ms") or a ratio of the full model\'s '
                'latency in (0, 1]')
        return float(m.group(1)) * _UNITS[m.group(2).lower()]
    if not 0 < value <= 1:
        raise PaSConfigError(
            f'latency target {value!r}: a number is a ratio of the full '
            'model\'s latency in (0, 1]; give an absolute one with its '
            'unit, e.g. "2.5ms"')
    return float(value)


@MODELS.register_module()
class LatencyLoss(BudgetLoss):
    """``loss_weight * ((latency - target) / latency_full) ** 2``.

    The latency is predicted from per-layer tables measured on ``device``
    (:class:`~pas_mm.budget.latency_table.LatencyTable`) and is
    differentiable in the gates, as the MACs are for :class:`MACsLoss`;
    it takes the ``macs_loss`` place of a PaS config.

    Args:
        target (str | float): '2.5ms' / '800us', or a ratio of the full
            deployed model's measured latency in (0, 1].
        loss_weight (float): lambda.
        device (str, optional): 'cpu' or 'cuda' (None: cuda where present).
        batch_size (int): the batch the latency is for.
        threads (int): CPU threads the latency is for.
        table_file (str): the JSON file caching the tables.
        measure (bool): measure layers missing from ``table_file``; False
            raises an error naming the command that measures them.
        grid (int): grid points per gated width.
        min_run_time (float): seconds of timing per grid point.
        **search: ``multiplier_lr``, ``gradient``, ``value_weighted``,
            ``floor`` of :class:`BudgetLoss`.
    """

    name = 'latency'

    def __init__(self, target: Union[str, float], loss_weight: float = 1.0,
                 device: Optional[str] = None, batch_size: int = 1,
                 threads: int = 1, table_file: str = DEFAULT_TABLE_FILE,
                 measure: bool = True, grid: int = 6,
                 min_run_time: float = 0.02, **search):
        super().__init__(target, loss_weight, **search)
        self.parse(target)  # a bad target fails before any measuring
        self.table = LatencyTable(table_file, device, batch_size, threads,
                                  measure, grid, min_run_time)

    def parse(self, value: Union[str, float, int]) -> float:
        return parse_latency(value)

    def format(self, value: float) -> str:
        return f'{value:.3f} ms'
