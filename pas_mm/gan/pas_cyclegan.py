"""PaSCycleGAN: mmagic's CycleGAN with PaS on the generators it compresses."""
import copy
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmagic.models.editors.cyclegan import CycleGAN
from mmagic.registry import MODELS
from torch import nn

from ..errors import PaSConfigError
from ..budget import MACsCounter
from ..models.pas_search_mixin import PaSSearchMixin
from ..ops import DBCGate
from .mobile_resnet_generator import PaSMobileResnetGenerator


@MODELS.register_module()
class PaSCycleGAN(PaSSearchMixin, CycleGAN):
    """CycleGAN whose compressed generators are searched by PaS.

    mmagic's ``train_step`` is unchanged (discriminator and generator steps
    alternate); the generator step's loss gets ``loss_macs`` (while
    searching), ``macs_ratio`` (logged) and, with ``distill``,
    ``loss_distill``. The MACs are those of the compressed generators,
    summed, at ``input_shape``; :class:`PaSSearchHook` fixes the masks.

    Args:
        compress_domains (list[str], optional): target domains whose
            generator is compressed (default ``[default_domain]``); their
            generator config must be gated (``PaSMobileResnetGenerator``).
            The other generators are built with ``gate_cfg=None``.
        macs_loss (dict, optional): :class:`MACsLoss` config; a ratio target
            is relative to the compressed generators' full MACs. None:
            nothing is searched (the deploy form, or masks from ``subnet``).
        input_shape (Sequence[int]): (C, H, W) at which MACs are counted.
        distill (dict, optional): ``dict(loss_weight=w)`` adds
            ``w * L1(G(x), T(x))`` for every compressed generator G, T its
            uncompressed copy taken at the first training step (the
            generator as loaded by ``load_from``, all channels kept), frozen
            and saved in the checkpoint (``teachers``).
        domain_generators (dict, optional): domain -> generator config, in
            place of ``generator`` for that domain (deploy configs write the
            pruned widths here).
        subnet (str, optional): a subnet JSON whose masks are applied and
            fixed.
        *args, **kwargs: mmagic's ``CycleGAN`` arguments.
    """

    def __init__(self,
                 *args,
                 compress_domains: Optional[List[str]] = None,
                 macs_loss: Optional[dict] = dict(type='MACsLoss',
                                                  target=0.5),
                 input_shape: Sequence[int] = (3, 256, 256),
                 distill: Optional[dict] = None,
                 domain_generators: Optional[Dict[str, dict]] = None,
                 subnet: Optional[str] = None,
                 **kwargs):
        super().__init__(*args, **kwargs)
        domains = list(self._reachable_domains)
        self.compress_domains = list(compress_domains or
                                     [self._default_domain])
        unknown = set(self.compress_domains) - set(domains) - {None}
        if unknown:
            raise PaSConfigError(
                f'PaSCycleGAN: compress_domains {sorted(unknown)} are not '
                f'reachable domains {domains}')
        unknown = set(domain_generators or {}) - set(domains)
        if unknown:
            raise PaSConfigError(
                f'PaSCycleGAN: domain_generators {sorted(unknown)} are not '
                f'reachable domains {domains}')
        self.generator_cfgs = {}
        for d in domains:
            cfg = copy.deepcopy(dict((domain_generators or {}).get(
                d, self._gen_cfg)))
            if d not in self.compress_domains and d not in (
                    domain_generators or {}) and MODELS.get(
                        cfg['type']) is PaSMobileResnetGenerator:
                cfg['gate_cfg'] = None
            self.generator_cfgs[d] = cfg
            if cfg != self._gen_cfg:
                self.generators[d] = MODELS.build(cfg)
        for d in self.compress_domains:
            if not hasattr(self.generators[d], 'gated_layers'):
                raise PaSConfigError(
                    f'PaSCycleGAN: the generator of {d!r} '
                    f'({type(self.generators[d]).__name__}) has no DBC gates;'
                    " use generator=dict(type='PaSMobileResnetGenerator')")
        self.input_shape = tuple(input_shape)
        gated = {}
        for d in self.compress_domains:
            gated.update(self.generators[d].gated_layers())
        zeros = torch.zeros(1, *self.input_shape)
        self.counter, _ = MACsCounter.profile(
            self.generators,
            lambda: [self.generators[d](zeros) for d in
                     self.compress_domains],
            gated=gated)
        self.macs_full = self.counter.full()
        self.macs_min = self.counter.minimum()
        self._build_macs_loss(macs_loss, subnet)
        self.distill = distill
        if distill is not None:
            self.teachers = nn.ModuleDict({
                d: MODELS.build(dict(self.generator_cfgs[d], gate_cfg=None))
                for d in self.compress_domains})
            self.teachers.requires_grad_(False)
            self.register_buffer('teachers_ready', torch.tensor(False))
        if subnet is not None:
            self.load_subnet(subnet)

    def init_weights(self) -> None:
        """Each generator's and discriminator's own ``init_weights``.

        mmagic 1.2.0's ``BaseTranslationModel.init_weights`` attaches
        init-info bookkeeping that its ``generation_init_weights`` then fails
        on (UnboundLocalError) under mmengine 0.10.7; the weights are the
        same without it.
        """
        for d in self._reachable_domains:
            self.get_module(self.generators)[d].init_weights()
            if self.discriminators is not None:
                self.get_module(self.discriminators)[d].init_weights()

    def gates(self) -> Dict[str, DBCGate]:
        """Gates of the compressed generators by module path in the model."""
        return {f'generators.{d}.{n}': g for d in self.compress_domains
                for n, g in self.generators[d].gates().items()}

    def compressed_generator(self, domain: Optional[str] = None):
        """The generator translating to ``domain`` (default: the first
        compressed domain)."""
        return self.get_module(self.generators)[domain or
                                                self.compress_domains[0]]

    def _snapshot_teachers(self) -> None:
        """Teacher = the compressed generator with every channel kept."""
        for d in self.compress_domains:
            state = {k: v for k, v in
                     self.compressed_generator(d).state_dict().items()
                     if k in self.teachers[d].state_dict()}
            self.teachers[d].load_state_dict(state, strict=True)
        self.teachers_ready.fill_(True)

    def train_step(self, data, optim_wrapper):
        if self.distill is not None and not bool(self.teachers_ready):
            if self.gates() and any(g.num_kept() < g.num_channels
                                    for g in self.gates().values()):
                raise PaSConfigError(
                    'PaSCycleGAN: distill needs the uncompressed generator '
                    'at the first step; these gates already prune channels')
            self._snapshot_teachers()
        return super().train_step(data, optim_wrapper)

    def _get_gen_loss(self, outputs):
        """mmagic's generator losses + MACs (and distillation) losses."""
        loss_g, log_vars = super()._get_gen_loss(outputs)
        losses = self.macs_losses()
        if self.distill is not None:
            with torch.no_grad():
                teacher = {d: self.teachers[d](
                    outputs[f'real_{self.get_other_domains(d)[0]}'])
                    for d in self.compress_domains}
            losses['loss_distill'] = self.distill['loss_weight'] * sum(
                F.l1_loss(outputs[f'fake_{d}'], t)
                for d, t in teacher.items())
        loss_pas, log_pas = self.parse_losses(losses)
        log_vars.update({k: v for k, v in log_pas.items() if k != 'loss'})
        log_vars['loss'] = log_vars['loss'] + log_pas['loss']
        return loss_g + loss_pas, log_vars
