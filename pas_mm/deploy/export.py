"""Turn a searched PaSModel into a plain pruned, reparameterized model."""
import copy
from typing import Dict, Tuple

import torch
from mmengine.registry import MODELS

from ..models import PaSModel
from ..models.backbones.gated_backbone import slice_channels


def export_deploy(model: PaSModel) -> Tuple[dict, Dict[str, torch.Tensor]]:
    """Config and state dict of the deployed architecture.

    The backbone fuses its branches, folds BN and slices its channels by
    the fixed masks; the layers reading gated backbone outputs (head FC,
    FPN laterals) lose the matching input channels; gates are dropped.

    Args:
        model: a searched PaSModel (all gates fixed), built from a config.

    Returns:
        (deploy architecture config, state dict loading into it strictly)
    """
    if not model.searched:
        raise RuntimeError(
            'the model has not been searched: its gates were never fixed by '
            'PaSSearchHook. Train with PaSSearchHook (search_epochs) until '
            'the search ends, then deploy that checkpoint.')
    if model.architecture_cfg is None:
        raise RuntimeError('PaSModel was built from a module, not a config; '
                           'deploy needs the architecture config to rewrite')
    arch = model.architecture
    updates, backbone_state = arch.backbone.export_deploy()
    state = {k: v.detach().clone() for k, v in arch.state_dict().items()
             if not k.startswith('backbone.')}
    state.update({f'backbone.{k}': v for k, v in backbone_state.items()})
    for name, gate in model.consumers.items():
        key = f'{name}.weight'
        state[key] = slice_channels(state[key], in_mask=gate.hard_mask())
    cfg = copy.deepcopy(dict(model.architecture_cfg))
    cfg['backbone'] = dict(cfg['backbone'], **updates)
    out_widths = [None if g is None else g.num_kept()
                  for g in arch.backbone.output_gates()]
    if any(w is not None for w in out_widths):
        set_input_widths(cfg, out_widths)
    return cfg, state


def set_input_widths(cfg: dict, out_widths: list) -> None:
    """Write pruned backbone output widths into the consumer's config.

    The first of ``neck``, ``head`` that declares ``in_channels`` reads the
    backbone (a global-pooling neck declares none): a list gets one width
    per backbone output, an int the last output's width.
    """
    for key in ('neck', 'head'):
        sub = cfg.get(key)
        if isinstance(sub, dict) and 'in_channels' in sub:
            sub = cfg[key] = dict(sub)
            if isinstance(sub['in_channels'], int):
                sub['in_channels'] = out_widths[-1]
            else:
                sub['in_channels'] = [
                    c if w is None else w
                    for w, c in zip(out_widths, sub['in_channels'])]
            return
    raise RuntimeError('cannot find the in_channels of the neck or head '
                       'that reads the pruned backbone outputs')


def build_deployed(cfg: dict, state: Dict[str, torch.Tensor]):
    """Build the deploy architecture and load its weights strictly.

    The model takes the floating dtype of ``state`` (float64 for the exact
    equivalence check of the deploy tool).
    """
    deployed = MODELS.build(copy.deepcopy(cfg))
    dtype = next((v.dtype for v in state.values() if v.is_floating_point()),
                 torch.float32)
    deployed.to(dtype).load_state_dict(state, strict=True)
    return deployed.eval()
