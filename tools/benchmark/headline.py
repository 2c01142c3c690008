"""The README's headline table: one row per (benchmark, MACs target).

PaS (``--method``, the shipped default) against Torch-Pruning L2, uniform
width and the uniformly narrower net from scratch, test top-1 of the
deployed nets, paired by seed (95% t interval of the mean difference); and
the architecture rows: PaS's widths and Torch-Pruning's trained from random
init, against the uniform widths from scratch (the ``scratch`` row).

    python tools/benchmark/headline.py \\
        'Animal-MNIST=work_dirs/benchmark/animals_pretrain/p20@0.15,0.1' \\
        'MNIST=work_dirs/benchmark/mnist_v2@0.3,0.1'
"""
import argparse
import os.path as osp
import statistics
import sys
from typing import List, Tuple

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from report import METHOD_NAMES, _ci_text, load_runs, paired  # noqa: E402

PAS = 'pas-fast-vc'
TP = 'tp-magnitude-res-fast'
AGAINST = (('Torch-Pruning L2', TP), ('uniform', 'uniform-fast'),
           ('scratch', 'scratch'))


def _mean(runs: List[dict], method: str, target: float) -> str:
    acc = [r['acc_test'] for r in runs
           if r['method'] == method and r['target'] == target]
    if not acc:
        return 'n/a'
    m = sum(acc) / len(acc)
    return f'{m:.2f}'


def _pair(runs: List[dict], a: str, b: str, target: float) -> str:
    p = paired(runs, a, b, target)
    if not p['diffs']:
        return 'n/a'
    return f"{_ci_text(p)} ({p['wins']}/{len(p['diffs'])})"


def widths_runs(runs: List[dict]) -> List[dict]:
    """The from-random-init runs, named by whose widths they train
    (``widths-scratch-<method>``; ``scratch`` trains the uniform ones)."""
    return [dict(r, method='widths-scratch-uniform')
            if r['method'] == 'scratch' else r for r in runs
            if r['method'] == 'scratch'
            or r['method'].startswith('widths-scratch-')]


def rows(label: str, runs: List[dict], targets: List[float],
         pas: str = PAS, named: bool = False) -> List[str]:
    """One row per target of a benchmark's ``runs`` (:func:`load_runs`);
    ``named``: the PaS method in the label, and no row where it has no
    runs."""
    lines = []
    for t in targets:
        n = sum(r['method'] == pas and r['target'] == t for r in runs)
        if named and not n:
            continue
        name = f'{label} {t:.0%}' + (f' ({pas})' if named else '')
        cells = [name, str(n), _mean(runs, pas, t)]
        cells += [_pair(runs, pas, m, t) for _, m in AGAINST]
        arch = widths_runs(runs)
        cells += [_pair(arch, 'widths-scratch-' + pas,
                        'widths-scratch-uniform', t),
                  _pair(arch, 'widths-scratch-' + pas,
                        'widths-scratch-' + TP, t)]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return lines


def detail(runs: List[dict], target: float, pas: str = PAS) -> List[str]:
    """Every method at ``target`` on PaS's seeds: test top-1, PaS minus it
    (paired), the widths of the first seed."""
    runs = runs + [dict(r, method='widths-scratch-uniform') for r in runs
                   if r['method'] == 'scratch']
    lines = ['| method | test top-1 | PaS - it, paired 95% CI (won) | '
             'widths (first seed) |', '|---|---|---|---|']
    seeds = {r['seed'] for r in runs if r['method'] == pas
             and r['target'] == target}
    methods = sorted({r['method'] for r in runs if r['target'] == target})
    methods.sort(key=lambda m: (m.startswith('widths-'), m != pas))
    for m in methods:
        rs = sorted((r for r in runs if r['method'] == m and r['target'] ==
                     target and r['seed'] in seeds), key=lambda r: r['seed'])
        if not rs:
            continue
        acc = [r['acc_test'] for r in rs]
        sd = statistics.stdev(acc) if len(acc) > 1 else 0.
        name = METHOD_NAMES.get(m, m.replace('widths-scratch-', 'widths of ')
                                + ', from random init')
        if m.startswith('widths-'):
            vs = _pair(runs, 'widths-scratch-' + pas, m, target)
        else:
            vs = _pair(runs, pas, m, target)
        widths = ' '.join(map(str, rs[0].get('widths') or [])) or '-'
        lines.append(f'| {name} | {statistics.mean(acc):.2f} ± {sd:.2f} '
                     f"({len(acc)}) | "
                     f"{'-' if m in (pas, 'widths-scratch-' + pas) else vs} | "
                     f'{widths} |')
    return lines


def landing(label: str, runs: List[dict], target: float, pas: str) -> str:
    """Where ``pas``'s searches ended: runs, how many the end-of-search
    snap moved by more than 1% of the full MACs, the largest move, and the
    mean distance of the search's end from the target (% of the full)."""
    snaps = [r['search']['snap'] for r in runs
             if r['method'] == pas and r['target'] == target]
    if not snaps:
        return f'| {label} {target:.0%} | {pas} | 0 | | | |'
    moved = [s['moved'] for s in snaps]
    ends = [100 * (s['searched_ratio'] - target) for s in snaps]
    return (f'| {label} {target:.0%} | {pas} | {len(snaps)} | '
            f'{sum(m > 0.01 for m in moved)} | {100 * max(moved):.2f} | '
            f'{statistics.mean(ends):+.2f} |')


def parse_set(spec: str) -> Tuple[str, str, List[float]]:
    """'LABEL=BENCH_OUT@T1,T2' -> (label, bench out, targets)."""
    label, rest = spec.split('=', 1)
    out, targets = rest.rsplit('@', 1)
    return label, out, [float(t) for t in targets.split(',')]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('sets', nargs='+',
                        help='LABEL=BENCH_OUT@TARGET[,TARGET...]')
    parser.add_argument('--detail', action='store_true',
                        help='every method of each set and target instead')
    parser.add_argument('--pas', default=PAS,
                        help='the PaS method of the rows (default: '
                        '%(default)s, the shipped defaults); several, '
                        'comma-separated: rows of each where it has runs')
    parser.add_argument('--landing', action='store_true',
                        help="where each set's searches ended (the snap's "
                        'move) instead; --pas may name several methods, '
                        'comma-separated')
    args = parser.parse_args(argv)
    methods = args.pas.split(',')
    sets = [(label, load_runs(out), targets)
            for label, out, targets in map(parse_set, args.sets)]
    if args.landing:
        print('| set, MACs | PaS method | runs | snap moved > 1% | largest '
              'move (% of full) | search end - target, mean (% of full) |')
        print('|---|---|---|---|---|---|')
        for label, runs, targets in sets:
            for t in targets:
                for pas in methods:
                    print(landing(label, runs, t, pas))
        return
    if args.detail:
        for label, runs, targets in sets:
            for t in targets:
                print(f'\n{label}, {t:.0%} of the MACs\n')
                print('\n'.join(detail(runs, t, args.pas)))
        return
    print('| set, MACs | seeds | PaS test top-1 | PaS - Torch-Pruning L2 '
          '| PaS - uniform | PaS - scratch | PaS widths - uniform widths, '
          'both from scratch | PaS widths - Torch-Pruning widths, both from '
          'scratch |')
    print('|---|---|---|---|---|---|---|---|')
    for label, runs, targets in sets:
        for pas in methods:
            for line in rows(label, runs, targets, pas,
                             named=len(methods) > 1):
                print(line)


if __name__ == '__main__':
    main()
