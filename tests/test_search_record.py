"""The search record: target reached, flips after it, what the snap did."""
import json
import logging
import os.path as osp
import re

import pytest
import torch
from conftest import tiny_repvgg_classifier
from mmengine.registry import MODELS

from pas_mm import PaSSearchHook
from pas_mm.hooks.search_record import SearchRecord
from pas_mm.budget import snap_to_target


def tiny_pas(target=0.5):
    return MODELS.build(dict(
        type='PaSModel', architecture=tiny_repvgg_classifier(),
        input_shape=(3, 32, 32),
        macs_loss=dict(type='MACsLoss', target=target))).eval()


def set_masks(model, masks):
    """Gate weights 1 (kept) / 0 (pruned): the search's masks."""
    for g in model.gates().values():
        g.weight.data = masks[g].float()


def on_target_masks(model):
    gates = list(model.gates().values())
    return snap_to_target(
        model.counter, {g: torch.ones(g.num_channels, dtype=torch.bool)
                        for g in gates},
        {g: torch.linspace(1, 0, g.num_channels) for g in gates},
        model.budget_target, 0.005)


def test_record_counts_flips_after_the_target_and_the_snap():
    model = tiny_pas()
    record = SearchRecord()
    record.start(model, 0)
    assert record.trace == [[0, 1.0] + [g.num_channels for g in
                                        model.gates().values()]]
    masks = on_target_masks(model)  # iteration 1: on target
    dropped = sum(int((~m).sum()) for m in masks.values())
    set_masks(model, masks)
    record.update(model, 1)
    assert record.first_within == 1 and record.flips == dropped
    wide = list(model.gates().values())[-3]  # iteration 2: 3 more off
    masks[wide][masks[wide].nonzero()[:3, 0]] = False
    set_masks(model, masks)
    record.update(model, 2)
    record.update(model, 3)  # nothing moves: no row, no flips
    assert record.flips == dropped + 3 and record.flips_after_target == 3
    assert [r[0] for r in record.trace] == [0, 1, 2]
    searched = {n: g.hard_mask() for n, g in model.gates().items()}
    ratio = model.counter.kept_macs() / model.macs_full
    model.fix_gates(snap_tol=0.001)
    summary = record.end(model, searched, ratio)
    snap = summary['snap']
    assert snap['restored'] == sum(
        int((~searched[n] & g.hard_mask()).sum())
        for n, g in model.gates().items()) > 0
    assert snap['dropped'] == 0
    fixed = model.counter.kept_macs() / model.macs_full
    assert snap['moved'] == pytest.approx(fixed - ratio) and not snap['loud']
    assert abs(fixed / 0.5 - 1) <= 0.001
    assert summary['search_iters'] == 3
    assert record.trace[-1][2:] == [g.num_kept() for g in
                                    model.gates().values()]
    again = SearchRecord()  # survives a checkpoint
    again.load_state_dict(json.loads(json.dumps(record.state_dict())))
    assert again.to_dict() == record.to_dict()


class FakeRunner:
    def __init__(self, model, work_dir):
        self.model, self.work_dir = model, str(work_dir)
        self.iter, self.epoch, self.experiment_name = 0, 0, 'test'
        self.logger = logging.getLogger('pas_record_test')


def test_hook_warns_when_the_snap_makes_the_cut(tmp_path, caplog):
    """A search that never came near its target (here: never moved) leaves
    the cut to the snap: a warning, and the record says so."""
    model = tiny_pas(target=0.3)
    hook = PaSSearchHook(search_epochs=1, interval=1, target_anneal=0)
    runner = FakeRunner(model, tmp_path)
    hook.before_train(runner)
    for i in range(4):
        runner.iter = i
        hook.after_train_iter(runner, i)
    runner.epoch = 1
    with caplog.at_level(logging.INFO, logger='pas_record_test'):
        hook.before_train_epoch(runner)  # the search ends, masks snapped
    record = json.load(open(osp.join(tmp_path, 'pas_search.json')))
    assert record['first_within_tol_iter'] is None
    assert record['search_iters'] == 4 and record['flips'] == 0
    snap = record['snap']
    assert snap['searched_ratio'] == 1.0 and snap['loud']
    assert snap['moved'] == pytest.approx(0.7, abs=0.01)
    assert snap['dropped'] == sum(g.num_channels - g.num_kept()
                                  for g in model.gates().values())
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and re.search(
        r'snap moved (69|70)\.\d% of the full MACs', warnings[0].message)
    assert 'never within 2% of the target in 4 iters' in caplog.text
    assert osp.getsize(osp.join(tmp_path, 'pas_search.png')) > 1000


def test_target_anneal_moves_the_loss_target_linearly():
    """target_anneal=0.5 over a 10-iteration search: the loss pulls toward
    100% -> 30% over iterations 1-5, then toward the target itself."""
    model = tiny_pas(target=0.3)
    hook = PaSSearchHook(search_iters=10, target_anneal=0.5)
    runner = FakeRunner(model, '.')
    pulled = []
    for i in range(7):
        runner.iter = i
        hook.before_train_iter(runner, i)
        loss = float(model.macs_losses()['loss_macs'])  # all kept: ratio 1
        pulled.append(1 - loss ** 0.5)  # loss_weight 1
    assert pulled == pytest.approx([0.86, 0.72, 0.58, 0.44, 0.3, 0.3, 0.3])
    assert model.annealed_target is None
    with pytest.raises(ValueError, match=r'target_anneal=1.5 must be in'):
        PaSSearchHook(target_anneal=1.5)
