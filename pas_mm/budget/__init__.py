"""The search budget: what a width vector costs (MACs, predicted latency),
the losses that pull the gates toward a target, and the end-of-search snap
that lands the masks on it. Knows the gates (:mod:`pas_mm.ops`), never the
gated models (:mod:`pas_mm.models`)."""
from .losses import (BudgetLoss, LatencyLoss, MACsLoss, format_macs,  # noqa: I001 (first)
                     parse_latency, parse_macs)
from .latency_counter import LatencyCounter
from .latency_table import LatencyTable
from .macs_counter import MACsCounter
from .snap_to_target import round_to_divisor, snap_to_target

__all__ = ['BudgetLoss', 'LatencyCounter', 'LatencyLoss', 'LatencyTable',
           'MACsCounter', 'MACsLoss', 'format_macs', 'parse_latency',
           'parse_macs', 'round_to_divisor', 'snap_to_target']
