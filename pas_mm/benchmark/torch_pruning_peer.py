"""Torch-Pruning (``torch-pruning==1.6.1``) as a peer on the same network.

Torch-Pruning prunes a plain ``nn.Module`` through its dependency graph:
every group of coupled channels (a residual stream, conv + BN) is scored by
an importance criterion and the lowest-scoring channels are removed
globally. Two forms of the same pre-trained RepVGG are given to it:

* ``res``: the multi-branch training form (3x3 + 1x1 + identity BN, gates
  removed). Torch-Pruning couples a block's input and output wherever the
  identity branch exists, so a stage keeps one width.
* ``fused``: the fused plain deploy form (one 3x3 conv with bias per
  block); every block's width is free, as in PaS.

The global pruning ratio is bisected towards the target; the ratio whose
deployed MACs are nearest the target is kept (Torch-Pruning removes
coupled channels group by group, so the MACs move in steps). The result
is the pruned widths and weights, which load into
``PaSRepVGG(widths=...)`` (``res``, gates open) or
``PaSRepVGG(widths=..., deploy=True)`` (``fused``) built from a config.
"""
import copy
from typing import Callable, Dict, List, Optional, Tuple

import torch
from mmengine.registry import MODELS
from torch import nn

from ..deploy import build_deployed, export_deploy
from .pruning import apply_masks, full_masks

FORMS = ('res', 'fused')
IMPORTANCES = ('magnitude', 'taylor', 'bnscale')


def _tp():
    try:
        import torch_pruning
    except ImportError:
        raise SystemExit('error: Torch-Pruning is not installed: pip install '
                         '--no-deps "torch-pruning==1.6.1"') from None
    return torch_pruning


def unpruned_form(model, form: str) -> nn.Module:
    """The gate-free classifier of ``form`` with ``model``'s weights.

    Args:
        model: a PaSModel around a PaSRepVGG classifier (pre-trained).
        form: 'res' or 'fused'.
    """
    if form not in FORMS:
        raise ValueError(f'unknown form {form!r}, choose from {FORMS}')
    if form == 'fused':
        model = copy.deepcopy(model)
        apply_masks(model, full_masks(model))
        cfg, state = export_deploy(model)
        return build_deployed(cfg, state).train()
    cfg = copy.deepcopy(dict(model.architecture_cfg))
    cfg['backbone'] = dict(cfg['backbone'], gate_cfg=None)
    plain = MODELS.build(cfg)
    state = {k: v for k, v in model.architecture.state_dict().items()
             if '.gate.' not in k}
    plain.load_state_dict(state, strict=True)
    return plain


def block_widths(classifier: nn.Module) -> List[int]:
    """Output widths of the stem and every block of a PaSRepVGG."""
    return [int((b.branch_reparam if b.deploy else
                 b.branch_3x3.conv).out_channels)
            for b in classifier.backbone.blocks()]


def importance_of(name: str):
    tp = _tp()
    if name == 'magnitude':
        return tp.importance.MagnitudeImportance(p=2)
    if name == 'taylor':
        return tp.importance.TaylorImportance()
    if name == 'bnscale':
        return tp.importance.BNScaleImportance()
    raise ValueError(f'unknown importance {name!r}, choose from '
                     f'{IMPORTANCES}')


def tp_prune(classifier: nn.Module, importance: str, target: float,
             macs_of: Callable[[List[int]], float], input_shape,
             loss_batches: Optional[List[Tuple[torch.Tensor,
                                               torch.Tensor]]] = None,
             iters: int = 14) -> Tuple[nn.Module, float]:
    """Globally prune ``classifier`` with Torch-Pruning to ``target`` MACs.

    Args:
        classifier: an mmpretrain classifier with a gate-free PaSRepVGG
            backbone (:func:`unpruned_form`); not modified.
        importance: 'magnitude' (L2), 'taylor' (needs ``loss_batches``) or
            'bnscale' (training form only).
        target: MACs target (absolute, deployed structure).
        macs_of: deployed MACs of a list of block widths.
        input_shape: (C, H, W) for tracing.
        loss_batches: (normalized inputs, labels) for the Taylor gradients.

    Returns:
        (pruned classifier, global pruning ratio used): of the ratios
        tried, the one whose MACs are nearest ``target``.
    """
    tp = _tp()
    imp = importance_of(importance)
    example = torch.zeros(1, *input_shape)

    def prune(ratio):
        model = copy.deepcopy(classifier).eval()  # BN statistics stay
        if importance == 'taylor':
            if not loss_batches:
                raise ValueError('Taylor importance needs loss_batches')
            for x, y in loss_batches:
                logits = model(x, mode='tensor')
                nn.functional.cross_entropy(logits, y).backward()
        pruner = tp.pruner.MetaPruner(
            model, example, importance=imp, global_pruning=True,
            pruning_ratio=ratio, ignored_layers=[model.head.fc],
            forward_fn=lambda m, x: m(x, mode='tensor'))
        pruner.step()
        model.zero_grad(set_to_none=True)
        return model

    lo, hi = 0.0, 1.0  # macs(prune(lo)) > target >= macs(prune(hi))
    best = None  # (distance to the target, ratio, model)
    for _ in range(iters):
        mid = (lo + hi) / 2
        model = prune(mid)
        macs = macs_of(block_widths(model))
        if best is None or abs(macs - target) < best[0]:
            best = (abs(macs - target), mid, model)
        if macs <= target:
            hi = mid
        else:
            lo = mid
    return best[2], best[1]


def pruned_state(classifier: nn.Module) -> Dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in
            classifier.state_dict().items()}
