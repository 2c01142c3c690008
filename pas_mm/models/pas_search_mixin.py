"""The PaS interface a searched model exposes to the hook and to deploy."""
import json
import logging
import reprlib
from typing import Dict, Optional, Tuple

import torch
from mmengine.logging import print_log
from mmengine.dist import broadcast_object_list, get_world_size
from mmengine.registry import MODELS
from torch import nn

from ..errors import PaSConfigError
from ..ops import DBCGate
from ..budget import (LatencyCounter, LatencyLoss, LatencyTable, format_macs,
                      round_to_divisor, snap_to_target)
from ..budget.losses.budget_loss import AUTO_FLOOR
from ..ops import raw_forward

MEASURED_SNAPS = 3  # deployed models timed at the end of a latency search


def read_subnet(path: str) -> dict:
    """The subnet JSON at ``path`` (as ``PaSSearchHook`` writes it).

    Raises:
        PaSConfigError: one line naming the file: it does not exist, is not
            valid JSON, or has no ``layers``.
    """
    try:
        with open(path) as f:
            subnet = json.load(f)
    except FileNotFoundError:
        raise PaSConfigError(f'subnet {path} does not exist') from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PaSConfigError(f'subnet {path} is not a valid JSON file '
                             f'({e})') from None
    if not isinstance(subnet, dict) or not isinstance(
            subnet.get('layers'), dict):
        raise PaSConfigError(
            f'subnet {path} has no "layers" mapping; expected the '
            'pas_subnet.json that PaSSearchHook writes')
    return subnet


def _checked_keep(path: str, name: str, layer, gate: DBCGate) -> list:
    """The ``keep`` indices of a subnet layer, checked against its gate.

    Raises:
        PaSConfigError: not ``min_keep`` to ``num_channels`` unique
            indices in ``[0, num_channels)``, or ``width`` differs.
    """
    keep = layer.get('keep') if isinstance(layer, dict) else None
    c = gate.num_channels
    if not (isinstance(keep, list) and gate.min_keep <= len(keep) <= c
            and all(type(i) is int and 0 <= i < c for i in keep)
            and len(set(keep)) == len(keep)):
        raise PaSConfigError(
            f'subnet {path}: layer {name} must keep {gate.min_keep} to {c} '
            f'unique channel indices in [0, {c}), got keep='
            f'{reprlib.repr(keep)}')
    if layer.get('width', len(keep)) != len(keep):
        raise PaSConfigError(
            f"subnet {path}: layer {name} has width={layer['width']!r} but "
            f'keeps {len(keep)} channels')
    return keep


class PaSSearchMixin:
    """Gates, MACs loss, end of search and subnet JSON of a PaS model.

    The model sets ``counter`` (:class:`MACsCounter`), ``macs_full``,
    ``macs_min`` and ``input_shape`` (C, H, W), implements :meth:`gates`
    and calls :meth:`_build_macs_loss`, which sets ``macs_loss`` (a
    :class:`MACsLoss`, a :class:`LatencyLoss` or None), the search budget
    ``budget`` (the MACs counter, or a :class:`LatencyCounter` under a
    latency loss), ``budget_full``, ``budget_min``, ``budget_target`` (its
    units: MACs or ms) and ``macs_target`` (MACs; None under a latency
    loss). :class:`PaSSearchHook` drives any model with this interface
    (``PaSModel``, ``PaSCycleGAN``); it may set ``annealed_target`` (budget
    units), the target the loss pulls toward while the search anneals it
    (None: ``budget_target``).
    """

    annealed_target: Optional[float] = None

    def gates(self) -> Dict[str, DBCGate]:
        """Gates by module path."""
        raise NotImplementedError

    def _build_macs_loss(self, macs_loss: Optional[dict],
                         subnet: Optional[str]) -> None:
        """Set ``macs_loss``, the budget and its target (``counter``,
        ``macs_full`` and ``macs_min`` set first).

        Raises:
            PaSConfigError: gates without a target (``macs_loss=None`` and
                no ``subnet``), a target without gates, or a target the
                gates cannot reach.
        """
        name = type(self).__name__
        self.budget, self.macs_loss = self.counter, None
        self.budget_full, self.budget_min = self.macs_full, self.macs_min
        if macs_loss is None:
            if self.gates() and subnet is None:
                raise PaSConfigError(
                    f'{name}: macs_loss=None leaves the gates without a '
                    'MACs target; give macs_loss, or subnet to fix them')
            self.budget_target = self.macs_target = self.macs_full
            return
        if not self.gates():
            auto = getattr(self, 'auto_gates', None)
            if auto is not None:
                why = '; '.join(f'{root}: {reason}'
                                for root, reason in auto.skipped[:3])
                more = len(auto.skipped) - 3
                raise PaSConfigError(
                    f"{name}: gates='auto' found no group it can gate ("
                    f"{why}{f'; {more} more' if more > 0 else ''}); this "
                    'model cannot be searched by channel width here')
            raise PaSConfigError(
                f'{name}: nothing is gated (gate_cfg=None); set '
                'macs_loss=None to train this fixed-width model')
        self.macs_loss = MODELS.build(macs_loss)
        if isinstance(self.macs_loss, LatencyLoss):
            table = self.macs_loss.table
            self.budget = LatencyCounter.build(
                self.counter, table, self._latency_key(table),
                self._deployed_with, self.input_shape)
            self.budget_full = self.budget.full()
            self.budget_min = self.budget.minimum()
        self.budget_target = self.macs_loss.resolve_target(
            self.budget_full, self.budget_min)
        self.macs_target = (None if self.budget is not self.counter else
                            self.budget_target)
        for g in self.gates().values():  # for value_weighted
            g.track_importance = self.macs_loss.value_weighted
        if subnet is None:
            self._apply_floor()

    def _apply_floor(self) -> None:
        """Raise every gate's ``min_keep`` to the budget loss's floor
        (``budget_min`` follows; ``macs_min`` stays the gates' reach)."""
        loss, gates = self.macs_loss, list(self.gates().values())
        explicit = loss.floor is not None
        floor = loss.floor if explicit else AUTO_FLOOR
        ratio = self.budget_target / self.budget_full
        base = {g: g.min_keep for g in gates}
        fmt = self.budget.format
        while floor:
            for g in gates:
                g.min_keep = min(g.num_channels, max(base[g], loss.floor_width(
                    g.num_channels, ratio, floor)))
            self.budget_min = self.budget.minimum()
            if explicit and self.budget_min > self.budget_target:
                raise PaSConfigError(
                    f'{type(self).__name__}: floor={floor} leaves '
                    f'{fmt(self.budget_min)}, above the target '
                    f'{fmt(self.budget_target)}; lower the floor')
            if explicit or self.budget_min <= 0.9 * self.budget_target:
                break
            floor = floor / 2 if floor > 0.05 else 0.
        if not explicit and floor != AUTO_FLOOR:
            print_log(f'{type(self).__name__}: per-layer floor lowered from '
                      f'{AUTO_FLOOR} to {floor:g} (at {AUTO_FLOOR} the '
                      'floored layers would leave more than 90% of the '
                      'target)', logger='current', level=logging.WARNING)
        if not floor:
            for g in gates:
                g.min_keep = base[g]
            self.budget_min = self.budget.minimum()

    def _latency_key(self, table: LatencyTable) -> str:
        """Key of this model's full-width latency in the table file."""
        raise PaSConfigError(f'{type(self).__name__}: LatencyLoss is not '
                             'supported for this model; use MACsLoss')

    def _deployed_with(self, masks: Optional[Dict[DBCGate, torch.Tensor]]
                       ) -> nn.Module:
        """This model deployed with ``masks`` (None: every channel kept),
        for timing; the model itself is not changed."""
        raise PaSConfigError(f'{type(self).__name__}: LatencyLoss is not '
                             'supported for this model; use MACsLoss')

    def deployed_latency(self, table: LatencyTable,
                         masks: Optional[Dict[DBCGate, torch.Tensor]] = None
                         ) -> Tuple[float, float]:
        """Measured ms of the full-width and of the pruned deployed model
        (``masks``, default the fixed ones), timed in turns."""
        x = torch.randn(table.batch_size, *self.input_shape)
        return tuple(table.time_modules(
            [self._deployed_with(None), self._deployed_with(masks or {
                g: g.hard_mask() for g in self.gates().values()})],
            x, run=raw_forward))

    @property
    def searched(self) -> bool:
        """True once every gate is fixed (search finished)."""
        return all(bool(g.fixed) for g in self.gates().values())

    def fix_gates(self, snap_tol: Optional[float] = None,
                  divisor: Optional[int] = None,
                  snap_per_cost: bool = True) -> None:
        """End the search: freeze every gate's mask.

        Args:
            snap_tol: if given, the masks are first moved to within this
                relative distance of the budget's target (MACs or
                predicted latency) by flipping the channels whose gate
                weight is nearest the threshold, per unit of the budget
                unless ``snap_per_cost`` is False (:func:`snap_to_target`).
                Under a latency loss that may measure, the deployed model
                is then timed against the full one and the snap repeated
                with a corrected target until the measured ratio is within
                ``max(snap_tol, 3%)`` of the target's (at most 3 times).
            divisor: if given, every width is then rounded to a multiple
                of it (or the full width), staying as near the target as
                the rounding allows (:func:`round_to_divisor`).
            snap_per_cost: the snap flips the channels with the least
                distance from the threshold per unit of the budget they
                move (``per_cost`` of :func:`snap_to_target`; default);
                False: the least distance alone.
        """
        gates = list(self.gates().values())
        searched = {g: g.hard_mask() for g in gates}
        scores = {g: g.weight - g.threshold if snap_per_cost else g.weight
                  for g in gates}
        snap = dict(tol=snap_tol, divisor=divisor, per_cost=snap_per_cost)
        masks = self._snapped(searched, scores, self.budget_target, **snap)
        if (snap_tol is not None and self.budget is not self.counter
                and self.macs_loss.table.measure):
            masks = self.snap_to_measured(searched, scores, masks, **snap)
        if get_world_size() > 1:  # every rank fixes rank 0's masks
            shared = [[masks[g].cpu() for g in gates]]
            broadcast_object_list(shared, src=0)
            masks = dict(zip(gates, shared[0]))
        for g in gates:
            g.fix(masks[g])

    def _snapped(self, masks, scores, target: float, tol: Optional[float],
                 divisor: Optional[int], per_cost: bool = False):
        if tol is not None:
            masks = snap_to_target(self.budget, masks, scores, target, tol,
                                   per_cost)
        if divisor is not None:
            masks = round_to_divisor(self.budget, masks, scores, target,
                                     divisor)
        return masks

    def snap_to_measured(self, searched, scores, masks, tol: float,
                         divisor: Optional[int], per_cost: bool = False):
        """Snap again until the *measured* latency ratio (deployed / full
        deployed, timed in turns) is on the target's; records each try
        in ``latency_checks``.

        The measured ms are put in the tables' units (times predicted /
        measured full latency, which cancels the machine's drift since the
        tables were measured); the prediction's error at these widths is
        then taken off the snap's target.

        Args:
            searched: gate -> bool mask the snaps start from.
            scores: gate -> (C,) score (higher: kept first).
            masks: gate -> bool mask already snapped to the prediction.
            tol, divisor, per_cost: the snap's, as ``snap_tol``,
                ``divisor``, ``snap_per_cost`` of :meth:`fix_gates`.
        """
        goal = self.budget_target / self.budget_full
        target = self.budget_target
        self.latency_checks = []
        for attempt in range(MEASURED_SNAPS):
            full_ms, ms = self.deployed_latency(self.macs_loss.table, masks)
            widths = {g: int(m.sum()) for g, m in masks.items()}
            predicted = self.budget.cost_of(widths)
            self.latency_checks.append(dict(
                predicted_ms=predicted, measured_ms=ms,
                measured_full_ms=full_ms, measured_ratio=ms / full_ms,
                target_ratio=goal))
            if (abs(ms / full_ms / goal - 1) <= max(tol, 0.03)
                    or attempt == MEASURED_SNAPS - 1):
                break
            error = predicted - ms * self.budget_full / full_ms
            target = min(self.budget_full,
                         max(self.budget_min, self.budget_target + error))
            masks = self._snapped(searched, scores, target, tol, divisor,
                                  per_cost)
        return masks

    def subnet(self) -> dict:
        """Searched widths, JSON-ready, keyed by gate module path."""
        latency = {}
        if self.budget is not self.counter:
            table = self.macs_loss.table
            latency = dict(latency=dict(
                device=table.name, batch_size=table.batch_size,
                full_ms=self.budget_full, target_ms=self.budget_target,
                predicted_ms=self.budget.kept_cost(),
                measured_at_search_end=getattr(self, 'latency_checks', [])))
        return dict(
            input_shape=list(self.input_shape),
            searched=self.searched,
            macs=dict(full=self.macs_full, target=self.macs_target,
                      current=self.counter.kept_macs()),
            **latency,
            layers={
                name: dict(width=g.num_kept(), of=g.num_channels,
                           keep=g.hard_mask().nonzero().flatten().tolist())
                for name, g in self.gates().items()
            })

    def load_subnet(self, path: str) -> None:
        """Apply and fix the masks of a subnet JSON."""
        layers = read_subnet(path)['layers']
        gates = self.gates()
        if set(layers) != set(gates):
            raise PaSConfigError(
                f'subnet {path} does not match this model: missing '
                f'{sorted(set(gates) - set(layers))[:5]}, unknown '
                f'{sorted(set(layers) - set(gates))[:5]}')
        for name, g in gates.items():
            keep = _checked_keep(path, name, layers[name], g)
            mask = torch.zeros(g.num_channels, dtype=torch.bool)
            mask[keep] = True
            g.fixed_mask.copy_(mask)
            g.fixed.fill_(True)

    def macs_summary(self) -> str:
        """The budget now, its target and the full model's, one line."""
        b = self.budget
        summary = (f'{b.name} {b.format(b.kept_cost())} / target '
                   f'{b.format(self.budget_target)} (full '
                   f'{b.format(self.budget_full)})')
        if b is not self.counter:
            summary += (f', MACs {format_macs(self.counter.kept_macs())} '
                        f'(full {format_macs(self.macs_full)})')
        return summary

    def macs_losses(self) -> Dict[str, torch.Tensor]:
        """``macs_ratio`` always (and ``latency_ms``, predicted, under a
        latency loss); ``loss_macs`` or ``loss_latency`` while
        searching."""
        search = {} if self.macs_loss is None else dict(
            gradient=self.macs_loss.gradient,
            value_weighted=self.macs_loss.value_weighted)
        macs = self.counter.macs(**search)
        losses = dict(macs_ratio=macs.detach() / self.macs_full)
        cost = macs
        if self.budget is not self.counter:
            cost = self.budget.cost(**search)
            losses['latency_ms'] = cost.detach()
        if self.macs_loss is not None and not self.searched:
            key = 'loss_macs' if cost is macs else 'loss_latency'
            target = self.budget_target if self.annealed_target is None \
                else self.annealed_target
            losses[key] = self.macs_loss(cost, target, self.budget_full)
            if self.macs_loss.multiplier_lr:
                losses['budget_multiplier'] = self.macs_loss.multiplier.clone()
        return losses
