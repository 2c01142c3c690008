"""PaS recipe variants on val, from the benchmark's own pre-trained nets.

    python tools/benchmark/recipe_study.py --bench work_dirs/benchmark/animals_v2 \
        [--targets 0.15] [--seeds 0] [--jobs 2]

Every variant is PaS (official schedule unless it says otherwise) from the
benchmark's pre-trained weights of each seed
(``BENCH/runs/pretrain-s<seed>/pretrained.pth``), with the benchmark's
config, data and total epochs; only the named knob changes. The table
gives val top-1 (what a recipe is chosen on), test top-1 (reported, not
chosen on) and the MACs reached, next to the benchmark's own PaS runs.
Writes ``BENCH/recipe_study.md`` and ``BENCH/recipe_study.json``.
"""
import argparse
import json
import os.path as osp
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, HERE)
from run_all import done, run_job  # noqa: E402

from pas_mm.budget.alternation import alternation  # noqa: E402

BENCH_RUNS = {  # benchmark method -> its row's name
    'pas': 'official (benchmark PaS: gates lr x1, decay 1e-4, loss weight 5)',
    'pas-fast': 'shipped fast recipe (cosine, gates lr x10, no decay)',
    'pas-cost': 'official, snap by gate margin per MAC (benchmark PaS)',
    'pas-fast-cost': 'fast recipe, snap by gate margin per MAC (benchmark '
                     'PaS)',
    'pas-fast-vc': 'shipped default: fast recipe, value per cost '
                   '(benchmark PaS)'}


def variants(search_epochs: int) -> dict:
    """Variant name -> train_one arguments (one knob each)."""
    return {  # run in this order (a stopped study keeps the first ones)
        'gates lr x10': ['--gate-lr-mult', '10'],
        f'search {2 * search_epochs} epochs':
            ['--search-epochs', str(2 * search_epochs)],
        'loss weight 20': ['--loss-weight', '20'],
        'gates lr x10, no weight decay': ['--gate-lr-mult', '10',
                                          '--gate-decay-mult', '0'],
        'gates no weight decay': ['--gate-decay-mult', '0'],
        'loss weight 1': ['--loss-weight', '1'],
        f'search {max(search_epochs // 2, 1)} epochs':
            ['--search-epochs', str(max(search_epochs // 2, 1))],
        'target annealed over the first half of the search':
            ['--target-anneal', '0.5'],
        'fast recipe, target annealed over the first half of the search':
            ['--method', 'pas-fast', '--target-anneal', '0.5'],
        f'search {2 * search_epochs} epochs, loss weight 20':
            ['--search-epochs', str(2 * search_epochs), '--loss-weight',
             '20'],
        'snap by gate margin per MAC': ['--snap-per-cost'],
        'loss weight 20, snap by gate margin per MAC':
            ['--loss-weight', '20', '--snap-per-cost'],
        'fast recipe, snap by gate margin per MAC':
            ['--method', 'pas-fast', '--snap-per-cost'],
        'fast recipe, snap per MAC, loss weight 20':
            ['--method', 'pas-fast-cost', '--loss-weight', '20'],
        f'fast recipe, snap per MAC, search {2 * search_epochs} epochs':
            ['--method', 'pas-fast-cost', '--search-epochs',
             str(2 * search_epochs)],
        # issue 35: the budget reached in the search, widths by value per
        # cost (MACsLoss's multiplier_lr, value_weighted, floor, gradient)
        **{f'fast recipe, snap per MAC, multiplier lr 5{name}':
           ['--method', 'pas-fast-cost', '--multiplier-lr', '5'] + extra
           for name, extra in (
               (', value-weighted', ['--value-weighted', '1']),
               (', value-weighted, floor 0.5',
                ['--value-weighted', '1', '--floor', '0.5']),
               (', official gradient, value-weighted, floor 0.5',
                ['--gradient', 'own', '--value-weighted', '1', '--floor',
                 '0.5']),
               ('', []))},
        **{'fast recipe, snap per MAC, multiplier lr 1, target annealed '
           f'over the first half of the search, tol 0.5%{name}':
           ['--method', 'pas-fast-cost', '--multiplier-lr', '1',
            '--target-anneal', '0.5', '--tol', '0.005'] + extra
           for name, extra in (
               (', value-weighted, floor 0.5',
                ['--value-weighted', '1', '--floor', '0.5']),
               (', floor 0.5', ['--floor', '0.5']),
               (', value-weighted', ['--value-weighted', '1']))},
        # issue 35: one knob of the shipped default at a time
        **{f'shipped default, {name}': ['--method', 'pas-fast-vc'] + extra
           for name, extra in (
               (f'search {2 * search_epochs} epochs',
                ['--search-epochs', str(2 * search_epochs)]),
               ('floor 0.8', ['--floor', '0.8']),
               ('official gradient', ['--gradient', 'own']))},
    }


def tag(name: str) -> str:
    return ''.join(c if c.isalnum() else '_' for c in name).strip('_')


def run_variant(args, meta, extra, run, target, seed) -> None:
    """One variant run through run_all's runner (train.log, a one-line
    error on failure); skipped when finished."""
    epochs = meta['search_epochs'] + meta['finetune_epochs']
    argv = ['--method', 'pas', '--work-dir', run, '--data-root',
            meta['data_root'], '--target', str(target), '--seed', str(seed),
            '--epochs', str(epochs), '--search-epochs',
            str(meta['search_epochs']), '--pretrained',
            osp.join(args.bench, 'runs', f'pretrain-s{seed}',
                     'pretrained.pth')]
    if meta.get('config'):
        argv += ['--config', meta['config']]
    job = dict(name=osp.basename(run), work_dir=run,
               argv=argv + extra)  # a later --search-epochs or --method wins
    if not done(job):
        run_job(job, args.threads)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--bench', required=True)
    p.add_argument('--targets', type=float, nargs='+', default=[0.15])
    p.add_argument('--seeds', type=int, nargs='+', default=[0])
    p.add_argument('--jobs', type=int, default=2)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--variants', nargs='+', metavar='TAG',
                   help='run only these variants (tags as in the run '
                   "folders' names, e.g. loss_weight_20); the table shows "
                   'every variant with results')
    p.add_argument('--baselines', nargs='+', default=['pas-fast', 'pas'],
                   choices=sorted(BENCH_RUNS),
                   help="the benchmark's own PaS runs, shown first in this "
                   'order')
    args = p.parse_args(argv)
    meta = json.load(open(osp.join(args.bench, 'meta.json')))
    todo, cells = [], []
    names = variants(meta['search_epochs'])
    unknown = set(args.variants or ()) - {tag(n) for n in names}
    if unknown:
        p.error(f'unknown --variants {sorted(unknown)}; choose from '
                f'{[tag(n) for n in names]}')
    for name, extra in names.items():
        for t in args.targets:
            runs = [osp.join(args.bench, 'recipe_study',
                             f'{tag(name)}-t{t:g}-s{s}') for s in args.seeds]
            if args.variants is None or tag(name) in args.variants:
                todo += [(extra, r, t, s) for r, s in zip(runs, args.seeds)]
            cells.append((name, t, runs))
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(lambda j: run_variant(args, meta, *j), todo))
    cells = [(BENCH_RUNS[m], t, [osp.join(args.bench, 'runs',
                                          f'{m}-t{t:g}-s{s}')
                                 for s in args.seeds])
             for m in args.baselines for t in args.targets] + cells
    rows = []
    for name, t, runs in cells:
        rs = [json.load(open(osp.join(r, 'result.json'))) for r in runs
              if osp.exists(osp.join(r, 'result.json'))]
        if rs:
            rows.append(dict(
                recipe=name, target=t, seeds=[r['seed'] for r in rs],
                val=[r['acc_val'] for r in rs],
                test=[r['acc_test'] for r in rs],
                macs=[100 * r['macs_deployed'] / r['macs_full'] for r in rs],
                search=[r.get('search') for r in rs],
                widths=[r.get('widths') for r in rs],
                full_widths=rs[0].get('full_widths')))

    def mean(v):
        return f'{statistics.mean(v):.2f}' + (
            f' ± {statistics.stdev(v):.2f}' if len(v) > 1 else '')

    lines = ['| PaS recipe | MACs target | seeds | **val top-1** | test top-1 '
             '| MACs reached | search within 2% at iter | snap moved '
             '| alternation | widths (first seed) |',
             '|---|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        firsts = ', '.join('?' if not s else 'never' if s[
            'first_within_tol_iter'] is None else str(
                s['first_within_tol_iter']) for s in r['search'])
        moved = ', '.join(f"{100 * s['snap']['moved']:.1f}%" if s else '?'
                          for s in r['search'])
        known = r['full_widths'] and all(r['widths'])
        alt = (mean([alternation(w, r['full_widths']) for w in r['widths']])
               if known else '?')
        widths = ' '.join(map(str, r['widths'][0])) if known else '?'
        lines.append(f"| {r['recipe']} | {r['target']:.0%} | "
                     f"{len(r['seeds'])} | **{mean(r['val'])}** | "
                     f"{mean(r['test'])} | {mean(r['macs'])}% | {firsts} | "
                     f'{moved} | {alt} | {widths} |')
    table = '\n'.join(lines)
    with open(osp.join(args.bench, 'recipe_study.md'), 'w') as f:
        f.write(table + '\n')
    with open(osp.join(args.bench, 'recipe_study.json'), 'w') as f:
        json.dump(rows, f, indent=1)
    print(table)


if __name__ == '__main__':
    main()
