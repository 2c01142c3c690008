"""Put a gated backbone in place of the stock backbone a config names.

``PaSModel(backbone=dict(type='PaSResNet'))`` over a config whose backbone
is e.g. ``ResNetV1d`` must build the same network with gates, not a plain
ResNet: variants set options in their class (``deep_stem``, ``avg_down``)
and libraries differ in defaults (mmdet's ``norm_eval=True``,
``out_indices=(0, 1, 2, 3)``). Each gated backbone maps the stock classes it
reproduces with ``from_stock`` and refuses the others, naming the option it
cannot reproduce.
"""
import copy
import inspect

from mmengine.config import Config
from mmengine.registry import MODELS

from ...errors import PaSConfigError


def class_defaults(cls) -> dict:
    """Keyword defaults of ``cls.__init__`` and of its base classes."""
    defaults = {}
    for klass in reversed(cls.__mro__):
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        for name, p in inspect.signature(init).parameters.items():
            if p.default is not inspect.Parameter.empty:
                defaults[name] = p.default
    return defaults


def with_stock_defaults(gated_cls, stock_cls, cfg: dict) -> dict:
    """``cfg`` plus the stock class's defaults for the arguments it omits.

    Only arguments the gated class takes too; ``init_cfg`` stays the gated
    class's.
    """
    cfg, ours = dict(cfg), class_defaults(gated_cls)
    for name, default in class_defaults(stock_cls).items():
        if name in ours and name not in cfg and name != 'init_cfg':
            cfg[name] = copy.deepcopy(default)
    return cfg


def gated_backbone_cfg(stock: dict, override: dict) -> dict:
    """Backbone config of ``override`` merged over the ``stock`` one.

    Without a ``type`` in ``override``, or with the stock type itself, this
    is mmengine's config merge. With another type (a gated backbone), that
    class's ``from_stock(stock_cls, merged_cfg)`` maps the stock class's
    defaults and class-set options into the gated backbone's config, or
    raises ``ValueError`` naming what it cannot reproduce.
    """
    merged = Config._merge_a_into_b(copy.deepcopy(dict(override)),
                                    copy.deepcopy(dict(stock)))
    gated_type, stock_type = override.get('type'), stock.get('type')
    if gated_type is None or gated_type == stock_type:
        return merged
    with MODELS.switch_scope_and_registry(None) as registry:  # as build()
        gated_cls, stock_cls = registry.get(gated_type), registry.get(
            stock_type)
    if gated_cls is None:
        raise PaSConfigError(f'backbone type {gated_type!r} is not registered '
                         "(custom_imports = dict(imports=['pas_mm']))")
    if stock_cls is None or not hasattr(gated_cls, 'from_stock'):
        return merged
    return gated_cls.from_stock(stock_cls, merged)
