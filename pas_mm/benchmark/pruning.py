"""Baseline channel-pruning criteria on the gates of a PaS model.

Every method ends in the same thing PaS search ends in: one bool keep mask
per DBC gate of a :class:`~pas_mm.models.PaSModel`, fixed in the gates
(``fixed_mask``/``fixed``), so fine-tuning, MACs counting and deploy are
shared by all methods. The cost of a set of widths comes from the model's
own budget: its :class:`~pas_mm.models.MACsCounter`, or its latency
counter under a ``LatencyLoss`` (then every method meets the same
predicted latency).

Methods (``make_masks``):

* ``uniform``: one keep ratio for every gated layer, found by bisection so
  the MACs are the largest not above the target; keeps the first channels.
* ``l1``: L1 norm of each output filter of the block's fused 3x3 kernel
  (``RepVGGBlock.reparameterize()``), divided by the layer's mean norm so
  layers of different fan-in compare; one global threshold.
* ``slim``: network slimming; |gamma| summed over the block's branch BNs
  (3x3, 1x1 and identity), one global threshold.
* ``full``: keep everything (the unpruned reference).

The global-threshold methods prune channels in ascending score order; the
number pruned is bisected to the smallest count whose MACs are <= target.
Every layer keeps at least its gate's ``min_keep`` channels. Every method
then flips the channels nearest its cut until the MACs are within 1% of
the target (:func:`pas_mm.budget.snap_to_target`; uniform: the last kept
channel of the least pruned layers first).
"""
import math
from typing import Dict, List

import torch
from torch import nn

from ..budget import snap_to_target

METHODS = ('uniform', 'l1', 'slim', 'full')
SNAP_TOL = 0.01  # every method ends within 1% of the MACs target


def gated_blocks(model) -> Dict[str, nn.Module]:
    """Gate path -> the block whose output it gates (the gate's parent)."""
    modules = dict(model.architecture.named_modules())
    blocks = {}
    for name in model.gates():
        parent = name.rsplit('.', 1)[0]
        blocks[name] = modules[parent]
    return blocks


def macs_of_widths(model, widths: Dict[str, int]) -> float:
    """MACs of the deployed model with ``widths[gate path]`` channels kept."""
    return model.counter.macs_of(
        {g: widths[n] for n, g in model.gates().items()})


def cost_of_widths(model, widths: Dict[str, int]) -> float:
    """The model's search budget (MACs, or predicted latency under a
    latency loss) with ``widths[gate path]`` channels kept."""
    return model.budget.cost_of(
        {g: widths[n] for n, g in model.gates().items()})


def widths_of(masks: Dict[str, torch.Tensor]) -> Dict[str, int]:
    return {n: int(m.sum()) for n, m in masks.items()}


def apply_masks(model, masks: Dict[str, torch.Tensor]) -> None:
    """Fix ``masks`` (gate path -> bool (C,)) in the gates of ``model``."""
    gates = model.gates()
    if set(masks) != set(gates):
        raise ValueError(f'masks for {sorted(masks)} do not match the gates '
                         f'{sorted(gates)}')
    for name, g in gates.items():
        try:
            g.fix(masks[name])
        except ValueError as e:
            raise ValueError(f'bad mask for {name}: {e}') from None


def full_masks(model) -> Dict[str, torch.Tensor]:
    return {n: torch.ones(g.num_channels, dtype=torch.bool)
            for n, g in model.gates().items()}


def uniform_masks(model, target: float, iters: int = 50):
    """Same keep ratio in every layer, first channels kept."""
    gates = model.gates()

    def widths(r):
        return {n: min(g.num_channels,
                       max(g.min_keep, math.floor(r * g.num_channels)))
                for n, g in gates.items()}

    lo, hi = 0.0, 1.0  # macs(widths(lo)) <= target invariant
    if cost_of_widths(model, widths(hi)) <= target:
        lo = hi
    else:
        for _ in range(iters):
            mid = (lo + hi) / 2
            if cost_of_widths(model, widths(mid)) <= target:
                lo = mid
            else:
                hi = mid
    masks = {}
    for n, w in widths(lo).items():
        m = torch.zeros(gates[n].num_channels, dtype=torch.bool)
        m[:w] = True
        masks[n] = m
    return masks


def global_threshold_masks(model, scores: Dict[str, torch.Tensor],
                           target: float) -> Dict[str, torch.Tensor]:
    """Prune the lowest-scoring channels globally until MACs <= target."""
    gates = model.gates()
    names = list(gates)
    flat = torch.cat([scores[n].detach().float().flatten() for n in names])
    owner = torch.cat([torch.full((gates[n].num_channels, ), i)
                       for i, n in enumerate(names)])
    index = torch.cat([torch.arange(gates[n].num_channels) for n in names])
    order = torch.argsort(flat, stable=True)

    def masks_for(k):
        masks = {n: torch.ones(gates[n].num_channels, dtype=torch.bool)
                 for n in names}
        for j in order[:k].tolist():
            masks[names[owner[j]]][index[j]] = False
        for n in names:
            need = gates[n].min_keep - int(masks[n].sum())
            if need > 0:  # force the best pruned channels back on
                s = scores[n].detach().float().clone()
                s[masks[n]] = -math.inf
                masks[n][s.topk(need).indices] = True
        return masks

    def cost(k):
        return cost_of_widths(model, widths_of(masks_for(k)))

    lo, hi = 0, len(flat)  # smallest k with cost(k) <= target, in (lo, hi]
    if cost(0) <= target:
        return masks_for(0)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if cost(mid) <= target:
            hi = mid
        else:
            lo = mid
    return masks_for(hi)


@torch.no_grad()
def l1_scores(model) -> Dict[str, torch.Tensor]:
    """L1 norm of each fused 3x3 output filter, over the layer's mean."""
    scores = {}
    for name, block in gated_blocks(model).items():
        weight, _ = block.reparameterize()
        s = weight.abs().sum(dim=(1, 2, 3))
        scores[name] = s / s.mean().clamp_min(1e-12)
    return scores


def block_norms(block: nn.Module) -> List[nn.Module]:
    """The BNs of a RepVGG block's 3x3, 1x1 and identity branches."""
    norms = []
    for attr in ('branch_3x3', 'branch_1x1'):
        branch = getattr(block, attr, None)
        if branch is not None:
            norms.append(branch.norm)
    if getattr(block, 'branch_norm', None) is not None:
        norms.append(block.branch_norm)
    return norms


@torch.no_grad()
def slimming_scores(model) -> Dict[str, torch.Tensor]:
    """Sum of |gamma| over the block's branch BNs, per output channel."""
    return {name: sum(n.weight.abs() for n in block_norms(block))
            for name, block in gated_blocks(model).items()}


def slimming_params(model) -> List[nn.Parameter]:
    """BN gammas that network slimming puts the L1 penalty on."""
    return [n.weight for block in gated_blocks(model).values()
            for n in block_norms(block)]


def snapped(model, masks: Dict[str, torch.Tensor],
            scores: Dict[str, torch.Tensor], target: float,
            tol: float = SNAP_TOL) -> Dict[str, torch.Tensor]:
    """``masks`` moved to within ``tol`` of ``target`` (the model's budget:
    MACs or predicted latency), flipping the
    channels with the scores nearest the cut (as PaS's search end does)."""
    gates = model.gates()
    out = snap_to_target(model.budget,
                         {gates[n]: m for n, m in masks.items()},
                         {gates[n]: s for n, s in scores.items()},
                         target, tol)
    return {n: out[g] for n, g in gates.items()}


def first_channel_scores(model) -> Dict[str, torch.Tensor]:
    """Scores that keep the first channels of every layer; a snap flips
    the channel that evens out the layers' kept ratios."""
    return {n: -torch.arange(1, g.num_channels + 1) / g.num_channels
            for n, g in model.gates().items()}


def method_scores(model, method: str) -> Dict[str, torch.Tensor]:
    """The channel scores ``method`` prunes (and snaps) by."""
    if method == 'uniform':
        return first_channel_scores(model)
    if method == 'l1':
        return l1_scores(model)
    if method == 'slim':
        return slimming_scores(model)
    raise ValueError(f'unknown pruning method {method!r}, choose from '
                     f'{METHODS} (PaS masks come from PaSSearchHook)')


def make_masks(model, method: str, target: float):
    """Keep masks of ``method`` at ``target`` (within 1%), in the units of
    the model's budget (absolute MACs, or ms under a latency loss)."""
    if method == 'full':
        return full_masks(model)
    scores = method_scores(model, method)
    if method == 'uniform':
        masks = uniform_masks(model, target)
    else:
        masks = global_threshold_masks(model, scores, target)
    return snapped(model, masks, scores, target)
