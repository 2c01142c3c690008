"""The PaS interface a searched model exposes to the hook and to deploy."""
import json
from typing import Dict, Optional

import torch
from mmengine.registry import MODELS

from ..errors import PaSConfigError
from ..ops import DBCGate
from .losses import format_macs
from .snap_to_target import round_to_divisor, snap_to_target


class PaSSearchMixin:
    """Gates, MACs loss, end of search and subnet JSON of a PaS model.

    The model sets ``counter`` (:class:`MACsCounter`), ``macs_full``,
    ``macs_min``, ``macs_target`` (MACs), ``macs_loss`` (a
    :class:`MACsLoss` or None) and ``input_shape`` (C, H, W), and
    implements :meth:`gates`. :class:`PaSSearchHook` drives any model with
    this interface (``PaSModel``, ``PaSCycleGAN``).
    """

    def gates(self) -> Dict[str, DBCGate]:
        """Gates by module path."""
        raise NotImplementedError

    def _build_macs_loss(self, macs_loss: Optional[dict],
                         subnet: Optional[str]) -> None:
        """Set ``macs_loss`` and ``macs_target`` (``counter``, ``macs_full``
        and ``macs_min`` set first).

        Raises:
            PaSConfigError: gates without a target (``macs_loss=None`` and
                no ``subnet``), a target without gates, or a target the
                gates cannot reach.
        """
        name = type(self).__name__
        if macs_loss is None:
            if self.gates() and subnet is None:
                raise PaSConfigError(
                    f'{name}: macs_loss=None leaves the gates without a '
                    'MACs target; give macs_loss, or subnet to fix them')
            self.macs_loss, self.macs_target = None, self.macs_full
            return
        if not self.gates():
            raise PaSConfigError(
                f'{name}: nothing is gated (gate_cfg=None); set '
                'macs_loss=None to train this fixed-width model')
        self.macs_loss = MODELS.build(macs_loss)
        self.macs_target = self.macs_loss.resolve_target(
            self.macs_full, self.macs_min)

    @property
    def searched(self) -> bool:
        """True once every gate is fixed (search finished)."""
        return all(bool(g.fixed) for g in self.gates().values())

    def fix_gates(self, snap_tol: Optional[float] = None,
                  divisor: Optional[int] = None) -> None:
        """End the search: freeze every gate's mask.

        Args:
            snap_tol: if given, the masks are first moved to within this
                relative distance of the MACs target by flipping the
                channels whose gate weight is nearest the threshold
                (:func:`snap_to_target`).
            divisor: if given, every width is then rounded to a multiple
                of it (or the full width), staying as near the target as
                the rounding allows (:func:`round_to_divisor`).
        """
        gates = list(self.gates().values())
        masks = {g: g.hard_mask() for g in gates}
        scores = {g: g.weight for g in gates}
        if snap_tol is not None:
            masks = snap_to_target(self.counter, masks, scores,
                                   self.macs_target, snap_tol)
        if divisor is not None:
            masks = round_to_divisor(self.counter, masks, scores,
                                     self.macs_target, divisor)
        for g in gates:
            g.fix(masks[g])

    def subnet(self) -> dict:
        """Searched widths, JSON-ready, keyed by gate module path."""
        return dict(
            input_shape=list(self.input_shape),
            searched=self.searched,
            macs=dict(full=self.macs_full, target=self.macs_target,
                      current=self.counter.kept_macs()),
            layers={
                name: dict(width=g.num_kept(), of=g.num_channels,
                           keep=g.hard_mask().nonzero().flatten().tolist())
                for name, g in self.gates().items()
            })

    def load_subnet(self, path: str) -> None:
        """Apply and fix the masks of a subnet JSON."""
        with open(path) as f:
            layers = json.load(f)['layers']
        gates = self.gates()
        if set(layers) != set(gates):
            raise PaSConfigError(
                f'subnet {path} does not match this model: missing '
                f'{sorted(set(gates) - set(layers))[:5]}, unknown '
                f'{sorted(set(layers) - set(gates))[:5]}')
        for name, g in gates.items():
            mask = torch.zeros(g.num_channels, dtype=torch.bool)
            mask[layers[name]['keep']] = True
            g.fixed_mask.copy_(mask)
            g.fixed.fill_(True)

    def macs_summary(self) -> str:
        return (f'MACs {format_macs(self.counter.kept_macs())} / target '
                f'{format_macs(self.macs_target)} (full '
                f'{format_macs(self.macs_full)})')

    def macs_losses(self) -> Dict[str, torch.Tensor]:
        """``macs_ratio`` always, ``loss_macs`` while searching."""
        macs = self.counter.macs()
        losses = dict(macs_ratio=macs.detach() / self.macs_full)
        if self.macs_loss is not None and not self.searched:
            losses['loss_macs'] = self.macs_loss(macs, self.macs_target,
                                                 self.macs_full)
        return losses
