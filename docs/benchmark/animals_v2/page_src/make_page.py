"""Assemble ../results.md: head.md.in (the hand-written text, its links
relative to results.md) with the tables
of work_dirs/benchmark/animals_v2/results.md and recipe_study.md (run
tools/benchmark/report.py first)."""
import json, os.path as osp, re, shutil, glob
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))))
B = osp.join(ROOT, 'work_dirs/benchmark/animals_v2')
D = osp.join(ROOT, 'docs/benchmark/animals_v2')
gen = open(osp.join(B, 'results.md')).read()

def section(title):
    m = re.search(r'^## ' + re.escape(title) + r'.*?\n(.*?)(?=^## |\Z)', gen, re.S | re.M)
    return m.group(1).strip() if m else '(none yet)'

head = open(osp.join(osp.dirname(osp.abspath(__file__)), 'head.md.in')).read()
res = json.load(open(osp.join(B, 'results.json')))
runlist = '; '.join(
    f"{'100%' if r['method'] in ('full', 'unpruned-scratch') else format(r['target'], '.0%')}: "
    f"`{r['method']}` {r['seeds']}" for r in res['summary'])
head = head.replace('{{RUNLIST}}', runlist)
recipe = osp.join(B, 'recipe_study.md')
parts = {
    'CAPACITY': section('Capacity check'),
    'TABLE': section('Test top-1 at equal MACs'),
    'PAIRS': section('PaS (every recipe) vs every other method'),
    'SEARCH': section('PaS search diagnostics'),
    'ALL': section('All numbers'),
    'RECIPE': open(recipe).read().strip() if osp.exists(recipe) else '(not run yet)',
}
rows = {(r['method'], r['target']): r for r in res['summary']}
pairs = {(p['method'], p['best'], p['target']): p for p in res['pairs']}
def acc(m, t=0.15):
    r = rows[(m, 1.0 if m in ('full', 'unpruned-scratch') else t)]
    return f"{r['acc_mean']:.2f} ± {r['acc_std']:.2f} ({r['n']} seeds)"
def pr(a, b, t=0.15):
    p = pairs[(a, b, t)]; c = p['ci']
    txt = f"{c['mean']:+.2f} [{c['lo']:+.2f}, {c['hi']:+.2f}], {p['wins']} won / {p['losses']} lost of {c['n']}"
    return f"**{txt}**" if c['lo'] > 0 or c['hi'] < 0 else txt
runs = {r['name']: r for r in res['runs']}
def snaps(m, t):
    return [r['search']['snap'] for r in res['runs'] if r['method'] == m and r['target'] == t]
def reached(m, t):
    return sum(r['search']['first_within_tol_iter'] is not None for r in res['runs'] if r['method'] == m and r['target'] == t)
def vs(a, others, t):
    """'; vs X acc (pair)' for each of ``others`` run at ``t``."""
    return ''.join(f"; vs {LABEL[m]} {acc(m, t)} {pr(a, m, t)}"
                   for m in others if (m, t) in rows and (a, m, t) in pairs)
def at_target(t):
    if not any(k[1] == t for k in rows):
        return f'- **{t:.0%}**: not run.'
    line = f"- **{t:.0%} of the MACs** " + (
        "(per-MAC rows only, from the re-trained pre-trained nets; the "
        "others, above, from the first ones: paired by seed, not by identical start):"
        if t == 0.15 else "(every row from the same pre-trained nets, the fixed snap):")
    for a, base in (('pas', ('uniform', 'tp-magnitude-res', 'pas-fast')),
                    ('pas-fast', ('uniform-fast', 'tp-magnitude-res-fast', 'scratch')),
                    ('pas-cost', ('pas', 'uniform-fast', 'scratch')),
                    ('pas-fast-cost', ('pas-fast', 'uniform-fast', 'tp-magnitude-res-fast', 'scratch'))):
        if (a, t) not in rows or (t == 0.15 and a in ('pas', 'pas-fast')):
            continue
        q = snaps(a, t)
        line += (f"\n  - {LABEL[a]} {acc(a, t)}: within 2% of the target during the search in "
                 f"{reached(a, t)} of {len(q)} runs, searched to {rng([x['searched_ratio'] for x in q])}, "
                 f"snap {rng([x['moved'] for x in q])}{vs(a, base, t)}.")
    return line
LABEL = {'pas': 'PaS official', 'pas-fast': 'PaS fast', 'pas-cost': 'PaS official + per-MAC snap',
         'pas-fast-cost': 'PaS fast + per-MAC snap', 'uniform': 'uniform', 'tp-magnitude-res': 'Torch-Pruning L2', 'uniform-fast': 'uniform-fast',
         'tp-magnitude-res-fast': 'Torch-Pruning-fast', 'scratch': 'the narrower net from scratch'}
pas_s, fast_s = snaps('pas', 0.15), snaps('pas-fast', 0.15)
rng = lambda v: f"{100*min(v):.0f}-{100*max(v):.0f}%"
parts['VERDICT'] = f"""At 15% of the MACs, on a net where capacity matters (check above);
paired differences are test top-1 points, 95% t interval, bold where it
excludes 0:

- **PaS with the official schedule loses, to everything**: {acc('pas')},
  against uniform width {acc('uniform')} ({pr('pas', 'uniform')}),
  Torch-Pruning L2 {acc('tp-magnitude-res')} ({pr('pas', 'tp-magnitude-res')})
  and the fast PaS recipe ({pr('pas', 'pas-fast')}). Its search does not
  happen in this budget: 426 iterations at lr 0.005 (the official 0.1x of
  the stock LR, gates at x1 with weight decay) leave the MACs at
  {rng([s['searched_ratio'] for s in pas_s])} of full when the search ends;
  the snap then makes {rng([s['moved'] for s in pas_s])} of the full MACs'
  worth of cuts by gate value alone, and it cuts the second stage-2 block
  to 2 of its 32 channels (widths plot below). The official code searched
  ~22k iterations; the gate step per iteration here is the official one,
  the number of iterations 1/50 of it.
- **The official low LR also hurts the baselines' fine-tune**: every method
  is better under the fast recipe (one cosine from the stock LR): uniform
  {rows[('uniform', 0.15)]['acc_mean']:.2f} -> {rows[('uniform-fast', 0.15)]['acc_mean']:.2f},
  Torch-Pruning {rows[('tp-magnitude-res', 0.15)]['acc_mean']:.2f} -> {rows[('tp-magnitude-res-fast', 0.15)]['acc_mean']:.2f},
  PaS {rows[('pas', 0.15)]['acc_mean']:.2f} -> {rows[('pas-fast', 0.15)]['acc_mean']:.2f}.
- **Like for like under the fast recipe, PaS is level with the baselines**:
  PaS-fast {acc('pas-fast')} against uniform-fast {acc('uniform-fast')}
  ({pr('pas-fast', 'uniform-fast')}) and Torch-Pruning-fast
  {acc('tp-magnitude-res-fast')} ({pr('pas-fast', 'tp-magnitude-res-fast')}).
  It lands at {100*rows[('pas-fast', 0.15)]['macs_ratio_mean']:.1f}% of the MACs, not 15%:
  the 15% PaS runs predate the snap fix (the snap stopped at its first
  crossing of the target, and one channel of a 32x32 layer is 1-6% of the
  MACs here), so it is compared at slightly fewer MACs. The 30% and 10%
  runs have the fixed snap (29.8-30.3% for 30%).
- **The other pruners at 15%** (from the re-trained pre-trained nets,
  see "What was run"): L1-norm {acc('l1')}, Torch-Pruning Taylor
  {acc('tp-taylor-res')}: both with Torch-Pruning L2 under the official
  schedule. Network slimming {acc('slim')} (BN-L1 weight 5e-3 for the 2
  search epochs, not tuned) is the worst row; a guess, not measured: a
  penalty that short and at the official LR barely separates the BN
  scales it then prunes by.
  PaS-fast vs L1 {pr('pas-fast', 'l1')}, vs Taylor {pr('pas-fast', 'tp-taylor-res')}.
- **Nothing pruned beats the narrower net trained from scratch for the same
  total epochs**, {acc('scratch')} (PaS-fast {pr('pas-fast', 'scratch')};
  PaS official {pr('pas', 'scratch')}), and the unpruned net trained on,
  {acc('full')}, is above every 15% net.
- **The search itself**: no PaS run at either recipe came within 2% of the
  target during its search; every snap is loud (official {rng([s['moved'] for s in pas_s])},
  fast {rng([s['moved'] for s in fast_s])} of the MACs). The convergence
  plots show why: the MACs-loss gradient on a gate is proportional to its
  channel's MACs, so the gates of the expensive high-resolution layers
  (stem, stage 1, stage 2) fall first and the cheap late layers (64-128
  channels, each channel < 0.1% of the MACs) barely move in 426
  iterations."""
parts['OTHER'] = '\n'.join(at_target(t) for t in (0.5, 0.3, 0.15, 0.1))
_t = sum(json.load(open(f))['train_seconds'] for f in glob.glob(osp.join(B, '*', '*', 'result.json')))
parts['TRAINMIN'] = f'{_t / 60:.0f}'
for k, v in parts.items():
    head = head.replace('{{' + k + '}}', v)
open(osp.join(D, 'results.md'), 'w').write(head)
for png in ['acc_vs_macs.png', 'widths.png', 'search_curves.png'] + [
        osp.basename(p) for p in glob.glob(osp.join(B, 'convergence_*.png'))]:
    if osp.exists(osp.join(B, png)):
        shutil.copy(osp.join(B, png), osp.join(D, png))
print(f'wrote {osp.join(D, "results.md")}')
