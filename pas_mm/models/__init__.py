from .backbones import *  # noqa: F401,F403
from .pas_model import PaSModel
from .pas_search_mixin import PaSSearchMixin, read_subnet

__all__ = ['PaSModel', 'PaSSearchMixin', 'read_subnet']
