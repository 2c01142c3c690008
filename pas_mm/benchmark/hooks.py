"""Hooks of the benchmark: baseline pruning, history, gate probes."""
import json
import os.path as osp

import torch
import torch.distributed as torch_dist
from mmengine.dist import get_rank, get_world_size, is_distributed
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from ..hooks import PaSSearchHook
from ..hooks.pas_search_hook import log_latency_checks
from ..budget import MACsLoss
from .pruning import (SNAP_TOL, apply_masks, full_masks, make_masks,
                      method_scores, slimming_params, widths_of)


@HOOKS.register_module()
class PruneBaselineHook(Hook):
    """Runs a baseline's schedule on a PaS model; records the history.

    ``method='pas'`` leaves the gates to :class:`PaSSearchHook`. Any other
    method trains with all gates fixed open (no MACs loss) until
    ``prune_epoch``, then fixes the masks of ``make_masks(method)`` (under
    a latency budget also corrected against the measured latency, as PaS's
    are) and fine-tunes. ``slim`` adds ``slim_lambda * sign(gamma)`` to the gradient
    of every branch-BN gamma before ``prune_epoch`` (network slimming's L1
    sparsity).

    The history (``macs_ratio`` per ``interval`` iterations, val metrics
    per epoch) is saved in checkpoints, restored on resume, and written to
    ``work_dir/history.json`` with the masks' source.
    """

    priority = 'ABOVE_NORMAL'  # before PaSSearchHook in every stage

    def __init__(self,
                 method: str,
                 prune_epoch: int,
                 slim_lambda: float = 0.,
                 interval: int = 5,
                 history_file: str = 'history.json'):
        self.method = method
        self.prune_epoch = prune_epoch
        self.slim_lambda = slim_lambda
        self.interval = interval
        self.history_file = history_file
        self.history = dict(method=method, train=[], val=[], pruned=None)
        self._handles = []

    # phases -------------------------------------------------------------
    def before_train(self, runner) -> None:
        model = PaSSearchHook.pas_model(runner)
        if self.method == 'pas':
            return
        if runner.epoch >= self.prune_epoch:
            self._prune(runner)
            return
        if not model.searched:  # open and fixed: plain training
            apply_masks(model, full_masks(model))
        if self.method == 'slim' and self.slim_lambda > 0:
            lam = self.slim_lambda
            for p in slimming_params(model):
                self._handles.append(p.register_hook(
                    lambda g, p=p: g + lam * torch.sign(p.detach())))

    def before_train_epoch(self, runner) -> None:
        if self.method != 'pas' and runner.epoch == self.prune_epoch and \
                self.history['pruned'] is None:
            self._prune(runner)

    def _prune(self, runner) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        model = PaSSearchHook.pas_model(runner)
        masks = make_masks(model, self.method, model.budget_target)
        if self.method != 'full' and model.budget is not model.counter:
            masks = self._snap_to_measured(model, masks)
        apply_masks(model, masks)
        self.history['pruned'] = dict(
            epoch=runner.epoch, widths=widths_of(masks),
            macs_ratio=model.counter.kept_macs() / model.macs_full)
        runner.logger.info(
            f'{self.method}: masks fixed at epoch {runner.epoch}; '
            f'{model.macs_summary()}')
        log_latency_checks(runner, model)

    def _snap_to_measured(self, model, masks):
        """Under a latency budget: corrected against the deployed model's
        measured latency, as PaS's search end does (same tolerance)."""
        gates = model.gates()
        scores = method_scores(model, self.method)
        by_gate = {gates[n]: m for n, m in masks.items()}
        by_gate = model.snap_to_measured(
            by_gate, {gates[n]: s for n, s in scores.items()}, by_gate,
            SNAP_TOL, None)
        return {n: by_gate[g] for n, g in gates.items()}

    # history ------------------------------------------------------------
    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if self.every_n_train_iters(runner, self.interval) or batch_idx == 0:
            model = PaSSearchHook.pas_model(runner)
            n = len(runner.train_dataloader)
            self.history['train'].append(dict(
                iter=runner.iter + 1,
                epoch=runner.epoch + (batch_idx + 1) / n,
                macs_ratio=model.counter.kept_macs() / model.macs_full,
                loss=float(outputs['loss']) if outputs else None))

    def after_val_epoch(self, runner, metrics=None) -> None:
        if runner.train_loop is None or not metrics:
            return
        model = PaSSearchHook.pas_model(runner)
        self.history['val'].append(dict(
            epoch=runner.epoch, searched=model.searched,
            macs_ratio=model.counter.kept_macs() / model.macs_full,
            **{k: float(v) for k, v in metrics.items()}))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['bench_history'] = self.history

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        old = checkpoint.get('bench_history')
        if old is not None:
            self.history['train'] = list(old['train'])
            self.history['val'] = list(old['val'])

    def after_train(self, runner) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        if get_rank() == 0:
            with open(osp.join(runner.work_dir, self.history_file), 'w') as f:
                json.dump(self.history, f, indent=1)


@HOOKS.register_module()
class MACsSearchHook(Hook):
    """MACs-searched PaS compared at equal latency (latency study).

    The model is built with a ``LatencyLoss``; while searching, this hook
    swaps in a :class:`MACsLoss` at ``macs_target`` (ratio of the full
    MACs), so the gates learn the MACs-driven widths. When the search ends
    (before :class:`PaSSearchHook`, which then snaps the masks) the latency
    budget is put back: the masks land on the same latency target as the
    latency-searched model's.
    """

    priority = 'ABOVE_NORMAL'  # before PaSSearchHook ends the search

    def __init__(self, macs_target: float, loss_weight: float,
                 search_epochs: int):
        self.macs_loss = MACsLoss(macs_target, loss_weight)
        self.search_epochs = search_epochs
        self._latency = None

    def before_train(self, runner) -> None:
        model = PaSSearchHook.pas_model(runner)
        if model.searched or runner.epoch >= self.search_epochs:
            return
        self._latency = (model.macs_loss, model.budget, model.budget_target,
                         model.budget_full, model.budget_min)
        model.macs_loss, model.budget = self.macs_loss, model.counter
        model.budget_full, model.budget_min = model.macs_full, model.macs_min
        model.budget_target = self.macs_loss.resolve_target(
            model.macs_full, model.macs_min)

    def before_train_epoch(self, runner) -> None:
        if self._latency is not None and runner.epoch >= self.search_epochs:
            model = PaSSearchHook.pas_model(runner)
            (model.macs_loss, model.budget, model.budget_target,
             model.budget_full, model.budget_min) = self._latency
            self._latency = None


def gate_state(model) -> dict:
    """Gate weights, masks and kept MACs of a PaS model (plain lists)."""
    return dict(
        macs=model.counter.kept_macs(),
        gates={n: dict(weight=g.weight.detach().tolist(),
                       mask=g.hard_mask().int().tolist(),
                       fixed=bool(g.fixed))
               for n, g in model.gates().items()})


@HOOKS.register_module()
class GateProbeHook(Hook):
    """Records gate state at the start of training, every ``interval``
    iterations and at the end, on every rank; under DDP it all-gathers the
    states and records whether all ranks agree exactly.

    Writes ``work_dir/<out_file>`` (rank 0) with one entry per probe point:
    ``{'where', 'iter', 'epoch', 'ranks_equal', 'state'}``.
    """

    priority = 'LOWEST'

    def __init__(self, interval: int = 1, out_file: str = 'gate_probe.json'):
        self.interval = interval
        self.out_file = out_file
        self.records = []

    def _probe(self, runner, where: str) -> None:
        state = gate_state(PaSSearchHook.pas_model(runner))
        equal = None
        if is_distributed():
            states = [None] * get_world_size()
            torch_dist.all_gather_object(states, state)
            equal = all(s == states[0] for s in states)
        self.records.append(dict(where=where, iter=runner.iter,
                                 epoch=runner.epoch,
                                 world_size=get_world_size(),
                                 ranks_equal=equal, state=state))

    def before_train(self, runner) -> None:
        self._probe(runner, 'before_train')

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if self.every_n_train_iters(runner, self.interval):
            self._probe(runner, 'after_iter')

    def after_train(self, runner) -> None:
        self._probe(runner, 'after_train')
        if get_rank() == 0:
            with open(osp.join(runner.work_dir, self.out_file), 'w') as f:
                json.dump(self.records, f)
