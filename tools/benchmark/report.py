"""Aggregate benchmark runs into results.json / results.md and PNG plots.

    python tools/benchmark/report.py --out work_dirs/benchmark

(run_all.py calls this at the end; rerun it alone to redraw.)
"""
import argparse
import glob
import json
import os.path as osp
import statistics
import sys
from typing import Dict, List, Optional

from scipy import stats

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
from pas_mm.hooks.search_record import plot_convergence  # noqa: E402

METHOD_NAMES = {
    'pas': 'PaS, official schedule (search + fine-tune)',
    'pas-fast': 'PaS, shipped fast recipe (cosine, gates lr x10, no decay)',
    'pas-cost': 'PaS, official schedule, snap by gate margin per MAC',
    'pas-fast-cost': 'PaS, fast recipe, snap by gate margin per MAC',
    'pas-vc': 'PaS, official schedule, value per cost (shipped defaults)',
    'pas-fast-vc': 'PaS, fast recipe, value per cost (shipped defaults)',
    'pas-fast-vc1': 'PaS, fast recipe, value per cost (first defaults: '
                    'multiplier restarted at every crossing)',
    'uniform': 'Uniform width',
    'l1': 'L1-norm (fused filters)',
    'slim': 'Network slimming (BN L1)',
    'scratch': 'Uniform narrower, from scratch',
    'tp-magnitude-res': 'Torch-Pruning L2 magnitude, training form',
    'tp-taylor-res': 'Torch-Pruning Taylor, training form',
    'tp-bnscale-res': 'Torch-Pruning BN scale, training form',
    'tp-magnitude-fused': 'Torch-Pruning L2 magnitude, fused form',
    'tp-taylor-fused': 'Torch-Pruning Taylor, fused form',
    'uniform-fast': 'Uniform width, fast recipe (cosine from the stock LR)',
    'tp-magnitude-res-fast': 'Torch-Pruning L2, training form, fast recipe',
    'full': 'Unpruned reference (pre-trained + same epochs)',
    'unpruned-scratch': 'Unpruned, from scratch (P + S + F epochs)',
    **{f'widths-scratch-{m}': f'Widths of {m}, from scratch (P + S + F '
       'epochs)' for m in ('pas-fast-vc', 'pas-fast-vc1', 'pas-fast-cost',
                           'tp-magnitude-res-fast', 'uniform-fast')},
}
METHOD_ORDER = list(METHOD_NAMES)
UNPRUNED = ('full', 'unpruned-scratch')  # one row, no target
PAS_ROWS = ('pas', 'pas-fast', 'pas-cost', 'pas-fast-cost', 'pas-vc',
            'pas-fast-vc', 'pas-fast-vc1')
BASELINES = [m for m in METHOD_ORDER if m not in PAS_ROWS + UNPRUNED]
PRUNERS = [m for m in BASELINES  # same start as PaS
           if m != 'scratch' and not m.startswith('widths-scratch')]
COLORS = {'pas': 'tab:red', 'pas-fast': 'salmon', 'pas-cost': 'darkred',
          'pas-fast-cost': 'gold', 'pas-vc': 'tab:pink',
          'pas-fast-vc': 'crimson', 'pas-fast-vc1': 'orangered',
          'uniform': 'tab:gray',
          'uniform-fast': 'silver', 'tp-magnitude-res-fast': 'plum',
          'l1': 'tab:blue', 'unpruned-scratch': 'tab:olive',
          'slim': 'tab:green', 'scratch': 'tab:brown',
          'tp-magnitude-res': 'tab:purple', 'tp-taylor-res': 'tab:pink',
          'tp-bnscale-res': 'tab:olive', 'tp-magnitude-fused': 'tab:cyan',
          'tp-taylor-fused': 'tab:orange', 'full': 'black',
          'widths-scratch-pas-fast-vc': 'tab:red',
          'widths-scratch-pas-fast-vc1': 'tomato',
          'widths-scratch-pas-fast-cost': 'goldenrod',
          'widths-scratch-tp-magnitude-res-fast': 'indigo',
          'widths-scratch-uniform-fast': 'dimgray'}


def load_runs(out: str) -> List[dict]:
    """result.json (+ history.json) of every finished final run."""
    runs = []
    for path in sorted(glob.glob(osp.join(out, 'runs', '*', 'result.json'))):
        r = json.load(open(path))
        if r['method'] == 'pretrain':
            continue  # the shared starting point, not a method
        r['name'] = osp.basename(osp.dirname(path))
        for key, name in (('history', 'history.json'),
                          ('record', 'pas_search.json')):
            extra = osp.join(osp.dirname(path), name)
            if osp.exists(extra):
                r[key] = json.load(open(extra))
        runs.append(r)
    return runs


def _mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.mean(values), std


def t_interval(values: List[float], level: float = 0.95) -> dict:
    """Mean and t-based confidence interval of ``values`` (n >= 2):
    mean ± t_{(1+level)/2, n-1} * sd / sqrt(n)."""
    n = len(values)
    mean, sd = statistics.mean(values), statistics.stdev(values)
    half = float(stats.t.ppf((1 + level) / 2, n - 1)) * sd / n ** 0.5
    return dict(n=n, mean=mean, sd=sd, half=half, lo=mean - half,
                hi=mean + half, level=level)


def summarize(runs: List[dict]) -> List[dict]:
    """One row per (method, target): mean/std over seeds."""
    groups: Dict[tuple, List[dict]] = {}
    for r in runs:
        key = (r['method'], 1.0 if r['method'] in UNPRUNED else r['target'])
        groups.setdefault(key, []).append(r)
    rows = []
    for (method, target), rs in groups.items():
        ratios = [r['macs_deployed'] / r['macs_full'] for r in rs]
        acc_m, acc_s = _mean_std([r['acc_test'] for r in rs])
        mac_m, mac_s = _mean_std(ratios)
        rows.append(dict(
            method=method, target=target, seeds=sorted(r['seed'] for r in rs),
            n=len(rs), acc_mean=acc_m, acc_std=acc_s,
            acc_min=min(r['acc_test'] for r in rs),
            acc_max=max(r['acc_test'] for r in rs),
            acc_val_mean=_mean_std([r['acc_val'] for r in rs])[0],
            target_error_max=max(abs(r['macs_deployed'] / r['macs_target']
                                     - 1) for r in rs),
            macs_ratio_mean=mac_m, macs_ratio_std=mac_s,
            macs_ratio_min=min(ratios), macs_ratio_max=max(ratios),
            macs_full=rs[0]['macs_full'],
            max_abs_diff=max(r['max_abs_diff'] for r in rs),
            train_seconds_mean=_mean_std(
                [r.get('train_seconds') for r in rs])[0]))
    rows.sort(key=lambda r: (-r['target'], METHOD_ORDER.index(r['method'])
                             if r['method'] in METHOD_ORDER else 99))
    return rows


def _pm(m, s, fmt='{:.2f}'):
    if m is None:
        return 'n/a'
    return (fmt + ' ± ' + fmt).format(m, s)


def results_table(rows: List[dict]) -> str:
    lines = [
        '| MACs target | method | MACs reached (deployed, % of full) '
        '| test top-1 % (mean ± std) | min – max | val top-1 % | '
        'max distance to target | seeds |',
        '|---|---|---|---|---|---|---|---|']
    for r in rows:
        target = '100% (none)' if r['method'] in UNPRUNED else \
            f"{r['target']:.0%}"
        reached = _pm(100 * r['macs_ratio_mean'], 100 * r['macs_ratio_std'],
                      '{:.1f}')
        lines.append(
            f"| {target} | {METHOD_NAMES.get(r['method'], r['method'])} | "
            f"{reached} | **{_pm(r['acc_mean'], r['acc_std'])}** | "
            f"{r['acc_min']:.2f} – {r['acc_max']:.2f} | "
            f"{r['acc_val_mean']:.2f} | {100 * r['target_error_max']:.2f}% | "
            f"{r['n']} |")
    return '\n'.join(lines)


def method_table(rows: List[dict]) -> str:
    """Methods x targets: test top-1 mean ± std (deployed MACs, % of full)."""
    targets = sorted({r['target'] for r in rows
                      if r['method'] not in UNPRUNED}, reverse=True)
    cell = {(r['method'], r['target']): r for r in rows}
    lines = ['| method | ' + ' | '.join(f'{t:.0%} MACs' for t in targets) +
             ' | seeds |', '|---' * (len(targets) + 2) + '|']
    for m in METHOD_ORDER:
        if m in UNPRUNED:
            r = cell.get((m, 1.0))
            if r:
                lines.append(f"| {METHOD_NAMES[m]} | "
                             f"{_pm(r['acc_mean'], r['acc_std'])} (100%)"
                             + ' |' * len(targets) + f" {r['n']} |")
            continue
        if not any((m, t) in cell for t in targets):
            continue
        vals = []
        for t in targets:
            r = cell.get((m, t))
            vals.append('–' if r is None else
                        f"{_pm(r['acc_mean'], r['acc_std'])} "
                        f"({100 * r['macs_ratio_mean']:.1f}%)")
        name = f'**{METHOD_NAMES[m]}**' if m == 'pas' else METHOD_NAMES[m]
        n = sorted({cell[(m, t)]['n'] for t in targets if (m, t) in cell})
        lines.append(f'| {name} | ' + ' | '.join(vals) +
                     f" | {'/'.join(map(str, n))} |")
    return '\n'.join(lines)


def paired_differences(runs: List[dict], rows: List[dict],
                       candidates=BASELINES, method: str = 'pas'
                       ) -> List[dict]:
    """Per target: ``method`` minus the best of ``candidates`` (by mean test
    top-1), seed by seed, over the seeds both have."""
    out = []
    for t in sorted({r['target'] for r in rows if r['method'] == method},
                    reverse=True):
        base = [r for r in rows if r['target'] == t
                and r['method'] in candidates]
        if base:
            best = max(base, key=lambda r: r['acc_mean'])['method']
            out.append(paired(runs, method, best, t))
    return out


def paired(runs: List[dict], a: str, b: str, target: float) -> dict:
    """``a`` minus ``b`` at ``target``, seed by seed (test top-1), with a
    95% t interval of the mean difference where there are >= 2 seeds."""
    acc = {(r['method'], r['seed']): r['acc_test'] for r in runs
           if r['target'] == target or r['method'] in UNPRUNED}
    seeds = sorted(s for (m, s) in acc if m == a and (b, s) in acc)
    diffs = [acc[(a, s)] - acc[(b, s)] for s in seeds]
    ci = t_interval(diffs) if len(diffs) > 1 else None
    return dict(target=target, method=a, best=b, seeds=seeds, diffs=diffs,
                mean=ci['mean'] if ci else (diffs[0] if diffs else None),
                std=ci['sd'] if ci else None, ci=ci,
                wins=sum(d > 0 for d in diffs),
                losses=sum(d < 0 for d in diffs))


def all_pairs(runs: List[dict], rows: List[dict], method: str = 'pas'
              ) -> List[dict]:
    """``method`` against every other method at each of its targets."""
    out = []
    for t in sorted({r['target'] for r in rows if r['method'] == method},
                    reverse=True):
        for other in METHOD_ORDER:
            if other != method and any(
                    r['method'] == other and (r['target'] == t or other in
                                              UNPRUNED) for r in rows):
                p = paired(runs, method, other, t)
                if p['diffs']:
                    out.append(p)
    return out


def _ci_text(p: dict) -> str:
    ci = p['ci']
    if ci is None:
        return 'n/a (1 seed)'
    return (f"{ci['mean']:+.2f} [{ci['lo']:+.2f}, {ci['hi']:+.2f}]")


def _verdict(p: dict) -> str:
    ci = p['ci']
    if ci is None:
        return 'one seed: none'
    if ci['lo'] > 0:
        return f"**{p['method']} better**"
    if ci['hi'] < 0:
        return f"**{p['method']} worse**"
    return 'not resolved'


def paired_table(pairs: List[dict]) -> str:
    lines = ['| MACs target | method | minus | per seed | mean [95% CI, t] | '
             'wins / losses | verdict |', '|---|---|---|---|---|---|---|']
    for p in pairs:
        per_seed = ', '.join(f'{d:+.2f}' for d in p['diffs'])
        lines.append(f"| {p['target']:.0%} | {p['method']} | "
                     f"{METHOD_NAMES[p['best']]} | "
                     f"{per_seed} | {_ci_text(p)} | {p['wins']} / "
                     f"{p['losses']} | {_verdict(p)} |")
    return '\n'.join(lines)


def capacity_check(runs: List[dict],
                   target: Optional[float] = None) -> Optional[dict]:
    """Unpruned vs uniformly narrower at ``target`` (default: the lowest,
    the one that guards the table), both from scratch for the same epochs:
    the set is a pruning benchmark only if the gap (mean test top-1)
    exceeds twice the seed spread (the larger sample sd of the two)."""
    scratch = [r for r in runs if r['method'] == 'scratch']
    full = {r['seed']: r['acc_test'] for r in runs
            if r['method'] == 'unpruned-scratch'}
    if not scratch or len(full) < 2:
        return None
    low = min(r['target'] for r in scratch) if target is None else target
    narrow = {r['seed']: r['acc_test'] for r in scratch
              if r['target'] == low}
    if len(narrow) < 2:
        return None
    gap = statistics.mean(full.values()) - statistics.mean(narrow.values())
    spread = max(statistics.stdev(full.values()),
                 statistics.stdev(narrow.values()))
    seeds = sorted(set(full) & set(narrow))
    diffs = [full[s] - narrow[s] for s in seeds]
    return dict(target=low, unpruned=statistics.mean(full.values()),
                narrow=statistics.mean(narrow.values()),
                n_unpruned=len(full), n_narrow=len(narrow), gap=gap,
                spread=spread, passes=gap > 2 * spread, seeds=seeds,
                diffs=diffs,
                ci=t_interval(diffs) if len(diffs) > 1 else None)


def capacity_text(cap: Optional[dict], guard: bool = True) -> str:
    """The check as a sentence; ``guard=False`` for a target that does not
    guard the table (a higher one): the verdict without its consequence."""
    if cap is None:
        return ('Capacity check: not run (needs `unpruned-scratch` and '
                '`scratch` at the lowest target, >= 2 seeds each).')
    verdict = '**passes**' if cap['passes'] else '**fails**'
    if guard:
        verdict += (': the narrower network loses capacity, so width '
                    'allocation can matter here' if cap['passes'] else
                    ': this set is NOT a pruning benchmark at these targets '
                    '(a narrower net loses nothing beyond seed noise); the '
                    'method rows below cannot be read as pruning quality')
    ci = cap['ci']
    paired_text = '' if ci is None else (
        f"; paired by seed {ci['mean']:+.2f} [{ci['lo']:+.2f}, "
        f"{ci['hi']:+.2f}] (95% t CI, {ci['n']} seeds)")
    return (f"Capacity check (test top-1, from scratch, same epochs): "
            f"unpruned {cap['unpruned']:.2f} ({cap['n_unpruned']} seeds) vs "
            f"uniformly narrower at {cap['target']:.0%} MACs "
            f"{cap['narrow']:.2f} ({cap['n_narrow']} seeds): gap "
            f"{cap['gap']:+.2f}, 2 x seed spread {2 * cap['spread']:.2f}"
            f"{paired_text}. The check {verdict}.")


def search_table(runs: List[dict]) -> str:
    """PaS search diagnostics per run (from each run's search record)."""
    lines = ['| run | target | first iter within 2% (of search iters) | '
             'flips after it | snap: channels flipped | snap moved '
             '(% of full MACs) | searched -> fixed |',
             '|---|---|---|---|---|---|---|']
    for r in sorted((r for r in runs if r.get('search')),
                    key=lambda r: (r['method'], -r['target'], r['seed'])):
        s = r['search']
        sn = s['snap'] or {}
        first = s['first_within_tol_iter']
        loud = ' **(loud)**' if sn.get('loud') else ''
        lines.append(
            f"| {r['name']} | {r['target']:.0%} | "
            f"{'never' if first is None else first} / {s['search_iters']} "
            f"| {s['flips_after_target']} | "
            f"{sn.get('dropped', 0) + sn.get('restored', 0)} | "
            f"{100 * sn.get('moved', 0):.2f}{loud} | "
            f"{100 * sn.get('searched_ratio', 0):.1f}% -> "
            f"{100 * sn.get('fixed_ratio', 0):.1f}% |")
    return '\n'.join(lines)


def latency_table(lat: dict) -> str:
    lines = []
    for setting in lat.get('settings', []):
        lines.append(
            f"\nbatch {setting['batch']}, {setting['threads']} thread(s), "
            f"input {lat['input_shape']}; median of {setting['runs']} calls"
            ' per model, models interleaved in one process\n')
        lines.append('| model | MACs | latency ms | speedup vs unpruned '
                     'multi-branch | speedup vs unpruned fused | MACs '
                     'reduction vs fused | speedup / MACs reduction |')
        lines.append('|---|---|---|---|---|---|---|')
        for m in setting['models']:
            lines.append(
                f"| {m['name']} | {m['macs'] / 1e6:.2f}M | "
                f"{m['latency_ms']:.3f} | {m['speedup_vs_multibranch']:.2f}x"
                f" | {m['speedup_vs_fused']:.2f}x | "
                f"{m['macs_reduction']:.2f}x | "
                f"{m['speedup_per_macs_reduction']:.2f} |")
    onnx = lat.get('onnx')
    if onnx:
        if onnx.get('error'):
            lines.append(f"\nONNX Runtime: skipped ({onnx['error']})")
        else:
            lines.append('\nONNX Runtime (batch 1, '
                         f"{onnx['threads']} thread(s)):\n")
            lines.append('| model | torch ms | onnxruntime ms | max abs '
                         'diff |')
            lines.append('|---|---|---|---|')
            for m in onnx['models']:
                lines.append(f"| {m['name']} | {m['torch_ms']:.3f} | "
                             f"{m['ort_ms']:.3f} | {m['max_abs_diff']:.2e} |")
    return '\n'.join(lines)


def checks_text(overhead: Optional[dict], ddp: Optional[dict],
                resume: Optional[dict]) -> str:
    lines = []
    if overhead:
        v = overhead['ms_per_iter']
        lines.append(
            f"- Search overhead (batch {overhead['batch_size']}, "
            f"{overhead['threads']} thread(s), {overhead['iters']} "
            'interleaved iterations each, one process): plain training '
            f"{v['plain']:.1f} ms/iter, PaS search (gates + MACs loss) "
            f"{v['pas_search']:.1f} ms/iter, PaS fine-tune (gates fixed) "
            f"{v['pas_finetune']:.1f} ms/iter -> **search / plain = "
            f"{overhead['ratio_search_vs_plain']:.3f}**, fine-tune / plain "
            f"= {overhead['ratio_finetune_vs_plain']:.3f}.")
    if ddp:
        lines.append(
            f"- DDP ({ddp['world_size']} CPU processes, gloo, "
            f"`torchrun ... tools/train.py --launcher pytorch`): "
            f"{ddp['probes']} gate probes (every iteration, all-gathered), "
            f"gates identical across ranks at all of them: "
            f"**{ddp['all_equal']}**; MACs {ddp['macs_start_ratio']:.1%} -> "
            f"{ddp['macs_end_ratio']:.1%} of full during the run"
            f"{'' if ddp['ok'] else ' — FAILED: ' + ddp.get('error', '')}.")
    if resume:
        lines.append(
            f"- Resume mid-search (from {resume['resumed_from']}, search "
            f"ends at epoch {resume['search_epochs']}): gate weights, masks "
            'and MACs right after resume equal the checkpoint exactly: '
            f"**{resume['restored_exactly']}**; resumed run's final gates "
            f"and MACs equal the uninterrupted run's: "
            f"**{resume['final_equal']}** (final MACs "
            f"{resume['macs_final_resumed'] / 1e6:.4f}M vs "
            f"{resume['macs_final_uninterrupted'] / 1e6:.4f}M).")
    return '\n'.join(lines)


# plots -----------------------------------------------------------------
def _plt():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: str) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    _plt().close(fig)


def plot_widths(runs: List[dict], path: str, seed: int = 0) -> bool:
    """Kept width per layer vs the original (the paper's width figure)."""
    plt = _plt()
    pas = sorted([r for r in runs if r['method'] == 'pas'
                  and r['seed'] == seed], key=lambda r: -r['target'])
    if not pas:
        return False
    full = pas[0]['full_widths']
    layers = [f'L{i}' if i else 'stem' for i in range(len(full))]
    mid = sorted({r['target'] for r in pas},
                 key=lambda t: abs(t - 0.5))[0]
    others = [r for m in ('pas-fast', 'uniform', 'tp-magnitude-res', 'l1')
              for r in runs
              if r['method'] == m and r['seed'] == seed and r['target'] == mid]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6), sharey=True)
    for ax, series, title in (
            (axes[0], [(f"PaS, target {r['target']:.0%} (reached "
                        f"{r['macs_deployed'] / r['macs_full']:.1%})",
                        r['widths'], None) for r in pas],
             f'PaS searched widths (seed {seed})'),
            (axes[1], [(f"{METHOD_NAMES[r['method']]} "
                        f"({r['macs_deployed'] / r['macs_full']:.1%})",
                        r['widths'], COLORS[r['method']])
                       for r in [p for p in pas if p['target'] == mid]
                       + others],
             f'all methods at MACs target {mid:.0%} (seed {seed})')):
        n = len(series)
        width = 0.8 / max(n, 1)
        xs = range(len(full))
        ax.bar(xs, full, width=0.9, color='none', edgecolor='black',
               linewidth=1.2, label='original width')
        for i, (label, w, color) in enumerate(series):
            ax.bar([x - 0.4 + width * (i + 0.5) for x in xs], w, width=width,
                   label=label, color=color, alpha=0.85)
        ax.set_xticks(list(xs))
        ax.set_xticklabels(layers)
        ax.set_yscale('log', base=2)
        ax.set_xlabel('gated layer (RepVGG block output)')
        ax.set_title(title)
        ax.legend(fontsize=8, loc='upper left')
        ax.grid(axis='y', alpha=0.3)
    axes[0].set_ylabel('output channels kept (log2)')
    _save(fig, path)
    return True


def plot_search_curves(runs: List[dict], path: str) -> bool:
    """MACs ratio and val top-1 over epochs for the PaS runs."""
    plt = _plt()
    pas = [r for r in runs if r['method'] == 'pas' and r.get('history')]
    if not pas:
        return False
    targets = sorted({r['target'] for r in pas}, reverse=True)
    cmap = plt.get_cmap('viridis')
    color = {t: cmap(i / max(len(targets) - 1, 1) * 0.85)
             for i, t in enumerate(targets)}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.4))
    search_end = None
    for r in sorted(pas, key=lambda r: (-r['target'], r['seed'])):
        h, c = r['history'], color[r['target']]
        label = f"target {r['target']:.0%}" if r['seed'] == min(
            x['seed'] for x in pas if x['target'] == r['target']) else None
        ax1.plot([p['epoch'] for p in h['train']],
                 [100 * p['macs_ratio'] for p in h['train']], color=c,
                 alpha=0.8, lw=1.2, label=label)
        ax2.plot([v['epoch'] for v in h['val']],
                 [v['accuracy/top1'] for v in h['val']], 'o-', color=c,
                 alpha=0.8, lw=1.2, ms=3, label=label)
        fixed = [v['epoch'] for v in h['val'] if v['searched']]
        if fixed:
            search_end = min(fixed) - 1 if search_end is None else search_end
    for t in targets:
        ax1.axhline(100 * t, color=color[t], ls=':', lw=1)
    for ax in (ax1, ax2):
        if search_end is not None:
            ax.axvline(search_end, color='red', ls='--', lw=1)
            ax.text(search_end, ax.get_ylim()[0], ' search ends, masks fixed',
                    color='red', fontsize=8, va='bottom')
        ax.set_xlabel('epoch')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    ax1.set_ylabel('MACs, % of full (dotted: target)')
    ax1.set_title('MACs during PaS search and fine-tune (all seeds)')
    ax2.set_ylabel('val top-1 (%)')
    ax2.set_title('accuracy over epochs')
    lo = min(v['accuracy/top1'] for r in pas for v in r['history']['val'])
    ax2.set_ylim(max(lo - 2, 0), 100.5)
    _save(fig, path)
    return True


def plot_acc_vs_macs(rows: List[dict], path: str) -> bool:
    plt = _plt()
    if not rows:
        return False
    fig, ax = plt.subplots(figsize=(6.5, 4.4))
    for method in METHOD_ORDER:
        rs = sorted([r for r in rows if r['method'] == method],
                    key=lambda r: r['macs_ratio_mean'])
        if not rs:
            continue
        ax.errorbar([100 * r['macs_ratio_mean'] for r in rs],
                    [r['acc_mean'] for r in rs],
                    yerr=[r['acc_std'] for r in rs],
                    xerr=[100 * r['macs_ratio_std'] for r in rs],
                    fmt='o-' if method not in UNPRUNED else '*', ms=9 if
                    method in UNPRUNED else 5, capsize=3,
                    color=COLORS[method], label=METHOD_NAMES[method])
    ax.set_xlabel('MACs reached, % of full model')
    ax.set_ylabel('test top-1 (%), mean ± std over seeds')
    ax.set_title('accuracy at equal MACs')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)
    return True


def plot_convergence_grid(runs: List[dict], out: str, seed: int = 0
                          ) -> Dict[str, str]:
    """One convergence plot (kept channels per layer vs search iteration)
    per PaS run of ``seed``: ``out/convergence_<run>.png``."""
    plots = {}
    for r in runs:
        if r['method'].startswith('pas') and r['seed'] == seed and \
                r.get('record', {}).get('trace'):
            path = osp.join(out, f"convergence_{r['name']}.png")
            plot_convergence(r['record'], path,
                             f"{METHOD_NAMES.get(r['method'], r['method'])}"
                             f", target {r['target']:.0%}, seed {seed}")
            plots[f"convergence {r['name']}"] = path
    return plots


def _maybe(path):
    return json.load(open(path)) if osp.exists(path) else None


def write_report(out: str, meta: Optional[dict] = None) -> dict:
    runs = load_runs(out)
    rows = summarize(runs)
    plots = {}
    for name, fn, arg in (('widths', plot_widths, runs),
                          ('search_curves', plot_search_curves, runs),
                          ('acc_vs_macs', plot_acc_vs_macs, rows)):
        path = osp.join(out, f'{name}.png')
        if fn(arg, path):
            plots[name] = path
    plots.update(plot_convergence_grid(runs, out))
    latency = _maybe(osp.join(out, 'latency.json'))
    overhead = _maybe(osp.join(out, 'overhead.json'))
    ddp = _maybe(osp.join(out, 'ddp.json'))
    resume = _maybe(osp.join(out, 'resume.json'))
    meta = meta or _maybe(osp.join(out, 'meta.json')) or {}
    paired = paired_differences(runs, rows)
    paired_pruners = paired_differences(runs, rows, PRUNERS)
    pairs = [p for m in PAS_ROWS for p in all_pairs(runs, rows, m)]
    capacity = capacity_check(runs)  # at the lowest target
    targets = sorted({r['target'] for r in runs if r['method'] == 'scratch'})
    capacity_higher = [c for c in (capacity_check(runs, t)
                                   for t in targets[1:]) if c is not None]
    results = dict(meta=meta, summary=rows, paired=paired,
                   paired_pruners=paired_pruners, pairs=pairs,
                   capacity=capacity, capacity_higher=capacity_higher,
                   plots=plots,
                   latency=latency,
                   overhead=overhead, ddp=ddp, resume=resume,
                   runs=[{k: v for k, v in r.items()
                          if k not in ('history', 'record')} for r in runs])
    with open(osp.join(out, 'results.json'), 'w') as f:
        json.dump(results, f, indent=1)
    md = ['# pas-mm benchmark results', '']
    if meta:
        md.append(f"Data: `{meta.get('data_root')}`; pre-training "
                  f"{meta.get('pretrain_epochs')} epochs per seed, then "
                  f"{meta.get('search_epochs')} epochs search (PaS) / "
                  f"sparsity (slimming) + {meta.get('finetune_epochs')} "
                  'epochs fine-tune for every method (pruning baselines '
                  'fine-tune all of them); seeds in the runs '
                  f"{sorted({r['seed'] for r in runs})}; last command "
                  f"(seeds {meta.get('seeds')}): `{meta.get('command')}`.")
        md.append('')
    md += ['## Capacity check', '', capacity_text(capacity), '']
    if capacity_higher:
        md += ['At the higher targets (the lowest one guards the table):', '']
        md += ['- ' + capacity_text(c, guard=False)
               for c in capacity_higher] + ['']
    md += ['## Test top-1 at equal MACs', '',
           'Deployed models, test split, mean ± std over seeds (deployed '
           'MACs, % of full). Runs from the pre-trained net train on the '
           'official PaS schedule unless they say fast recipe.', '',
           method_table(rows), '',
           '## PaS (every recipe) vs every other method, paired by seed',
           '',
           'Test top-1 differences seed by seed (same pre-trained start);'
           ' 95% confidence interval of the mean difference from the t '
           'distribution with n - 1 degrees of freedom.', '',
           paired_table(pairs), '',
           '## PaS search diagnostics', '', search_table(runs), '',
           '## All numbers', '', results_table(rows), '']
    if latency:
        md += ['## Deploy latency (CPU)', latency_table(latency), '']
    text = checks_text(overhead, ddp, resume)
    if text:
        md += ['## Search overhead, DDP, resume', '', text, '']
    if plots:
        md += ['## Plots', ''] + [f'- {k}: `{v}`' for k, v in plots.items()]
    with open(osp.join(out, 'results.md'), 'w') as f:
        f.write('\n'.join(md) + '\n')
    return results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', default='work_dirs/benchmark')
    args = p.parse_args(argv)
    write_report(args.out)
    print(open(osp.join(args.out, 'results.md')).read())


if __name__ == '__main__':
    main()
