"""Deploy form with per-layer widths no stock config option can express."""
import copy
from typing import Dict, List, Optional

from mmengine.registry import MODELS
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

from ..models.attention_heads import narrow_heads

NARROWABLE = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, _BatchNorm)


def narrow_layer(layer: nn.Module, shape: List[int]) -> nn.Module:
    """A copy of ``layer`` (weights uninitialized) with weight shape
    ``shape[:2]``.

    ``shape``: [out, in per group] of a conv / linear weight (a transposed
    conv: [in, out per group]), optionally followed by the conv's new
    ``groups`` (a pruned depth-wise or grouped conv); [C] of a BatchNorm.
    Conv subclasses (e.g. mmpretrain's ``Conv2dAdaptivePadding``) keep
    their class when they hold only ``weight`` and ``bias``.
    """
    if isinstance(layer, _ConvNd) and _plain(layer):
        groups = shape[2] if len(shape) > 2 else layer.groups
        new = copy.deepcopy(layer)
        if layer.transposed:
            new.in_channels, new.out_channels = shape[0], shape[1] * groups
        else:
            new.out_channels, new.in_channels = shape[0], shape[1] * groups
        new.groups = groups
        new.weight = nn.Parameter(layer.weight.new_empty(
            list(shape[:2]) + list(layer.weight.shape[2:])))
        if layer.bias is not None:
            new.bias = nn.Parameter(layer.bias.new_empty(new.out_channels))
        return new
    if isinstance(layer, nn.Linear):
        return nn.Linear(shape[1], shape[0], layer.bias is not None)
    if isinstance(layer, _BatchNorm):
        return type(layer)(shape[0], layer.eps, layer.momentum, layer.affine,
                           layer.track_running_stats)
    raise TypeError(f'cannot narrow {type(layer).__name__}; supported: '
                    'Conv2d, ConvTranspose2d, Linear, BatchNorm')


def _plain(conv: nn.Module) -> bool:
    """Holds only its own weight and bias (no extra parameters, no
    children), so resizing them and the channel attributes narrows it."""
    return (not list(conv.children()) and
            {n for n, _ in conv.named_parameters()} <= {'weight', 'bias'})


def build_narrowed(model: dict,
                   shapes: Dict[str, List[int]],
                   attrs: Optional[Dict[str, Dict[str, int]]] = None,
                   data_preprocessor: Optional[dict] = None,
                   heads: Optional[Dict[str, int]] = None) -> nn.Module:
    """Build ``model``, then narrow the layers named in ``shapes`` and set
    the integer options ``attrs`` ({module path: {attribute: value}}, e.g.
    a RoI extractor's ``out_channels``); the attention modules in
    ``heads`` ({module path: kept heads}) run their kept heads
    (:func:`pas_mm.models.attention_heads.narrow_heads`).

    Registered as ``PaSNarrowed``: the deploy config of a model whose neck
    or heads were pruned per layer,
    ``dict(type='PaSNarrowed', model=<stock config>, shapes={path: [out,
    in]})``. The result is the stock model class (state-dict keys
    unchanged), so ``tools/test.py`` and mmdet's inferencer take it.
    """
    model = copy.deepcopy(dict(model))
    if data_preprocessor is not None:
        model.setdefault('data_preprocessor', data_preprocessor)
    built = MODELS.build(model)
    narrowed = {}  # a layer shared by several paths stays shared
    for path, shape in shapes.items():
        parent, _, attr = path.rpartition('.')
        owner = built.get_submodule(parent) if parent else built
        layer = getattr(owner, attr)
        if id(layer) not in narrowed:
            narrowed[id(layer)] = (layer, narrow_layer(layer, shape))
        setattr(owner, attr, narrowed[id(layer)][1])
    for path, values in (attrs or {}).items():
        for attr, value in values.items():
            setattr(built.get_submodule(path), attr, value)
    for path, kept in (heads or {}).items():
        narrow_heads(built.get_submodule(path), kept)
    return built


MODELS.register_module(name='PaSNarrowed', module=build_narrowed)
