from .backbones import *  # noqa: F401,F403
from .losses import MACsLoss
from .macs_counter import MACsCounter
from .pas_model import PaSModel

__all__ = ['MACsLoss', 'MACsCounter', 'PaSModel']
