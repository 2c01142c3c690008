"""pas-mm: Pruning-as-Search for mmengine, mmpretrain and mmdet."""
from .compat import apply_compat  # noqa: F401  (must run before mm* loads)
from . import budget, hooks, models, ops  # noqa: F401,E402
from .deploy import narrowed  # noqa: F401,E402  (registers PaSNarrowed)
from .hooks import PaSSearchHook  # noqa: E402
from .budget import MACsCounter, MACsLoss  # noqa: E402
from .models import PaSModel  # noqa: E402
from .ops import DBCGate  # noqa: E402

__version__ = '0.1.0'
__all__ = ['DBCGate', 'MACsCounter', 'MACsLoss', 'PaSModel', 'PaSSearchHook']
