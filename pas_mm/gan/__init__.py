"""PaS for image translation in mmagic: gated Mobile-ResNet, PaSCycleGAN.

Needs the optional mmagic extra (``bash tools/install.sh --with-mmagic``);
the core of pas_mm does not import this package.
"""
from .require import require_mmagic

require_mmagic()

from .mobile_resnet_generator import PaSMobileResnetGenerator  # noqa: E402
from .pas_cyclegan import PaSCycleGAN  # noqa: E402
from . import deploy  # noqa: E402,F401  (registers its deploy step)

__all__ = ['PaSCycleGAN', 'PaSMobileResnetGenerator', 'require_mmagic']
