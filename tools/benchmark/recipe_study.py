"""PaS recipe variants on val, against the benchmark's own PaS runs.

    python tools/benchmark/recipe_study.py --bench work_dirs/benchmark/animals \
        --data-root data/animals --train-indices 1500 [--targets 0.5 0.3]

Every variant searches from the benchmark's pre-trained weights of each
seed (``BENCH/runs/pretrain-s<seed>/pretrained.pth``) with the benchmark's
total epochs; the table gives val top-1 (what a recipe is chosen on) and
test top-1, mean ± std over seeds, next to the benchmark's PaS runs.
Writes ``BENCH/recipe_study.md``.
"""
import argparse
import json
import os.path as osp
import statistics
import subprocess
import sys

HERE = osp.dirname(osp.abspath(__file__))
VARIANTS = {
    'gate lr x1 (paper: gates in the same SGD)': ['--gate-lr-mult', '1'],
    'search 1 epoch + fine-tune 4': ['--search-epochs', '1'],
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--bench', required=True)
    p.add_argument('--data-root', required=True)
    p.add_argument('--train-indices', type=int)
    p.add_argument('--targets', type=float, nargs='+', default=[0.5, 0.3])
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    args = p.parse_args(argv)
    meta = json.load(open(osp.join(args.bench, 'meta.json')))
    epochs = meta['search_epochs'] + meta['finetune_epochs']
    rows = []
    # the variants first: the benchmark's own PaS runs may still be running
    for name, extra in list(VARIANTS.items()) + [
            ('benchmark recipe (shipped config)', None)]:
        for t in args.targets:
            val, test, macs = [], [], []
            for seed in args.seeds:
                run = osp.join(args.bench, 'runs', f'pas-t{t:g}-s{seed}')
                if extra is not None:
                    tag = name.split(' (')[0].replace(' ', '_')
                    run = osp.join(args.bench, 'recipe_study',
                                   f'{tag}-t{t:g}-s{seed}')
                    if not osp.exists(osp.join(run, 'result.json')):
                        subprocess.run(
                            [sys.executable, osp.join(HERE, 'train_one.py'),
                             '--method', 'pas', '--work-dir', run,
                             '--data-root', args.data_root,
                             '--target', str(t), '--seed', str(seed),
                             '--epochs', str(epochs), '--search-epochs',
                             str(meta['search_epochs']), '--pretrained',
                             osp.join(args.bench, 'runs', f'pretrain-s{seed}',
                                      'pretrained.pth')] + extra +
                            (['--train-indices', str(args.train_indices)]
                             if args.train_indices else []),
                            check=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
                r = json.load(open(osp.join(run, 'result.json')))
                val.append(r['acc_val'])
                test.append(r['acc_test'])
                macs.append(100 * r['macs_deployed'] / r['macs_full'])
            rows.append((name, t, val, test, macs))
    lines = ['| PaS recipe | MACs target | val top-1 | test top-1 | MACs '
             'reached |', '|---|---|---|---|---|']
    for name, t, val, test, macs in rows[-len(args.targets):] + \
            rows[:-len(args.targets)]:
        def pm(v):
            return f'{statistics.mean(v):.2f} ± {statistics.stdev(v):.2f}'
        lines.append(f'| {name} | {t:.0%} | {pm(val)} | {pm(test)} | '
                     f'{statistics.mean(macs):.1f}% |')
    table = '\n'.join(lines)
    with open(osp.join(args.bench, 'recipe_study.md'), 'w') as f:
        f.write(table + '\n')
    print(table)


if __name__ == '__main__':
    main()
