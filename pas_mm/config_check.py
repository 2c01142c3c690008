"""A PaS config checked before the Runner starts, so a bad value ends in
one line with nothing written (the Runner writes ``work_dir/<timestamp>``
before it builds the model and the hooks)."""
import copy

from mmengine.config import Config
from mmengine.registry import HOOKS, MODELS, init_default_scope

from .errors import PaSConfigError


def _has_pas_type(node) -> bool:
    """True if a ``type`` in the (nested) config names a PaS class."""
    if isinstance(node, dict):
        return (str(node.get('type', '')).startswith('PaS')
                or any(_has_pas_type(v) for v in node.values()))
    if isinstance(node, (list, tuple)):
        return any(_has_pas_type(v) for v in node)
    return False


def check_search_hooks(cfg: Config) -> None:
    """Each ``PaSSearchHook`` builds, and its search ends before the run.

    Raises:
        PaSConfigError: a bad hook argument, or ``search_epochs`` /
            ``search_iters`` not below ``train_cfg.max_epochs`` /
            ``max_iters`` (the run would end unsearched).
    """
    train = cfg.get('train_cfg') or {}
    for hook in cfg.get('custom_hooks') or []:
        if not isinstance(hook, dict) or hook.get('type') != 'PaSSearchHook':
            continue
        try:
            HOOKS.build(copy.deepcopy(hook))
        except ValueError as e:
            raise PaSConfigError(str(e)) from None
        for key, limit in (('search_epochs', 'max_epochs'),
                           ('search_iters', 'max_iters')):
            n, total = hook.get(key), train.get(limit)
            if n is not None and total is not None and n >= total:
                raise PaSConfigError(
                    f'PaSSearchHook: {key}={n} must be below train_cfg.'
                    f'{limit}={total}: the search ends at {key} and the run '
                    'would end unsearched (masks never fixed, nothing to '
                    'deploy)')


def check_model(cfg: Config) -> None:
    """Build the config's model as the Runner would (its PaS values are
    checked when it is built), if it holds a PaS type.

    Raises:
        PaSConfigError: what the model refuses (targets, loss weights,
            ``min_keep``, ``ignored``, input size, subnet widths).
    """
    model = cfg.get('model')
    if not isinstance(model, dict) or not _has_pas_type(model):
        return
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    model = copy.deepcopy(model)
    if cfg.get('data_preprocessor') is not None:
        model.setdefault('data_preprocessor',
                         copy.deepcopy(cfg.data_preprocessor))
    MODELS.build(model)


def check_config(cfg: Config, train: bool = True) -> None:
    """:func:`check_model`, and with ``train`` :func:`check_search_hooks`.

    Raises:
        PaSConfigError: one line saying what is wrong.
    """
    if train:
        check_search_hooks(cfg)
    check_model(cfg)
