"""Turn a searched PaSModel into a plain pruned, reparameterized model."""
import copy
from typing import Dict, Tuple

import torch
from mmengine.registry import MODELS
from torch import nn

from ..models import PaSModel
from ..models.backbones.gated_backbone import (GatedBackboneMixin,
                                               slice_channels)
from ..models.deploy_builder import register_deploy_builder
from .narrowed import NARROWABLE


def export_deploy(model: PaSModel) -> Tuple[dict, Dict[str, torch.Tensor]]:
    """Config and state dict of the deployed architecture.

    The backbone fuses its branches, folds BN and slices its channels by
    the fixed masks; the layers reading gated features (head FC, FPN
    laterals, head convs) lose the matching input channels; neck and head
    gate groups slice their layers' output channels; gates are dropped.
    With neck/head gates the config becomes ``PaSNarrowed`` (stock config
    plus per-layer shapes) where stock options cannot express the widths.

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
    cfg = copy.deepcopy(dict(model.architecture_cfg))
    state = {k: v.detach().clone() for k, v in arch.state_dict().items()}
    if isinstance(arch.backbone, GatedBackboneMixin):
        updates, backbone_state = arch.backbone.export_deploy()
        state = {k: v for k, v in state.items()
                 if not k.startswith('backbone.')}
        state.update({f'backbone.{k}': v for k, v in backbone_state.items()})
        cfg['backbone'] = dict(cfg['backbone'], **updates)
        out_widths = [None if g is None else g.num_kept()
                      for g in arch.backbone.output_gates()]
        if any(w is not None for w in out_widths) and not model.gate_groups:
            set_input_widths(cfg, out_widths)
    for name, gate in model.consumers.items():
        slice_inputs(arch.get_submodule(name), name, state, gate.hard_mask())
    if not model.gate_groups:
        return cfg, state
    slice_gate_groups(arch, model.gate_groups, state, cfg,
                      traced=set(model.consumers))
    return narrowed_cfg(cfg, state), state


def slice_inputs(layer, name: str, state: dict, keep: torch.Tensor) -> None:
    """Keep the input channels ``keep`` of a conv, linear or transposed conv
    (whose weight is (in, out, k, k))."""
    key = f'{name}.weight'
    if isinstance(layer, nn.ConvTranspose2d):
        state[key] = slice_channels(state[key], keep)
    else:
        state[key] = slice_channels(state[key], in_mask=keep)


def slice_gate_groups(arch, groups, state: dict, cfg: dict,
                      traced=frozenset()) -> None:
    """Slice the channels of neck/head gate groups; drop their gates.

    Output channels of the group's convs (and norms, and the repeated
    blocks of YOLACT's coefficient conv), input channels of its declared
    readers; stock options following the width (``num_protos``) are set in
    ``cfg``. Traced readers were sliced with the other consumers.
    """
    names = {m: n for n, m in arch.named_modules()}
    for g in groups:
        keep = g.gate.hard_mask()
        for key in [k for k in state if k.startswith(g.path + '.')]:
            del state[key]
        for conv in g.convs + g.norms:
            for key in [f'{names[conv]}.{k}' for k in
                        ('weight', 'bias', 'running_mean', 'running_var')]:
                if key in state:
                    state[key] = slice_channels(state[key], keep)
        for conv in g.readers:
            if names[conv] not in traced:
                slice_inputs(conv, names[conv], state, keep)
        for conv, copies in g.repeated:
            for key in (f'{names[conv]}.weight', f'{names[conv]}.bias'):
                if key in state:
                    state[key] = slice_channels(state[key], keep.repeat(
                        copies))
        for path, value in g.cfg_updates:
            *parents, last = path.split('.')
            sub = cfg
            for p in parents:
                sub[p] = dict(sub[p])
                sub = sub[p]
            sub[last] = value(int(keep.sum()))


def narrowed_cfg(cfg: dict, state: Dict[str, torch.Tensor]) -> dict:
    """``cfg``, wrapped in ``PaSNarrowed`` where ``state`` has narrower layers.

    Builds ``cfg`` once and lists every conv, linear and norm whose weight
    shape in ``state`` differs: the per-layer widths no stock option can
    express.
    """
    stock = MODELS.build(copy.deepcopy(cfg))
    shapes = {}
    for name, m in stock.named_modules():
        w = getattr(m, 'weight', None)
        key = f'{name}.weight'
        if isinstance(w, torch.Tensor) and key in state and \
                state[key].shape != w.shape:
            if not isinstance(m, NARROWABLE):
                raise RuntimeError(f'{name} ({type(m).__name__}) changed '
                                   'width but cannot be narrowed')
            shapes[name] = list(state[key].shape[:2])
    if not shapes:
        return cfg
    return dict(type='PaSNarrowed', model=cfg, shapes=shapes)


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


def deployed_model(model: PaSModel) -> nn.Module:
    """A searched PaSModel's deployed architecture, built and loaded."""
    return build_deployed(*export_deploy(model))


register_deploy_builder(deployed_model)
