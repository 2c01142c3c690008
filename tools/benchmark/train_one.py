"""One benchmark run: train (pre-train, search or baseline), deploy, measure.

    python tools/benchmark/train_one.py --work-dir DIR --method pas \
        --target 0.5 --seed 0 --data-root data/animals \
        [--pretrained DIR/pretrained.pth] [--epochs N] [--search-epochs S]

Methods:

* ``pretrain``: the unpruned network from random init for ``--epochs``;
  writes ``DIR/pretrained.pth`` (the wrapped classifier's weights, no
  gates, as a model-zoo checkpoint would be) that the other runs start from.
* ``pas``: PaS from ``--pretrained``: ``--search-epochs`` of search, then
  the masks are fixed (snapped to within 1% of the target) and the rest of
  ``--epochs`` fine-tunes.
* ``pas-fast``: the same under the shipped CPU demo recipe (cosine from
  the stock LR, gates at lr x10 without weight decay); ``uniform-fast``
  and ``tp-magnitude-res-fast`` are those baselines under the same recipe
  (its cosine from the stock LR), so the fast rows compare like with like.
* ``pas-cost``, ``pas-fast-cost``: ``pas``, ``pas-fast`` with the
  end-of-search snap ranking channels by gate margin per MAC
  (``PaSSearchHook(snap_per_cost=True)``; the others rank by gate value).
  These rows search with the paper's quadratic MACs loss alone
  (``common.QUADRATIC_SEARCH``, no target annealing).
* ``pas-vc``, ``pas-fast-vc``: ``pas``, ``pas-fast`` with the shipped
  search defaults (issue 35: value-weighted budget gradient, rising
  multiplier, per-layer floor, target annealed, snap per MAC);
  ``pas-fast-vc1``: ``pas-fast-vc`` as first shipped (the multiplier
  restarted at every step across the target, ``crossing_smoothing=1``).
* ``widths-scratch`` (with ``--widths-from RUN``): RUN's deployed widths
  trained from random init like ``scratch`` (architecture quality apart
  from the inherited weights; its row is ``widths-scratch-<RUN's method>``).
* ``uniform``, ``l1``: prune ``--pretrained`` at epoch 0, fine-tune.
* ``slim``: BN-gamma L1 sparsity for ``--search-epochs`` from
  ``--pretrained``, then prune and fine-tune (same total epochs).
* ``full``: ``--pretrained`` trained on unpruned (the reference).
* ``pas-macs`` (with ``--budget latency``): PaS searched with the MACs
  loss at ``--target`` of the full MACs, its masks then snapped onto the
  latency target (MACs PaS at equal latency).
* ``scratch``: the uniformly narrower network from random init.
* ``unpruned-scratch``: the unpruned network from random init (with
  ``scratch`` at the lowest target: the capacity check).
* ``tp-<magnitude|taylor|bnscale>-<res|fused>``: Torch-Pruning's global
  pruner on the training (residual) or the fused plain form of
  ``--pretrained``, then fine-tuned.

``--budget latency`` makes ``--target`` a ratio of the full deployed
model's measured CPU latency at ``--latency-batch`` (one thread, tables in
``--latency-table``): PaS searches with a ``LatencyLoss`` and every
baseline prunes to the same predicted latency.

Runs from random init anneal the config's (stock) LR by a cosine; runs
from ``--pretrained`` (every method but the ``-fast`` ones) get the official PaS
schedule scaled to it (:mod:`pas_mm.official_schedule`: ``--search-epochs``
at 0.1x, the rest at 0.128x with two x0.1 steps), whatever their own
phases, so every method trains the same epochs at the same LRs.

A final run is deployed (fused, pruned) and checked against the trained
model; DIR/result.json gets the deployed MACs, widths and the deployed
model's top-1 on val and test, the val top-1 after every epoch
(``val_curve``; PaS: the search record's summary under ``search``),
DIR/deploy.pth the deploy config + weights.
"""
import argparse
import copy
import glob
import json
import os
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from common import QUADRATIC_SEARCH, build_cfg  # noqa: E402

import torch  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from pas_mm.benchmark import macs_of_widths  # noqa: E402
from pas_mm.budget.alternation import alternation  # noqa: E402
from pas_mm.benchmark.torch_pruning_peer import (  # noqa: E402
    FORMS, IMPORTANCES, block_widths, pruned_state, tp_prune, unpruned_form)
from pas_mm.deploy import (build_pas_model, count_macs,  # noqa: E402
                           export_verified)
from pas_mm.deploy.pipeline import latency_report  # noqa: E402
from pas_mm.budget.latency_table import DEFAULT_TABLE_FILE  # noqa: E402

BASE_METHODS = ('pretrain', 'pas', 'pas-fast', 'pas-cost', 'pas-fast-cost',
                'pas-vc', 'pas-fast-vc', 'pas-fast-vc1', 'pas-macs', 'uniform',
                'l1', 'slim', 'full', 'scratch', 'unpruned-scratch',
                'widths-scratch')
FROM_SCRATCH = ('pretrain', 'scratch', 'unpruned-scratch', 'widths-scratch')
COST_SNAP = ('pas-cost', 'pas-fast-cost')  # snap_per_cost=True
NEW_SEARCH = ('pas-vc', 'pas-fast-vc', 'pas-fast-vc1')  # value per cost
SEARCHED = ('pas', 'pas-fast', 'pas-macs') + COST_SNAP + NEW_SEARCH
TP_METHODS = tuple(f'tp-{i}-{f}' for i in IMPORTANCES for f in FORMS
                   if not (i == 'bnscale' and f == 'fused'))
FAST_METHODS = ('uniform-fast', 'tp-magnitude-res-fast')
METHODS = BASE_METHODS + TP_METHODS + FAST_METHODS
FUSED_LR_MULT = 0.1  # at 1x the BN-free fused network fell to chance on val


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--work-dir', required=True)
    p.add_argument('--data-root', default='data/animals')
    p.add_argument('--method', default='pas', choices=METHODS)
    p.add_argument('--target', type=float, default=0.5)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--epochs', type=int, default=8,
                   help='epochs of this run (after pre-training)')
    p.add_argument('--search-epochs', type=int, default=3,
                   help='PaS search / slimming sparsity epochs')
    p.add_argument('--slim-lambda', type=float, default=5e-3)
    p.add_argument('--train-indices', type=int)
    p.add_argument('--val-indices', type=int)
    p.add_argument('--pretrained')
    p.add_argument('--budget', choices=('macs', 'latency'), default='macs')
    p.add_argument('--latency-batch', type=int, default=1)
    p.add_argument('--latency-table', default=DEFAULT_TABLE_FILE)
    p.add_argument('--config', help='config to start from (default: the '
                   "data folder's, tools/benchmark/common.py::base_config)")
    p.add_argument('--gate-lr-mult', type=float,
                   help="recipe study: the gates' lr_mult (schedule's if "
                   'unset)')
    p.add_argument('--gate-decay-mult', type=float,
                   help="recipe study: the gates' decay_mult (schedule's if "
                   'unset)')
    p.add_argument('--loss-weight', type=float,
                   help="recipe study: the MACs loss weight (config's if "
                   'unset)')
    p.add_argument('--target-anneal', type=float,
                   help='recipe study: fraction of the search over which '
                   "the loss target falls from 100%% to --target "
                   "(PaSSearchHook's target_anneal; the first tables' PaS "
                   'rows: 0, pas-vc rows: the default)')
    p.add_argument('--multiplier-lr', type=float,
                   help="recipe study: MACsLoss's multiplier_lr")
    p.add_argument('--gradient', choices=('full', 'own'),
                   help="recipe study: MACsLoss's gradient")
    p.add_argument('--value-weighted', type=int, choices=(0, 1),
                   help="recipe study: MACsLoss's value_weighted")
    p.add_argument('--floor', type=float,
                   help="recipe study: MACsLoss's floor")
    p.add_argument('--tol', type=float,
                   help="recipe study: MACsLoss's tol")
    p.add_argument('--widths-from',
                   help='widths-scratch: a finished run whose deployed '
                   'widths (result.json) are trained from random init')
    p.add_argument('--snap-per-cost', action='store_true',
                   help='recipe study: the end-of-search snap ranks channels '
                   "by gate margin per MAC (PaSSearchHook's snap_per_cost)")
    args = p.parse_args(argv)
    if args.target_anneal is not None and not 0 <= args.target_anneal <= 1:
        p.error(f'--target-anneal {args.target_anneal} must be in [0, 1]')
    if not 0 < args.target <= 1:
        p.error(f'--target {args.target} must be in (0, 1]')
    if args.method == 'pas-macs' and args.budget != 'latency':
        p.error('--method pas-macs needs --budget latency')
    if (args.method == 'widths-scratch') != bool(args.widths_from):
        p.error('--widths-from goes with --method widths-scratch (and it '
                'needs one)')
    needs = args.method not in FROM_SCRATCH
    if needs and not args.pretrained:
        p.error(f'--method {args.method} needs --pretrained')
    return args


@torch.no_grad()
def top1(model, dataloader) -> float:
    """Top-1 (%) of a plain mmpretrain classifier on a dataloader."""
    model.eval()
    correct = total = 0
    for data in dataloader:
        for s in model.val_step(data):
            correct += int(s.pred_label.item() == s.gt_label.item())
            total += 1
    return 100.0 * correct / max(total, 1)


def val_curve(work_dir: str) -> list:
    """Val top-1 (%) after every epoch, from the mmengine scalar logs of
    ``work_dir`` (a resumed run's later log wins for its epochs)."""
    by_step = {}
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                          'scalars.json'))):
        for line in open(path):
            row = json.loads(line)
            if 'accuracy/top1' in row:
                by_step[row['step']] = row['accuracy/top1']
    return [round(by_step[k], 2) for k in sorted(by_step)]


def run_cfg(args):
    """The run's config (methods other than PaS run as PruneBaselineHook)."""
    fast = '-fast' in args.method
    method = args.method[:-len('-fast')] if args.method in FAST_METHODS \
        else args.method
    search = args.search_epochs if method in SEARCHED + ('slim', ) else 0
    hook_method = {'pretrain': 'full', 'scratch': 'uniform',
                   'widths-scratch': 'full',
                   'unpruned-scratch': 'full'}.get(
        method, 'pas' if method in SEARCHED else
        'full' if method.startswith('tp-') else method)
    schedule = 'cosine' if method in FROM_SCRATCH else \
        'fast' if fast else 'official'
    cfg = build_cfg(
        args.data_root, args.work_dir, method=hook_method,
        target=args.target, seed=args.seed, search_epochs=search,
        finetune_epochs=args.epochs - search,
        slim_lambda=args.slim_lambda if method == 'slim' else 0.,
        train_indices=args.train_indices,
        val_indices=args.val_indices,
        load_from=None if method in FROM_SCRATCH else args.pretrained,
        schedule=schedule, config=args.config,
        lr_phases=(args.search_epochs, args.epochs - args.search_epochs))
    if args.loss_weight is not None:
        cfg.model.macs_loss.loss_weight = args.loss_weight
    legacy = method in SEARCHED and method not in NEW_SEARCH
    if legacy:  # the search as the first tables ran it
        cfg.model.macs_loss.update(QUADRATIC_SEARCH)
    if method == 'pas-fast-vc1':
        cfg.model.macs_loss.crossing_smoothing = 1.0
    for key in QUADRATIC_SEARCH:
        if getattr(args, key) is not None:
            cfg.model.macs_loss[key] = type(QUADRATIC_SEARCH[key])(
                getattr(args, key))
    if method == 'widths-scratch':
        set_widths(cfg, json.load(open(osp.join(args.widths_from,
                                                'result.json')))['widths'])
    if args.budget == 'latency':
        weight = cfg.model.macs_loss.loss_weight
        cfg.model.macs_loss = dict(
            type='LatencyLoss', target=args.target, loss_weight=weight,
            device='cpu', batch_size=args.latency_batch, threads=1,
            table_file=args.latency_table)
        if method == 'pas-macs':
            cfg.custom_hooks.append(dict(
                type='MACsSearchHook', macs_target=args.target,
                loss_weight=weight, search_epochs=search))
    for hook in cfg.custom_hooks:
        if hook.type == 'PaSSearchHook' and method in SEARCHED:
            if args.target_anneal is not None or legacy:
                hook.target_anneal = args.target_anneal or 0.0
            if legacy or args.snap_per_cost:  # else the hook's default
                hook.snap_per_cost = (args.snap_per_cost
                                      or args.method in COST_SNAP)
    gate = cfg.optim_wrapper.paramwise_cfg.custom_keys['.gate']
    if args.gate_lr_mult is not None:
        gate.lr_mult = args.gate_lr_mult
    if args.gate_decay_mult is not None:
        gate.decay_mult = args.gate_decay_mult
    return cfg


def set_widths(cfg, widths) -> None:
    """Point ``cfg`` at the gated training form at ``widths``, every
    channel open and nothing searched (Torch-Pruning's residual form and
    ``widths-scratch``)."""
    cfg.model.backbone.widths = widths
    cfg.model.backbone.gate_cfg = dict(min_keep=1)
    cfg.model.architecture.head.in_channels = widths[-1]
    # nothing is searched: the target's ratio, now of the narrower net,
    # can sit below its minimum MACs (MNIST at 10%)
    cfg.model.macs_loss.target = 1.0


def loss_batches(cfg, classifier, n: int = 4):
    """``n`` training batches, normalized, for Taylor importance."""
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    batches = []
    for data in loader:
        data = classifier.data_preprocessor(data, False)
        labels = torch.cat([s.gt_label for s in data['data_samples']])
        batches.append((data['inputs'], labels))
        if len(batches) == n:
            break
    return batches


def prepare_tp(cfg, args, model) -> dict:
    """Prune ``model`` (pre-trained PaSModel) with Torch-Pruning; point
    ``cfg`` at the pruned network and its weights."""
    _, importance, form = args.method.split('-')[:3]
    classifier = unpruned_form(model, form)
    target = args.target * model.macs_full
    start = time.perf_counter()
    pruned, ratio = tp_prune(
        classifier, importance, target,
        lambda w: macs_of_widths(model, dict(zip(model.gates(), w))),
        model.input_shape,
        loss_batches(cfg, classifier) if importance == 'taylor' else None)
    widths = block_widths(pruned)
    path = osp.join(args.work_dir, 'tp_pruned.pth')
    torch.save(dict(state_dict=pruned_state(pruned)), path)
    cfg.load_from = path
    if form == 'res':  # gated training form at the pruned widths, all open
        set_widths(cfg, widths)
    else:  # plain fused classifier: no gates, no PaS hooks
        arch = copy.deepcopy(model.architecture_cfg)
        arch['backbone'] = dict(arch['backbone'], widths=widths,
                                deploy=True, gate_cfg=None)
        arch['head'] = dict(arch['head'], in_channels=widths[-1])
        cfg.model = arch
        cfg.input_shape = model.input_shape
        cfg.custom_hooks = []
        # a plain network without BN diverges at the BN networks' LR
        cfg.optim_wrapper.optimizer.lr *= FUSED_LR_MULT
    return dict(tp_ratio=ratio, tp_seconds=time.perf_counter() - start,
                macs_full=model.macs_full, macs_target=target,
                full_widths=[g.num_channels for g in model.gates().values()])


def measure(runner, args, info: dict) -> dict:
    """Deploy (or take the plain model as deployed) and evaluate it."""
    model = runner.model
    model.eval()
    if hasattr(model, 'gates'):
        arch_cfg, state, deployed, diffs = export_verified(model)
        info.setdefault('macs_full', model.macs_full)
        info.setdefault('macs_target', model.macs_target)
        info.setdefault('full_widths', [g.num_channels
                                        for g in model.gates().values()])
        info.update(max_abs_diff=diffs['max_abs_diff'],
                    macs_kept=model.counter.kept_macs())
        if model.budget is not model.counter:
            info['latency'] = latency_report(model)
        input_shape = model.input_shape
    else:
        arch_cfg, state, deployed = runner.cfg.model.to_dict(), \
            model.state_dict(), model
        info['max_abs_diff'] = 0.0
        input_shape = tuple(runner.cfg.input_shape)
    torch.save(dict(cfg=arch_cfg, state_dict=state,
                    input_shape=list(input_shape)),
               osp.join(args.work_dir, 'deploy.pth'))
    test_loader = runner.build_dataloader(runner.cfg.test_dataloader)
    info.update(
        macs_deployed=count_macs(deployed, input_shape),
        widths=arch_cfg['backbone']['widths'],
        acc_val=top1(deployed, runner.val_loop.dataloader),
        acc_test=top1(deployed, test_loader))
    if 'full_widths' in info:
        info['alternation'] = alternation(info['widths'], info['full_widths'])
    return info


def run(args) -> dict:
    os.makedirs(args.work_dir, exist_ok=True)
    cfg = run_cfg(args)
    info = {}
    if args.method.startswith('tp-'):
        model = build_pas_model(cfg)
        state = torch.load(args.pretrained, map_location='cpu')
        missing = model.load_state_dict(state['state_dict'], strict=False)
        if missing.unexpected_keys or any(
                '.gate.' not in k for k in missing.missing_keys):
            raise RuntimeError(f'{args.pretrained} does not match the '
                               f'model: {missing}')
        info = prepare_tp(cfg, args, model)
    start = time.perf_counter()
    runner = Runner.from_cfg(cfg)
    runner.train()
    method = args.method
    if method == 'widths-scratch':  # one row per method the widths are of
        source = json.load(open(osp.join(args.widths_from, 'result.json')))
        method = f"widths-scratch-{source['method']}"
        info.update(widths_from=args.widths_from,
                    macs_target=source['macs_target'],
                    macs_full=source['macs_full'],
                    full_widths=source['full_widths'])
    result = dict(method=method, target=args.target, seed=args.seed,
                  train_seconds=time.perf_counter() - start,
                  epoch=runner.epoch, lr=cfg.optim_wrapper.optimizer.lr,
                  gate=dict(cfg.optim_wrapper.paramwise_cfg.custom_keys[
                      '.gate']), val_curve=val_curve(args.work_dir), **info)
    record = osp.join(args.work_dir, 'pas_search.json')
    if args.method in SEARCHED and osp.exists(record):
        result['search'] = {k: v for k, v in json.load(open(record)).items()
                            if k not in ('layers', 'trace_columns',
                                         'trace')}
    if args.method == 'pretrain':
        arch = runner.model.architecture.state_dict()
        torch.save(dict(state_dict={k: v for k, v in arch.items()
                                    if '.gate.' not in k}),
                   osp.join(args.work_dir, 'pretrained.pth'))
    result = measure(runner, args, result)
    with open(osp.join(args.work_dir, 'result.json'), 'w') as f:
        json.dump(result, f, indent=1)
    return result


def main(argv=None):
    print(json.dumps(run(parse_args(argv))))


if __name__ == '__main__':
    main()
