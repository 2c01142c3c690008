"""Aggregate benchmark runs into results.json / results.md and PNG plots.

    python tools/benchmark/report.py --out work_dirs/benchmark

(run_all.py calls this at the end; rerun it alone to redraw.)
"""
import argparse
import glob
import json
import os.path as osp
import statistics
from typing import Dict, List, Optional

METHOD_NAMES = {
    'pas': 'PaS (search + fine-tune)',
    'uniform': 'Uniform width',
    'l1': 'L1-norm (fused filters)',
    'slim': 'Network slimming (BN L1)',
    'scratch': 'Uniform narrower, from scratch',
    'tp-magnitude-res': 'Torch-Pruning L2 magnitude, training form',
    'tp-taylor-res': 'Torch-Pruning Taylor, training form',
    'tp-bnscale-res': 'Torch-Pruning BN scale, training form',
    'tp-magnitude-fused': 'Torch-Pruning L2 magnitude, fused form',
    'tp-taylor-fused': 'Torch-Pruning Taylor, fused form',
    'full': 'Unpruned reference (pre-trained + same epochs)',
}
METHOD_ORDER = list(METHOD_NAMES)
BASELINES = [m for m in METHOD_ORDER if m not in ('pas', 'full')]
PRUNERS = [m for m in BASELINES if m != 'scratch']  # same start as PaS
COLORS = {'pas': 'tab:red', 'uniform': 'tab:gray', 'l1': 'tab:blue',
          'slim': 'tab:green', 'scratch': 'tab:brown',
          'tp-magnitude-res': 'tab:purple', 'tp-taylor-res': 'tab:pink',
          'tp-bnscale-res': 'tab:olive', 'tp-magnitude-fused': 'tab:cyan',
          'tp-taylor-fused': 'tab:orange', 'full': 'black'}


def load_runs(out: str) -> List[dict]:
    """result.json (+ history.json) of every finished final run."""
    runs = []
    for path in sorted(glob.glob(osp.join(out, 'runs', '*', 'result.json'))):
        r = json.load(open(path))
        if r['method'] == 'pretrain':
            continue  # the shared starting point, not a method
        r['name'] = osp.basename(osp.dirname(path))
        hist = osp.join(osp.dirname(path), 'history.json')
        if osp.exists(hist):
            r['history'] = json.load(open(hist))
        runs.append(r)
    return runs


def _mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.mean(values), std


def summarize(runs: List[dict]) -> List[dict]:
    """One row per (method, target): mean/std over seeds."""
    groups: Dict[tuple, List[dict]] = {}
    for r in runs:
        key = (r['method'], 1.0 if r['method'] == 'full' else r['target'])
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
        target = '100% (none)' if r['method'] == 'full' else \
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
    targets = sorted({r['target'] for r in rows if r['method'] != 'full'},
                     reverse=True)
    cell = {(r['method'], r['target']): r for r in rows}
    lines = ['| method | ' + ' | '.join(f'{t:.0%} MACs' for t in targets) +
             ' |', '|---' * (len(targets) + 1) + '|']
    for m in METHOD_ORDER:
        if m == 'full':
            r = cell.get(('full', 1.0))
            if r:
                lines.append(f"| {METHOD_NAMES[m]} | "
                             f"{_pm(r['acc_mean'], r['acc_std'])} (100%)"
                             + ' |' * len(targets))
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
        lines.append(f'| {name} | ' + ' | '.join(vals) + ' |')
    return '\n'.join(lines)


def paired_differences(runs: List[dict], rows: List[dict],
                       candidates=BASELINES) -> List[dict]:
    """Per target: PaS minus the best of ``candidates`` (by mean test
    top-1), seed by seed, over the seeds both have."""
    out = []
    for t in sorted({r['target'] for r in rows if r['method'] == 'pas'},
                    reverse=True):
        base = [r for r in rows if r['target'] == t
                and r['method'] in candidates]
        if not base:
            continue
        best = max(base, key=lambda r: r['acc_mean'])['method']
        acc = {(r['method'], r['seed']): r['acc_test'] for r in runs
               if r['target'] == t}
        seeds = sorted(s for (m, s) in acc if m == 'pas'
                       and (best, s) in acc)
        diffs = [acc[('pas', s)] - acc[(best, s)] for s in seeds]
        mean, std = _mean_std(diffs)
        out.append(dict(target=t, best=best, seeds=seeds, diffs=diffs,
                        mean=mean, std=std,
                        wins=sum(d > 0 for d in diffs),
                        losses=sum(d < 0 for d in diffs)))
    return out


def paired_table(paired: List[dict]) -> str:
    lines = ['| MACs target | best baseline (mean test top-1) | PaS minus it, '
             'per seed | mean ± std | PaS wins / losses |',
             '|---|---|---|---|---|']
    for p in paired:
        per_seed = ', '.join(f'{d:+.2f}' for d in p['diffs'])
        lines.append(f"| {p['target']:.0%} | {METHOD_NAMES[p['best']]} | "
                     f"{per_seed} | {_pm(p['mean'], p['std'])} | "
                     f"{p['wins']} / {p['losses']} |")
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
    others = [r for m in METHOD_ORDER[1:4] for r in runs
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
                    fmt='o-' if method != 'full' else '*', ms=9 if
                    method == 'full' else 5, capsize=3,
                    color=COLORS[method], label=METHOD_NAMES[method])
    ax.set_xlabel('MACs reached, % of full model')
    ax.set_ylabel('test top-1 (%), mean ± std over seeds')
    ax.set_title('accuracy at equal MACs')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)
    return True


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
    latency = _maybe(osp.join(out, 'latency.json'))
    overhead = _maybe(osp.join(out, 'overhead.json'))
    ddp = _maybe(osp.join(out, 'ddp.json'))
    resume = _maybe(osp.join(out, 'resume.json'))
    meta = meta or _maybe(osp.join(out, 'meta.json')) or {}
    paired = paired_differences(runs, rows)
    paired_pruners = paired_differences(runs, rows, PRUNERS)
    results = dict(meta=meta, summary=rows, paired=paired,
                   paired_pruners=paired_pruners, plots=plots,
                   latency=latency,
                   overhead=overhead, ddp=ddp, resume=resume,
                   runs=[{k: v for k, v in r.items() if k != 'history'}
                         for r in runs])
    with open(osp.join(out, 'results.json'), 'w') as f:
        json.dump(results, f, indent=1)
    md = ['# pas-mm benchmark results', '']
    if meta:
        md.append(f"Data: `{meta.get('data_root')}`; pre-training "
                  f"{meta.get('pretrain_epochs')} epochs per seed, then "
                  f"{meta.get('search_epochs')} epochs search (PaS) / "
                  f"sparsity (slimming) + {meta.get('finetune_epochs')} "
                  'epochs fine-tune for every method (pruning baselines '
                  'fine-tune all of them); seeds '
                  f"{meta.get('seeds')}; command: `{meta.get('command')}`.")
        md.append('')
    md += ['## Test top-1 at equal MACs', '',
           'Deployed models, test split, mean ± std over seeds (deployed '
           'MACs, % of full).', '', method_table(rows), '',
           '## PaS vs the best baseline, paired by seed', '',
           paired_table(paired), '',
           '## PaS vs the best pruning method from the same pre-trained '
           'weights (all but scratch), paired by seed', '',
           paired_table(paired_pruners), '', '## All numbers', '',
           results_table(rows), '']
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
