"""What a PaS search did: when it reached the target, what moved after,
how much the end-of-search snap decided, and the kept widths over time.

The official code (github liyy201912/PaS, ``autoprune.py::Convergence``)
records the kept channels of every gated layer at every iteration; this
record keeps the same step function losslessly by storing a row only
when some width changes (and the first and last iterations).
"""
from typing import Dict, List, Optional

import torch

from ..budget.alternation import alternation

TARGET_TOL = 0.02  # "reached the target": budget within 2% of it
LOUD_SNAP = 0.03  # a snap moving more than 3% of the full budget is loud


class SearchRecord:
    """Convergence record and summary of one PaS search.

    Call :meth:`start` when the search starts (or resumes), :meth:`update`
    after every search iteration and :meth:`end` once the masks are fixed.
    Costs are in the model's budget units (MACs, or predicted ms under a
    latency loss), given as ratios of the full model's.

    Args:
        tol: relative distance to the target that counts as reached.
        loud_snap: snap moves above this fraction of the full budget are
            reported as loud (``summary()['snap']['loud']``).
    """

    def __init__(self, tol: float = TARGET_TOL, loud_snap: float = LOUD_SNAP):
        self.tol = tol
        self.loud_snap = loud_snap
        self.layers: List[str] = []
        self.full: List[int] = []
        self.target_ratio: Optional[float] = None
        self.trace: List[list] = []  # [iter, budget ratio, width per layer]
        self.first_within: Optional[int] = None
        self.flips = 0
        self.flips_after_target = 0
        self.iters = 0
        self.snap: Optional[dict] = None
        self._masks: Optional[List[torch.Tensor]] = None

    @staticmethod
    def _ratio(model) -> float:
        return float(model.budget.kept_cost() / model.budget_full)

    def start(self, model, iteration: int) -> None:
        """Masks at the start (or resume) of the search, at ``iteration``
        (iterations done so far)."""
        gates = model.gates()
        self.layers = list(gates)
        self.full = [g.num_channels for g in gates.values()]
        self.target_ratio = float(model.budget_target / model.budget_full)
        self._masks = [g.hard_mask() for g in gates.values()]
        if not self.trace:
            self.trace.append([iteration, self._ratio(model)] +
                              [int(m.sum()) for m in self._masks])

    def update(self, model, iteration: int) -> None:
        """After search iteration ``iteration`` (1-based count)."""
        masks = [g.hard_mask() for g in model.gates().values()]
        flips = sum(int((a ^ b).sum()) for a, b in zip(masks, self._masks))
        ratio = self._ratio(model)
        self.iters = iteration
        self.flips += flips
        if self.first_within is not None:
            self.flips_after_target += flips
        elif abs(ratio / self.target_ratio - 1) <= self.tol:
            self.first_within = iteration
        widths = [int(m.sum()) for m in masks]
        if widths != self.trace[-1][2:]:
            self.trace.append([iteration, ratio] + widths)
        self._masks = masks

    def end(self, model, searched: Dict[str, torch.Tensor],
            searched_ratio: float) -> dict:
        """The snap's part, once the masks are fixed: ``searched`` are the
        masks (gate path -> bool (C,)) the search left, ``searched_ratio``
        their budget ratio. Returns :meth:`summary`."""
        dropped = restored = 0
        for name, g in model.gates().items():
            before, after = searched[name], g.hard_mask()
            dropped += int((before & ~after).sum())
            restored += int((~before & after).sum())
        ratio = self._ratio(model)
        self.snap = dict(searched_ratio=searched_ratio, fixed_ratio=ratio,
                         dropped=dropped, restored=restored,
                         moved=abs(ratio - searched_ratio),
                         loud=abs(ratio - searched_ratio) > self.loud_snap)
        widths = [g.num_kept() for g in model.gates().values()]
        self.snap['searched_alternation'] = alternation(
            [int(searched[n].sum()) for n in model.gates()], self.full)
        self.trace.append([self.iters, ratio] + widths)
        return self.summary()

    def summary(self) -> dict:
        """Scalars of the search (no trace), JSON-ready."""
        return dict(target_ratio=self.target_ratio, tol=self.tol,
                    search_iters=self.iters,
                    first_within_tol_iter=self.first_within,
                    flips=self.flips,
                    flips_after_target=self.flips_after_target,
                    alternation=alternation(self.trace[-1][2:], self.full)
                    if self.trace else None,
                    snap=self.snap)

    def to_dict(self) -> dict:
        """Summary plus the convergence trace (written as JSON)."""
        return dict(self.summary(), layers=self.layers, full=self.full,
                    trace_columns=['iter', 'ratio'] + self.layers,
                    trace=self.trace)

    def state_dict(self) -> dict:
        return self.to_dict()

    def load_state_dict(self, state: dict) -> None:
        self.layers, self.full = state['layers'], state['full']
        self.target_ratio = state['target_ratio']
        self.trace = [list(r) for r in state['trace']]
        self.first_within = state['first_within_tol_iter']
        self.flips = state['flips']
        self.flips_after_target = state['flips_after_target']
        self.iters = state['search_iters']
        self.snap = state['snap']

    def message(self) -> str:
        """One log line of the summary."""
        s = self.summary()
        reached = (f"within {self.tol:.0%} of the target at iter "
                   f"{s['first_within_tol_iter']} of {s['search_iters']}, "
                   f"{s['flips_after_target']} channel flips after that"
                   if s['first_within_tol_iter'] is not None else
                   f"never within {self.tol:.0%} of the target in "
                   f"{s['search_iters']} iters")
        text = (f"PaS search record: {reached}; {s['flips']} flips in all; "
                f"alternation {s['alternation']:.2f}")
        if self.snap:
            sn = self.snap
            text += (f"; the snap flipped {sn['dropped'] + sn['restored']} "
                     f"channels ({sn['dropped']} dropped, {sn['restored']} "
                     f"restored), {sn['searched_ratio']:.1%} -> "
                     f"{sn['fixed_ratio']:.1%} of full (target "
                     f"{self.target_ratio:.1%})")
        return text


def plot_convergence(record: dict, path: str, title: str = '') -> None:
    """Kept fraction of every gated layer and the budget ratio vs search
    iteration (``record``: :meth:`SearchRecord.to_dict`), as a PNG."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    trace = record['trace']
    iters = [r[0] for r in trace]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for j, (name, full) in enumerate(zip(record['layers'], record['full'])):
        ax1.step(iters, [r[2 + j] / full for r in trace], where='post',
                 label=f"{name.replace('.gate', '')} ({full})", lw=1.2)
    ax1.set_ylabel('kept channels / original')
    ax1.legend(fontsize=6, ncol=2)
    ax2.step(iters, [100 * r[1] for r in trace], where='post', color='k')
    ax2.axhline(100 * record['target_ratio'], color='r', ls=':')
    if record['first_within_tol_iter'] is not None:
        ax2.axvline(record['first_within_tol_iter'], color='g', ls='--',
                    lw=1, label='first within tol')
        ax2.legend(fontsize=8)
    ax2.set_ylabel('budget, % of full (dotted: target)')
    for ax in (ax1, ax2):
        ax.set_xlabel('search iteration')
        ax.grid(alpha=0.3)
    fig.suptitle(title or 'PaS search convergence')
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
