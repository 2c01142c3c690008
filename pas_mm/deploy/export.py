"""Turn a searched PaSModel into a plain pruned, reparameterized model."""
import copy
from typing import Dict, Optional, Tuple

import torch
from mmengine.registry import MODELS
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

from ..models import PaSModel
from ..models.attention_heads import export_heads
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
    if model.auto_gates is not None:
        return export_graph_gated(arch, model.auto_gates, cfg)
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


def export_graph_gated(arch: nn.Module, auto, cfg: dict
                       ) -> Tuple[dict, Dict[str, torch.Tensor]]:
    """Deploy form of an auto-gated model (``gates='auto'``).

    Every member of a gated channel group loses its pruned channels (conv /
    linear outputs and inputs, norm channels; a depth-wise or grouped conv
    its pruned groups); the gates are dropped. The config is ``PaSNarrowed``:
    the stock ``cfg`` plus the shape of every changed layer, by each path
    that reaches it (a conv shared across levels is listed under each), the
    width options that follow a kept width (``attrs``) and the kept heads
    of the attention modules gated by heads (``heads``; their per-head
    parameters sliced too).
    """
    state = {k: v.detach().clone() for k, v in arch.state_dict().items()
             if not k.startswith('gates.')}
    shapes = {}
    for path, m in arch.named_modules(remove_duplicate=False):
        out_keep, in_keep = auto.keep(path, 'out'), auto.keep(path, 'in')
        if out_keep is None and in_keep is None:
            continue
        shape = slice_layer(m, path, state, out_keep, in_keep)
        if shape != _shape_of(m):
            shapes[path] = shape
    cfg = dict(type='PaSNarrowed', model=cfg, shapes=shapes)
    heads = export_heads(auto, state)
    if heads:
        cfg['heads'] = heads
    if auto.width_attrs:
        cfg['attrs'] = {path: {attr: int(index.keep().sum())}
                        for path, attr, index in auto.width_attrs}
    return cfg, state


def _shape_of(m: nn.Module) -> list:
    """The layer's shape in :func:`narrow_layer`'s terms."""
    if isinstance(m, _BatchNorm):
        return [m.num_features]
    shape = list(m.weight.shape[:2])
    return shape + [m.groups] if isinstance(m, _ConvNd) else shape


def slice_layer(m: nn.Module, path: str, state: dict,
                out_keep: Optional[torch.Tensor],
                in_keep: Optional[torch.Tensor]) -> list:
    """Keep the ``out_keep`` output and ``in_keep`` input channels of one
    conv / linear / BatchNorm in ``state`` (keys ``path.*``); returns its
    new shape (:func:`narrow_layer`'s format, groups included for convs).

    A depth-wise conv keeps ``groups`` = kept channels; a grouped conv
    drops whole groups (its gate's units), so its per-group input width
    stays.
    """
    def cut(key, keep, dim):
        if keep is not None and f'{path}.{key}' in state:
            state[f'{path}.{key}'] = state[f'{path}.{key}'].index_select(
                dim, keep.nonzero().flatten())

    if isinstance(m, _BatchNorm):
        for key in ('weight', 'bias', 'running_mean', 'running_var'):
            cut(key, out_keep, 0)
        return [m.num_features if out_keep is None else int(out_keep.sum())]
    out_dim, in_dim = (1, 0) if getattr(m, 'transposed', False) else (0, 1)
    cut('weight', out_keep, out_dim)
    cut('bias', out_keep, 0)
    if isinstance(m, nn.Linear) or m.groups == 1:
        cut('weight', in_keep, in_dim)
    shape = list(state[f'{path}.weight'].shape[:2])
    if isinstance(m, nn.Linear):
        return shape
    if m.transposed and m.groups > 1:
        raise RuntimeError(f'{path}: grouped transposed convs cannot be '
                           'pruned')
    out = shape[out_dim]
    groups = m.groups if m.groups == 1 else out * m.groups // m.out_channels
    return shape + [groups]


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
    result = to_dtype(deployed, dtype).load_state_dict(state, strict=False)
    # strict, except for keys given that the model's own load hook removes
    # (Swin-v2 re-creates its relative position index and coords table)
    missing = [k for k in result.missing_keys if k not in state]
    if missing or result.unexpected_keys:
        raise RuntimeError(
            f'deployed model: missing keys {missing[:5]}, unexpected keys '
            f'{result.unexpected_keys[:5]}')
    return deployed.eval()


def to_dtype(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    """``model.to(dtype)``, a module's own floating ``dtype`` attribute
    with it (EdgeNeXt's Fourier position encoding builds its input in
    ``self.dtype``, then feeds it to its conv)."""
    model.to(dtype)
    for m in model.modules():
        own = vars(m).get('dtype')
        if isinstance(own, torch.dtype) and own.is_floating_point:
            m.dtype = dtype
    return model


def deployed_model(model: PaSModel) -> nn.Module:
    """A searched PaSModel's deployed architecture, built and loaded."""
    return build_deployed(*export_deploy(model))


register_deploy_builder(deployed_model)
