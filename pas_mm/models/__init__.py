from .backbones import *  # noqa: F401,F403
from .losses import MACsLoss
from .macs_counter import MACsCounter
from .pas_model import PaSModel
from .pas_search_mixin import PaSSearchMixin, read_subnet
from .raw_forward import raw_forward
from .snap_to_target import round_to_divisor, snap_to_target

__all__ = ['MACsLoss', 'MACsCounter', 'PaSModel', 'PaSSearchMixin',
           'raw_forward', 'read_subnet', 'snap_to_target']
