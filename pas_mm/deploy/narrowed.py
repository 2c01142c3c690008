"""Deploy form with per-layer widths no stock config option can express."""
import copy
from typing import Dict, List, Optional

from mmengine.registry import MODELS
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

NARROWABLE = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, _BatchNorm)


def narrow_layer(layer: nn.Module, shape: List[int]) -> nn.Module:
    """A copy of ``layer`` (uninitialized) with weight shape ``shape[:2]``.

    ``shape``: [out, in] of a conv/linear weight (``in`` per group; a
    transposed conv: [in, out per group]), [C] of a norm.
    """
    if isinstance(layer, nn.ConvTranspose2d):
        return nn.ConvTranspose2d(
            shape[0], shape[1] * layer.groups, layer.kernel_size,
            layer.stride, layer.padding, layer.output_padding, layer.groups,
            layer.bias is not None, layer.dilation, layer.padding_mode)
    if isinstance(layer, nn.Conv2d) and type(layer) is nn.Conv2d:
        return nn.Conv2d(shape[1] * layer.groups, shape[0],
                         layer.kernel_size, layer.stride, layer.padding,
                         layer.dilation, layer.groups,
                         layer.bias is not None, layer.padding_mode)
    if isinstance(layer, nn.Linear):
        return nn.Linear(shape[1], shape[0], layer.bias is not None)
    if isinstance(layer, _BatchNorm):
        return type(layer)(shape[0], layer.eps, layer.momentum, layer.affine,
                           layer.track_running_stats)
    raise TypeError(f'cannot narrow {type(layer).__name__}; supported: '
                    'Conv2d, ConvTranspose2d, Linear, BatchNorm')


def build_narrowed(model: dict,
                   shapes: Dict[str, List[int]],
                   data_preprocessor: Optional[dict] = None) -> nn.Module:
    """Build ``model``, then narrow the layers named in ``shapes``.

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
    for path, shape in shapes.items():
        parent, _, attr = path.rpartition('.')
        owner = built.get_submodule(parent) if parent else built
        setattr(owner, attr, narrow_layer(getattr(owner, attr), shape))
    return built


MODELS.register_module(name='PaSNarrowed', module=build_narrowed)
