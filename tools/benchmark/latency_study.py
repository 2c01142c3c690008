"""Latency-aware PaS vs MACs PaS vs slimming vs uniform, at equal latency.

    python tools/benchmark/latency_study.py --bench work_dirs/benchmark/animals \
        --data-root data/animals --train-indices 1500 \
        [--target 0.5] [--batches 1 32] [--seeds 0 1 2]

For each seed, batch size and method, one run from the benchmark's
pre-trained weights (``BENCH/runs/pretrain-s<seed>/pretrained.pth``, the
benchmark's epochs) with ``--target`` of the full deployed model's
measured CPU latency (one thread) at that batch size as the budget:

* ``pas`` (latency-aware): ``LatencyLoss``, per-layer tables measured on
  this CPU (``BENCH/latency_study/latency_tables.json``, once);
* ``pas-macs``: the shipped MACs loss at ``--target`` of the full MACs,
  masks then snapped onto the same latency;
* ``slim``, ``uniform``: pruned to the same predicted latency.

Runs go one at a time (they time models). Afterwards every deployed model
of a batch size is timed again in one process, in turns with the unpruned
fused network (20% quantile of single calls, the latency pas_mm targets;
the median too), and the table gives test top-1, measured latency,
speedup, MACs reduction and speedup per MACs reduction. Finished runs are skipped.
Writes ``BENCH/latency_study/results.{json,md}``.
"""
import argparse
import copy
import json
import os.path as osp
import statistics
import subprocess
import sys

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402,F401  (pas_mm first)

import torch  # noqa: E402
from mmengine.registry import MODELS, init_default_scope  # noqa: E402

from pas_mm.deploy import count_macs  # noqa: E402
from pas_mm.ops import raw_forward  # noqa: E402
from pas_mm.budget.latency_table import LatencyTable  # noqa: E402

METHODS = {'pas': 'latency-aware PaS (LatencyLoss)',
           'pas-macs': 'MACs PaS (MACsLoss), snapped to the latency',
           'slim': 'network slimming (BN L1)',
           'uniform': 'uniform width'}


def run_dir(out: str, method: str, batch: int, seed: int) -> str:
    return osp.join(out, 'runs', f'{method}-b{batch}-s{seed}')


def train_runs(args, out: str, table_file: str, meta: dict) -> None:
    for batch in args.batches:
        for seed in args.seeds:
            for method in args.methods:
                work = run_dir(out, method, batch, seed)
                if osp.exists(osp.join(work, 'result.json')):
                    continue
                cmd = [sys.executable, osp.join(HERE, 'train_one.py'),
                       '--method', method, '--work-dir', work,
                       '--data-root', args.data_root, '--budget', 'latency',
                       '--latency-batch', str(batch), '--latency-table',
                       table_file, '--target', str(args.target),
                       '--seed', str(seed), '--epochs',
                       str(meta['search_epochs'] + meta['finetune_epochs']),
                       '--search-epochs', str(meta['search_epochs']),
                       '--pretrained', osp.join(args.bench, 'runs',
                                                f'pretrain-s{seed}',
                                                'pretrained.pth')]
                if args.train_indices:
                    cmd += ['--train-indices', str(args.train_indices)]
                print(' '.join(cmd[1:]), flush=True)
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def load_deployed(path: str):
    d = torch.load(path, map_location='cpu')
    m = MODELS.build(copy.deepcopy(d['cfg']))
    m.load_state_dict(d['state_dict'], strict=True)
    return m.eval(), tuple(d['input_shape'])


def time_batch(args, out: str, batch: int) -> dict:
    """Every run of ``batch`` timed in turns with the unpruned fused net."""
    full, shape = load_deployed(osp.join(args.bench, 'runs', 'pretrain-s0',
                                         'deploy.pth'))
    names, models, results = ['unpruned fused'], [full], {}
    for method in args.methods:
        for seed in args.seeds:
            work = run_dir(out, method, batch, seed)
            names.append(f'{method}-s{seed}')
            models.append(load_deployed(osp.join(work, 'deploy.pth'))[0])
            results[names[-1]] = json.load(
                open(osp.join(work, 'result.json')))
    table = LatencyTable(osp.join(out, 'unused.json'), 'cpu', batch, 1)
    x = torch.randn(batch, *shape)
    ms = table.time_modules(models, x, run=raw_forward)
    median = table.time_modules(models, x, run=raw_forward, q=0.5)
    macs = [count_macs(m, shape) for m in models]
    rows = {}
    for method in args.methods:
        per = [(ms[i], macs[i], results[n]) for i, n in enumerate(names)
               if n.startswith(f'{method}-s')]
        speed = [ms[0] / t for t, _, _ in per]
        red = [macs[0] / m for _, m, _ in per]
        rows[method] = dict(
            acc_test=[r['acc_test'] for _, _, r in per],
            acc_val=[r['acc_val'] for _, _, r in per],
            latency_ms=[t for t, _, _ in per],
            latency_ratio=[t / ms[0] for t, _, _ in per],
            median_latency_ratio=[median[i] / median[0]
                                  for i, n in enumerate(names)
                                  if n.startswith(f'{method}-s')],
            macs_ratio=[m / macs[0] for _, m, _ in per],
            speedup=speed, macs_reduction=red,
            speedup_per_macs_reduction=[s / r for s, r in zip(speed, red)],
            in_run=[r.get('latency') for _, _, r in per],
            widths=[r['widths'] for _, _, r in per])
    return dict(batch=batch, full_ms=ms[0], full_macs=macs[0], rows=rows)


def mean_std(xs, scale=1.0, fmt='{:.2f}'):
    xs = [x * scale for x in xs]
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.
    return f'{fmt.format(statistics.mean(xs))} ± {fmt.format(sd)}'


def markdown(study: list, args) -> str:
    lines = []
    for b in study:
        lines += [
            f"**Batch {b['batch']}, 1 CPU thread** (target "
            f"{args.target:.0%} of the unpruned fused network's latency, "
            f"{b['full_ms']:.3f} ms here; {len(args.seeds)} seeds, "
            'mean ± std; latency: 20% quantile of single calls, measured '
            'after training, all models in turns in one process; speedups '
            'from it)', '',
            '| method | test top-1 % | latency, % of full | median latency, '
            '% of full | MACs, % of full | speedup | MACs reduction | '
            'speedup / MACs reduction |',
            '|---|---|---|---|---|---|---|---|']
        for method, r in b['rows'].items():
            lines.append(
                f"| {METHODS[method]} | {mean_std(r['acc_test'])} | "
                f"{mean_std(r['latency_ratio'], 100, '{:.1f}')} | "
                f"{mean_std(r['median_latency_ratio'], 100, '{:.1f}')} | "
                f"{mean_std(r['macs_ratio'], 100, '{:.1f}')} | "
                f"{mean_std(r['speedup'])} | "
                f"{mean_std(r['macs_reduction'])} | "
                f"{mean_std(r['speedup_per_macs_reduction'])} |")
        lines.append('')
    return '\n'.join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--bench', required=True,
                   help='a benchmark folder with runs/pretrain-s<seed>')
    p.add_argument('--data-root', required=True)
    p.add_argument('--train-indices', type=int)
    p.add_argument('--target', type=float, default=0.5)
    p.add_argument('--batches', type=int, nargs='+', default=[1, 32])
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--methods', nargs='+', default=list(METHODS),
                   choices=list(METHODS))
    args = p.parse_args(argv)
    meta = json.load(open(osp.join(args.bench, 'meta.json')))
    out = osp.join(args.bench, 'latency_study')
    table_file = osp.join(out, 'latency_tables.json')
    train_runs(args, out, table_file, meta)
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    study = [time_batch(args, out, b) for b in args.batches]
    command = 'python tools/benchmark/latency_study.py ' + ' '.join(
        argv if argv is not None else sys.argv[1:])
    with open(osp.join(out, 'results.json'), 'w') as f:
        json.dump(dict(command=command, target=args.target, study=study),
                  f, indent=1)
    md = markdown(study, args)
    with open(osp.join(out, 'results.md'), 'w') as f:
        f.write(f'`{command}`\n\n{md}')
    print(md)


if __name__ == '__main__':
    main()
