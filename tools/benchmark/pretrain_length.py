"""Choose the benchmark's pre-training length on val: the first plateau.

    python tools/benchmark/pretrain_length.py --config CONFIG \
        --data-root data/animals --out work_dirs/benchmark/animals_pretrain \
        [--lengths 10 20 30 40] [--seeds 0 1 2] [--jobs 2] [--min-gain 0.5]

The unpruned network is trained from random init for every length P (its
own cosine over P epochs, as ``run_all.py`` pre-trains) and seed
(``OUT/p<P>/runs/pretrain-s<seed>``: a run_all layout, so a table at the
chosen P can start from these nets). The chosen P is the shortest length
after which the next one gains less than ``--min-gain`` val top-1 points
(mean of the paired per-seed gains); test top-1 is shown, not chosen on.
Finished runs are skipped. Writes ``OUT/pretrain_length.{md,json}``.
"""
import argparse
import json
import os.path as osp
import sys
from concurrent.futures import ThreadPoolExecutor

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, HERE)
from report import _ci_text, _mean_std, _pm, t_interval  # noqa: E402
from run_all import done, run_job  # noqa: E402


def run_dir(out: str, length: int, seed: int) -> str:
    return osp.join(out, f'p{length}', 'runs', f'pretrain-s{seed}')


def pretrain(args, length: int, seed: int) -> None:
    """One pre-training run (run_all's runner: train.log, a one-line error
    on failure); skipped when finished."""
    work = run_dir(args.out, length, seed)
    argv = ['--method', 'pretrain', '--work-dir', work, '--data-root',
            args.data_root, '--seed', str(seed), '--epochs', str(length)]
    if args.config:
        argv += ['--config', args.config]
    job = dict(name=f'p{length}/pretrain-s{seed}', work_dir=work, argv=argv)
    if not done(job):
        run_job(job, args.threads)


def choose(rows: list, min_gain: float):
    """The first length whose successor's mean paired val gain is below
    ``min_gain``; None when every step still gains that much."""
    for row, nxt in zip(rows, rows[1:]):
        if nxt['gain_val']['mean'] < min_gain:
            return row['length']
    return None


def summarize(out: str, lengths: list, seeds: list) -> list:
    rows = []
    for length in lengths:
        rs = {s: json.load(open(osp.join(run_dir(out, length, s),
                                         'result.json'))) for s in seeds}
        row = dict(length=length, seeds=seeds,
                   val=[rs[s]['acc_val'] for s in seeds],
                   test=[rs[s]['acc_test'] for s in seeds],
                   minutes=[rs[s]['train_seconds'] / 60 for s in seeds])
        if rows:
            row['gain_val'] = t_interval(
                [v - u for v, u in zip(row['val'], rows[-1]['val'])])
        rows.append(row)
    return rows


def table(rows: list, chosen, min_gain: float) -> str:
    def ms(v):
        return _pm(*_mean_std(v))

    lines = ['| pre-training epochs | seeds | **val top-1** | gain over the '
             'previous length, val (95% t) | test top-1 | minutes per run |',
             '|---|---|---|---|---|---|']
    for r in rows:
        gain = _ci_text({'ci': r['gain_val']}) if 'gain_val' in r else ''
        lines.append(f"| {r['length']} | {len(r['seeds'])} | "
                     f"**{ms(r['val'])}** | {gain} | {ms(r['test'])} | "
                     f"{sum(r['minutes']) / len(r['minutes']):.1f} |")
    lines.append('')
    lines.append(f'Chosen (the first length after which the next gains '
                 f'< {min_gain:g} val points): ' + (
                     f'**{chosen} epochs**.' if chosen else
                     '**none**: every longer pre-training still gained '
                     'that much; try longer lengths.'))
    return '\n'.join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', required=True)
    p.add_argument('--data-root', required=True)
    p.add_argument('--config')
    p.add_argument('--lengths', type=int, nargs='+', default=[10, 20, 30, 40])
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--jobs', type=int, default=2)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--min-gain', type=float, default=0.5,
                   help='val top-1 points a longer pre-training must add')
    args = p.parse_args(argv)
    lengths = sorted(set(args.lengths))
    if len(lengths) < 2 or len(args.seeds) < 2:
        p.error('need at least 2 --lengths and 2 --seeds')
    jobs = [(n, s) for s in args.seeds for n in lengths]
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(lambda j: pretrain(args, *j), jobs))
    rows = summarize(args.out, lengths, args.seeds)
    chosen = choose(rows, args.min_gain)
    text = table(rows, chosen, args.min_gain)
    with open(osp.join(args.out, 'pretrain_length.md'), 'w') as f:
        f.write(text + '\n')
    with open(osp.join(args.out, 'pretrain_length.json'), 'w') as f:
        json.dump(dict(rows=rows, chosen=chosen, min_gain=args.min_gain),
                  f, indent=1)
    print(text)


if __name__ == '__main__':
    main()
