"""Benchmark helpers: baseline pruning criteria on PaS gates, and hooks.

Used by ``tools/benchmark``; importing this module registers
``PruneBaselineHook``, ``MACsSearchHook`` and ``GateProbeHook``.
"""
from .hooks import (GateProbeHook, MACsSearchHook, PruneBaselineHook,
                    gate_state)
from .pruning import (METHODS, apply_masks, global_threshold_masks,
                      l1_scores, macs_of_widths, make_masks, slimming_scores,
                      uniform_masks, widths_of)

__all__ = ['GateProbeHook', 'MACsSearchHook', 'PruneBaselineHook', 'gate_state', 'METHODS',
           'apply_masks', 'global_threshold_masks', 'l1_scores',
           'macs_of_widths', 'make_masks', 'slimming_scores', 'uniform_masks',
           'widths_of']
