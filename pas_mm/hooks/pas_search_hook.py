"""PaSSearchHook: ends the search, logs MACs and widths, writes the subnet."""
import json
import os.path as osp
from typing import Optional

from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from ..models.pas_search_mixin import PaSSearchMixin
from .search_record import LOUD_SNAP, TARGET_TOL, SearchRecord, \
    plot_convergence


def log_latency_checks(runner, model: PaSSearchMixin) -> None:
    """One log line per deployed-latency check of the search end."""
    for i, c in enumerate(getattr(model, 'latency_checks', [])):
        runner.logger.info(
            f"PaS: deployed latency check {i + 1}: predicted "
            f"{c['predicted_ms']:.3f} ms, measured {c['measured_ms']:.3f} "
            f"ms = {c['measured_ratio']:.1%} of the full model "
            f"({c['measured_full_ms']:.3f} ms), target "
            f"{c['target_ratio']:.1%}")


@HOOKS.register_module()
class PaSSearchHook(Hook):
    """Runs the PaS search phase of a training run.

    Searches (gates and MACs loss active) until ``search_epochs`` epochs or
    ``search_iters`` iterations, then fixes the masks: the rest of the run
    fine-tunes the pruned network. Every ``interval`` iterations it logs the
    MACs, the target and the kept channels per gated layer while searching
    (``macs_ratio`` is in every training log line). At the end of
    the search and of training it writes the subnet JSON (widths and kept
    channel indices keyed by module path) to ``work_dir``.

    Every search is recorded (:class:`SearchRecord`): the first iteration
    within ``target_tol`` of the target, the gate flips after it, the
    channels the end-of-search snap flipped (a snap moving more than
    ``loud_snap`` of the full budget is logged as a warning) and the kept
    channels per gated layer vs iteration. The record is logged when the
    search ends and written to ``work_dir/<record_file>`` (JSON) with a
    plot of it (same name, ``.png``); it is kept in checkpoints.

    Args:
        search_epochs (int, optional): epochs of search (0: start fixed).
        search_iters (int, optional): iterations of search, for
            iteration-based loops. Neither: search the whole run.
        interval (int): logging interval in iterations.
        snap_tol (float, optional): when the search ends, flip the channels
            whose gate weight is nearest the threshold (per MAC, see
            ``snap_per_cost``) until the MACs (or
            the predicted latency, under a ``LatencyLoss``) are within
            this relative distance of the target (default 1%); None fixes
            the masks as the search left them. Under a latency loss the
            deployed model is then timed against the full one and the snap
            corrected until the measured ratio is on target (logged).
        snap_per_cost (bool): the snap flips the channels whose gate is
            nearest the threshold per MAC (or ms) the flip moves, not the
            nearest ones: when the search ends far from the target it then
            takes a few expensive channels rather than many cheap ones
            (default True: val picked it on MNIST, where the order by
            gate value cut a stage to 2 channels in 4 of 10 runs; level on
            Animal-MNIST. False ranks by gate value alone, as the
            benchmark's ``pas`` / ``pas-fast`` rows were made).
        divisor (int, optional): then round every kept width to a multiple
            of it (e.g. 8 or 16, for hardware that prefers such widths; a
            layer narrower than that keeps its full width), choosing per
            layer to round down or up so the MACs stay as near the target
            as the rounding allows.
        subnet_file (str): file name of the subnet JSON in ``work_dir``.
        target_tol (float): relative distance to the target that counts
            as reached in the record.
        loud_snap (float): snap moves above this fraction of the full
            budget are warnings.
        record_file (str): file name of the search record JSON.
        target_anneal (float): fraction of the search (in iterations) over
            which the loss's target falls linearly from the full budget to
            the target (0: the target from the first iteration, as in the
            paper). Not in the official code; default 0.5, val's pick with
            the budget loss's defaults (the gates' Fisher importance is
            measured before the cuts it weighs, and the weights adapt as
            the widths fall).
    """

    priority = 'NORMAL'

    def __init__(self,
                 search_epochs: Optional[int] = None,
                 search_iters: Optional[int] = None,
                 interval: int = 50,
                 snap_tol: Optional[float] = 0.01,
                 snap_per_cost: bool = True,
                 divisor: Optional[int] = None,
                 subnet_file: str = 'pas_subnet.json',
                 target_tol: float = TARGET_TOL,
                 loud_snap: float = LOUD_SNAP,
                 record_file: str = 'pas_search.json',
                 target_anneal: float = 0.5):
        if search_epochs is not None and search_iters is not None:
            raise ValueError('PaSSearchHook: give search_epochs or '
                             'search_iters, not both')
        for name, v in (('search_epochs', search_epochs),
                        ('search_iters', search_iters)):
            if v is not None and v < 0:
                raise ValueError(f'PaSSearchHook: {name}={v} must be >= 0')
        self.search_epochs = search_epochs
        self.search_iters = search_iters
        if snap_tol is not None and not 0 <= snap_tol < 1:
            raise ValueError(f'PaSSearchHook: snap_tol={snap_tol} must be '
                             'in [0, 1) or None')
        if divisor is not None and not (isinstance(divisor, int)
                                        and divisor >= 1):
            raise ValueError(f'PaSSearchHook: divisor={divisor!r} must be an '
                             'integer >= 1 or None')
        if not 0 <= target_anneal <= 1:
            raise ValueError(f'PaSSearchHook: target_anneal={target_anneal} '
                             'must be in [0, 1] (a fraction of the search)')
        if not isinstance(snap_per_cost, bool):
            raise ValueError('PaSSearchHook: snap_per_cost='
                             f'{snap_per_cost!r} must be True or False')
        self.snap_per_cost = snap_per_cost
        self.target_anneal = target_anneal
        self.interval = interval
        self.snap_tol = snap_tol
        self.divisor = divisor
        self.subnet_file = subnet_file
        self.record = SearchRecord(target_tol, loud_snap)
        self.record_file = record_file

    @staticmethod
    def pas_model(runner) -> PaSSearchMixin:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if not isinstance(model, PaSSearchMixin):
            raise TypeError(
                'PaSSearchHook needs the model to be wrapped for search: '
                "model = dict(type='PaSModel', architecture=..., "
                "macs_loss=...) (or type='PaSCycleGAN'), got "
                f'{type(model).__name__}')
        return model

    def before_train(self, runner) -> None:
        model = self.pas_model(runner)
        state = 'fixed (fine-tune)' if model.searched else 'searching'
        runner.logger.info(
            f'PaS: {len(model.gates())} gated layers, {state}; '
            f'{model.macs_summary()}, reachable minimum '
            f'{model.budget_min / model.budget_full:.1%} of full')
        if not model.searched:
            self.record.start(model, runner.iter)
        if not model.searched and self.target_anneal:
            runner.logger.info(
                f'PaS: the loss target falls from the full '
                f'{model.budget.name} to the target over the first '
                f'{self._anneal_iters(runner)} search iterations')

    def _search_length(self, runner) -> int:
        """Iterations of the whole search."""
        if self.search_iters is not None:
            return self.search_iters
        if self.search_epochs is not None:
            return self.search_epochs * len(runner.train_dataloader)
        return runner.max_iters

    def _anneal_iters(self, runner) -> int:
        return max(round(self.target_anneal * self._search_length(runner)),
                   1)

    def _anneal(self, runner, model: PaSSearchMixin) -> None:
        """Set the loss's target for iteration ``runner.iter``."""
        done = (runner.iter + 1) / self._anneal_iters(runner)
        model.annealed_target = None if done >= 1 else (
            model.budget_full + done *
            (model.budget_target - model.budget_full))

    def before_train_epoch(self, runner) -> None:
        if self.search_epochs is not None and \
                runner.epoch >= self.search_epochs:
            self._end_search(runner)

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if self.search_iters is not None and runner.iter >= self.search_iters:
            self._end_search(runner)
        if self.target_anneal:
            model = self.pas_model(runner)
            if not model.searched:
                self._anneal(runner, model)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        model = self.pas_model(runner)
        if not model.searched:
            self.record.update(model, runner.iter + 1)
        if not model.searched and self.every_n_train_iters(
                runner, self.interval):
            kept = ', '.join(
                f'{name.replace(".gate", "")} {g.num_kept()}/{g.num_channels}'
                for name, g in model.gates().items())
            runner.logger.info(f'PaS: {model.macs_summary()}; kept: {kept}')

    def after_train(self, runner) -> None:
        self._write_subnet(runner)

    def _end_search(self, runner) -> None:
        model = self.pas_model(runner)
        if model.searched:
            return
        model.annealed_target = None
        searched = model.macs_summary()
        masks = {n: g.hard_mask() for n, g in model.gates().items()}
        ratio = float(model.budget.kept_cost() / model.budget_full)
        model.fix_gates(self.snap_tol, self.divisor, self.snap_per_cost)
        snapped = '' if self.snap_tol is None else \
            f'searched {searched}; snapped to within {self.snap_tol:.1%}: '
        if self.divisor is not None:
            snapped += f'widths rounded to multiples of {self.divisor}: '
        runner.logger.info(f'PaS: search finished at epoch {runner.epoch}, '
                           f'iter {runner.iter}; masks fixed, {snapped}'
                           f'{model.macs_summary()}')
        log_latency_checks(runner, model)
        self._write_record(runner, model, masks, ratio)
        self._write_subnet(runner)

    def _write_record(self, runner, model, masks, ratio) -> None:
        self.record.end(model, masks, ratio)
        runner.logger.info(self.record.message())
        snap = self.record.snap
        if snap['loud']:
            runner.logger.warning(
                f"PaS: the end-of-search snap moved {snap['moved']:.1%} of "
                f"the full {model.budget.name} (search ended at "
                f"{snap['searched_ratio']:.1%}, target "
                f"{self.record.target_ratio:.1%}): the search did not reach "
                'its target and the snap chose those channels '
                + ('by gate value per MAC' if self.snap_per_cost else
                   'by gate value alone (snap_per_cost=True weighs their '
                   'cost)') + '; search longer or raise the loss weight')
        if get_rank() != 0:
            return
        path = osp.join(runner.work_dir, self.record_file)
        record = self.record.to_dict()
        with open(path, 'w') as f:
            json.dump(record, f)
        try:
            plot_convergence(record, osp.splitext(path)[0] + '.png',
                             f'PaS search, {runner.experiment_name}')
        except ImportError:  # matplotlib is optional
            pass
        runner.logger.info(f'PaS: search record written to {path}')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['pas_search_record'] = self.record.state_dict()
        model = self.pas_model(runner)
        checkpoint['pas_search_state'] = dict(
            multiplier=None if model.macs_loss is None else
            float(model.macs_loss.multiplier),
            smoothed=None if model.macs_loss is None else
            float(model.macs_loss.smoothed),
            importance={n: g.importance.clone()
                        for n, g in model.gates().items()})

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if 'pas_search_record' in checkpoint:
            self.record.load_state_dict(checkpoint['pas_search_record'])
        state = checkpoint.get('pas_search_state')
        if state is None:
            return
        model = self.pas_model(runner)
        if model.macs_loss is not None and state['multiplier'] is not None:
            model.macs_loss.multiplier.fill_(state['multiplier'])
            model.macs_loss.smoothed.fill_(state.get('smoothed', 0.0))
        for name, g in model.gates().items():
            if name in state['importance']:
                g.importance.copy_(state['importance'][name])

    def _write_subnet(self, runner) -> None:
        path = osp.join(runner.work_dir, self.subnet_file)
        with open(path, 'w') as f:
            json.dump(self.pas_model(runner).subnet(), f, indent=1)
        runner.logger.info(f'PaS: subnet written to {path}')
