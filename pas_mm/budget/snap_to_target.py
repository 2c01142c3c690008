"""Snap searched masks onto the target by flipping marginal channels.

The target is the search budget's: MACs, or the predicted latency under a
latency loss (both are costs of the widths alone; MACs below). The MACs
loss pulls the search *towards* the target; where it stops depends
on the gate learning rate and the task gradient (a few percent off is
common). At the end of the search the masks are moved onto the target by
flipping, one at a time, the channels whose score is nearest the keep
threshold: the kept channels with the lowest score are dropped while the
MACs are above ``target * (1 + tol)``, the pruned channels with the highest
score are restored while they are below ``target * (1 - tol)``. A
channel whose flip alone would jump across the whole band (a wide,
high-resolution layer's channel can cost more than the band) is passed
over for the next cheaper one in the order, so the snap lands inside the
band when any channel can put it there, not merely on the other side.

With ``per_cost`` the order is by score per unit of cost instead: a flip
costs its distance from the threshold (the score is then the signed margin
``v - threshold``) and buys the budget that one channel of its layer moves,
so the snap spends the least total margin for the MACs it must move (the
greedy knapsack order). By score alone, a search that stopped far from the
target has the snap cut many cheap channels whose gates merely sit nearest
the threshold, down to ``min_keep`` in a cheap layer; per unit of cost it
takes one expensive channel with a slightly larger margin first.

:func:`round_to_divisor` then makes every width hardware-friendly (a
multiple of e.g. 8), choosing per layer to round down or up so that the
MACs stay as near the target as the rounding allows.
"""
from typing import Dict, List

import torch

from ..ops import DBCGate
from .macs_counter import MACsCounter

Budget = MACsCounter  # or LatencyCounter: anything with cost_of(widths)


def snap_to_target(counter: Budget, masks: Dict[DBCGate, torch.Tensor],
                   scores: Dict[DBCGate, torch.Tensor], target: float,
                   tol: float = 0.01,
                   per_cost: bool = False) -> Dict[DBCGate, torch.Tensor]:
    """Masks whose MACs are within ``tol`` (relative) of ``target``.

    Args:
        counter: the search budget (:class:`MACsCounter` or
            :class:`LatencyCounter`: a cost of the widths only).
        masks: gate -> bool (C,) keep mask; not modified.
        scores: gate -> (C,) score; a higher score is kept first (the gate
            weights ``v`` for PaS: the channels flipped are those with
            ``v`` nearest the threshold).
        target: the budget's target (absolute MACs or ms).
        tol: allowed relative distance to the target.
        per_cost: order the flips by ``|score| / cost of one channel of the
            layer`` (ascending; ``score`` a signed margin from the cut, the
            cost taken at the starting widths) instead of by score.

    Returns:
        New masks. Every gate keeps at least ``min_keep`` channels, so a
        target below the reachable minimum stops at the minimum.
    """
    masks = {g: m.clone().bool() for g, m in masks.items()}
    widths = {g: int(m.sum()) for g, m in masks.items()}
    macs = counter.cost_of(widths)
    drop = macs > target * (1 + tol)
    if not drop and macs >= target * (1 - tol):
        return masks
    step = -1 if drop else 1
    if per_cost:  # one channel's budget per layer, at the starting widths
        unit = {g: max(abs(_cost_with(counter, widths, g, step) - macs),
                       1e-12) for g, m in masks.items()
                if bool((m == drop).any())}
    candidates = [(abs(float(s)) / unit[g] if per_cost else float(s), i, c, g)
                  for i, (g, m) in enumerate(masks.items())
                  for c, s in enumerate(scores[g].detach().flatten())
                  if bool(m[c]) == drop]
    candidates.sort(key=lambda x: x[:3], reverse=not (drop or per_cost))
    low, high = target * (1 - tol), target * (1 + tol)
    passed = []  # channels whose flip alone jumps past the band
    for _, _, c, g in candidates:
        if drop and widths[g] <= g.min_keep:
            continue
        trial = _cost_with(counter, widths, g, step)
        if (trial < low) if drop else (trial > high):
            passed.append((g, c))  # look for cheaper ones down the order
            continue
        masks[g][c] = not drop
        widths[g] += step
        macs = trial
        if low <= macs <= high:
            return masks
    # no channel lands in the band: here or one jump past, whichever is
    # nearer the target
    jumps = [(abs(_cost_with(counter, widths, g, step) - target), g, c)
             for g, c in passed if not (drop and widths[g] <= g.min_keep)]
    gap, g, c = min(jumps, key=lambda j: j[0], default=(None, None, None))
    if gap is not None and gap < abs(macs - target):
        masks[g][c] = not drop
    return masks


def _cost_with(counter: Budget, widths: Dict[DBCGate, int], gate: DBCGate,
               step: int) -> float:
    """The budget with ``gate``'s width moved by ``step``."""
    widths[gate] += step
    cost = counter.cost_of(widths)
    widths[gate] -= step
    return cost


def _allowed_widths(gate: DBCGate, divisor: int) -> List[int]:
    """Multiples of ``divisor`` from ``min_keep`` up, and the full width."""
    first = max(divisor, -(-gate.min_keep // divisor) * divisor)
    return sorted(set(range(first, gate.num_channels + 1, divisor))
                  | {gate.num_channels})


def round_to_divisor(counter: Budget, masks: Dict[DBCGate, torch.Tensor],
                     scores: Dict[DBCGate, torch.Tensor], target: float,
                     divisor: int) -> Dict[DBCGate, torch.Tensor]:
    """Masks whose widths are multiples of ``divisor`` (or the full width).

    Each width starts at its nearest allowed width; then, one layer at a
    time, the move to a neighbouring allowed width that brings the MACs
    nearest the target is taken while it brings them nearer. A layer
    narrowed drops its kept channels with the lowest score; one widened
    restores its pruned channels with the highest score.

    Args:
        counter, masks, scores, target: as for :func:`snap_to_target`.
        divisor: width multiple, >= 1.

    Returns:
        New masks.
    """
    allowed = {g: _allowed_widths(g, divisor) for g in masks}
    widths = {g: min(allowed[g], key=lambda w: (abs(w - int(m.sum())), w))
              for g, m in masks.items()}
    gap = abs(counter.cost_of(widths) - target)
    while True:
        best = None
        for g, w in widths.items():
            i = allowed[g].index(w)
            for j in (i - 1, i + 1):
                if 0 <= j < len(allowed[g]):
                    trial = dict(widths)
                    trial[g] = allowed[g][j]
                    new_gap = abs(counter.cost_of(trial) - target)
                    if new_gap < gap and (best is None or new_gap < best[0]):
                        best = (new_gap, g, allowed[g][j])
        if best is None:
            break
        gap, g, widths[g] = best
    rounded = {}
    for g, m in masks.items():
        # kept channels first, each group by descending score
        order = sorted(range(g.num_channels),
                       key=lambda c: (not bool(m[c]), -float(scores[g][c])))
        keep = torch.zeros(g.num_channels, dtype=torch.bool)
        keep[order[:widths[g]]] = True
        rounded[g] = keep
    return rounded
