"""Snap searched masks onto the MACs target by flipping marginal channels.

The MACs loss pulls the search *towards* the target; where it stops depends
on the gate learning rate and the task gradient (a few percent off is
common). At the end of the search the masks are moved onto the target by
flipping, one at a time, the channels whose score is nearest the keep
threshold: the kept channels with the lowest score are dropped while the
MACs are above ``target * (1 + tol)``, the pruned channels with the highest
score are restored while they are below ``target * (1 - tol)``.
"""
from typing import Dict

import torch

from ..ops import DBCGate
from .macs_counter import MACsCounter


def snap_to_target(counter: MACsCounter, masks: Dict[DBCGate, torch.Tensor],
                   scores: Dict[DBCGate, torch.Tensor], target: float,
                   tol: float = 0.01) -> Dict[DBCGate, torch.Tensor]:
    """Masks whose MACs are within ``tol`` (relative) of ``target``.

    Args:
        counter: the model's MACs counter (MACs depend on widths only).
        masks: gate -> bool (C,) keep mask; not modified.
        scores: gate -> (C,) score; a higher score is kept first (the gate
            weights ``v`` for PaS: the channels flipped are those with
            ``v`` nearest the threshold).
        target: MACs target (absolute).
        tol: allowed relative distance to the target.

    Returns:
        New masks. Every gate keeps at least ``min_keep`` channels, so a
        target below the reachable minimum stops at the minimum.
    """
    masks = {g: m.clone().bool() for g, m in masks.items()}
    widths = {g: int(m.sum()) for g, m in masks.items()}
    macs = counter.macs_of(widths)
    drop = macs > target * (1 + tol)
    if not drop and macs >= target * (1 - tol):
        return masks
    candidates = [(float(s), i, c, g)
                  for i, (g, m) in enumerate(masks.items())
                  for c, s in enumerate(scores[g].detach().flatten())
                  if bool(m[c]) == drop]
    candidates.sort(key=lambda x: x[:3], reverse=not drop)
    for _, _, c, g in candidates:
        if drop and widths[g] <= g.min_keep:
            continue
        masks[g][c] = not drop
        widths[g] += -1 if drop else 1
        macs = counter.macs_of(widths)
        if (macs <= target * (1 + tol)) if drop else \
                (macs >= target * (1 - tol)):
            break
    return masks
