from .gated_backbone import GatedBackboneMixin
from .pas_mobileone import GatedMobileOneBlock, PaSMobileOne
from .pas_repvgg import GatedRepVGGBlock, PaSRepVGG
from .pas_resnet import GatedBasicBlock, GatedBottleneck, PaSResNet

__all__ = ['GatedBackboneMixin', 'GatedMobileOneBlock', 'PaSMobileOne',
           'GatedRepVGGBlock', 'PaSRepVGG',
           'GatedBasicBlock', 'GatedBottleneck', 'PaSResNet']
