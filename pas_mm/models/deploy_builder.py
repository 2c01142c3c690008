"""The deploy step as models see it: a builder registered from above.

A latency search times deployed candidates, but models sit below
``pas_mm.deploy`` (which imports them), so they never import it: the
deploy package registers its builder here when it is imported
(``import pas_mm`` does).
"""
from typing import Callable, Optional

from torch import nn

_builder: Optional[Callable[[nn.Module], nn.Module]] = None


def register_deploy_builder(build: Callable[[nn.Module], nn.Module]) -> None:
    """Set ``build(model) -> deployed module`` for searched models (all
    gates fixed)."""
    global _builder
    _builder = build


def build_deployed_model(model: nn.Module) -> nn.Module:
    """``model`` (gates fixed) in its deployed form, via the registered
    builder."""
    if _builder is None:
        raise RuntimeError('no deploy builder is registered: import '
                           'pas_mm.deploy first')
    return _builder(model)
