"""Per-layer widths of a searched subnet and of backbone configs, to
compare them (``tools/plot_widths.py``)."""
import copy
from typing import Dict, List

from mmengine.config import Config
from mmengine.registry import MODELS

from ..errors import PaSConfigError
from .backbones.gated_backbone import GatedBackboneMixin
from .backbones.stock_backbone import gated_backbone_cfg


def subnet_widths(subnet: dict) -> Dict[str, int]:
    """Kept width of every backbone layer of a subnet JSON (as
    ``PaSSearchHook`` and ``deploy_reparam.py`` write it), keyed by gate
    path inside the backbone, in forward order."""
    prefix = 'backbone.'
    widths = {name[len(prefix):]: layer['width']
              for name, layer in subnet['layers'].items()
              if name.startswith(prefix)}
    if not widths:
        raise PaSConfigError('the subnet has no backbone layers (keys '
                             f"'{prefix}...'); is it a pas_subnet.json?")
    return widths


def _gated_classes() -> List[type]:
    """Gated backbones that map stock ones (``from_stock``)."""
    found, todo = [], [GatedBackboneMixin]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if hasattr(sub, 'from_stock'):
                found.append(sub)
    return found


def backbone_cfg_of(cfg: Config) -> dict:
    """The backbone config a model config builds: a PaSModel's merged
    gated backbone, or a plain model's ``backbone``."""
    model = cfg.get('model') or {}
    if model.get('type') == 'PaSModel':
        return gated_backbone_cfg(model['architecture'].get('backbone', {}),
                                  model.get('backbone') or {})
    if 'backbone' not in model:
        raise PaSConfigError(f'config {cfg.filename} has no model.backbone')
    return copy.deepcopy(dict(model['backbone']))


def backbone_widths(backbone: dict) -> Dict[str, int]:
    """Width of every prunable layer a backbone config builds.

    Gated backbones (searched or deploy form) report their own
    :meth:`~GatedBackboneMixin.layer_widths`; a stock backbone (mmpretrain
    ``RepVGG``, ``ResNet``, ...) is first mapped to the gated backbone that
    reproduces it, so its layers get the same names.

    Raises:
        PaSConfigError: no gated backbone reproduces it.
    """
    with MODELS.switch_scope_and_registry(None) as registry:
        cls = registry.get(backbone['type'])
    if cls is None:
        raise PaSConfigError(f"backbone type {backbone['type']!r} is not "
                             'registered')
    if not issubclass(cls, GatedBackboneMixin):
        for gated in _gated_classes():
            try:
                backbone = gated.from_stock(cls, backbone)
            except PaSConfigError:  # not the stock class it reproduces
                continue
            backbone['type'] = gated.__name__
            break
        else:
            raise PaSConfigError(
                f'no pas_mm backbone reproduces {cls.__name__}: its layer '
                'widths cannot be named')
    backbone = dict(backbone, init_cfg=None)
    return MODELS.build(backbone).layer_widths()
