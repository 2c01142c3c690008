from .budget_loss import BudgetLoss
from .macs_loss import MACsLoss, format_macs, parse_macs
from .latency_loss import LatencyLoss, parse_latency  # noqa: I001 (after macs_loss)

__all__ = ['BudgetLoss', 'LatencyLoss', 'MACsLoss', 'format_macs',
           'parse_latency', 'parse_macs']
