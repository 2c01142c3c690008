"""Snap-to-target: the search ends within 1% of the MACs target by flipping
the channels whose gate weight is nearest the threshold."""
import pytest
import torch
from conftest import tiny_repvgg_classifier
from mmengine.registry import MODELS

from pas_mm.budget import snap_to_target


def pas_model(gate_values, target=0.5):
    """Tiny PaS model whose gate weights come from ``gate_values(C)``."""
    model = MODELS.build(dict(
        type='PaSModel', architecture=tiny_repvgg_classifier(),
        input_shape=(3, 32, 32),
        macs_loss=dict(type='MACsLoss', target=target)))
    g = torch.Generator().manual_seed(0)
    for gate in model.gates().values():
        gate.weight.data = gate_values(gate.num_channels, g)
    return model


def flipped(before, after):
    return [(g, c) for g in before for c in range(g.num_channels)
            if bool(before[g][c]) != bool(after[g][c])]


@pytest.mark.parametrize('low, high, direction', [
    (0.45, 1.0, 'drop'),   # most gates open: far above a 50% target
    (0.0, 0.56, 'add'),    # most gates closed: far below it
])
def test_snap_flips_the_channels_nearest_the_threshold(low, high, direction):
    model = pas_model(lambda c, g: low + (high - low) * torch.rand(c,
                                                                  generator=g))
    gates = list(model.gates().values())
    before = {g: g.hard_mask() for g in gates}
    target = model.macs_target
    start = model.counter.macs_of({g: int(m.sum()) for g, m in
                                   before.items()})
    assert abs(start / target - 1) > 0.2  # the search left it far off
    after = snap_to_target(model.counter, before,
                           {g: g.weight for g in gates}, target, 0.01)
    reached = model.counter.macs_of({g: int(m.sum()) for g, m in
                                     after.items()})
    assert abs(reached / target - 1) <= 0.01
    changed = flipped(before, after)
    assert changed and all(bool(before[g][c]) == (direction == 'drop')
                           for g, c in changed)
    # every flipped channel's weight is nearer the threshold than every
    # channel of the same side that stayed as it was
    moved = [float(g.weight[c].detach()) for g, c in changed]
    stayed = [float(g.weight[c].detach()) for g in gates
              for c in range(g.num_channels)
              if bool(before[g][c]) == bool(after[g][c]) == (
                  direction == 'drop')]
    if direction == 'drop':
        assert max(moved) <= min(stayed)
    else:
        assert min(moved) >= max(stayed)


def test_snap_leaves_masks_on_target_alone_and_keeps_min_keep():
    model = pas_model(lambda c, g: torch.rand(c, generator=g))
    gates = list(model.gates().values())
    masks = {g: g.hard_mask() for g in gates}
    here = model.counter.macs_of({g: int(m.sum()) for g, m in masks.items()})
    same = snap_to_target(model.counter, masks, {g: g.weight for g in gates},
                          here, 0.01)
    assert all(torch.equal(same[g], masks[g]) for g in gates)
    # a target below the reachable minimum stops at every gate's min_keep
    low = snap_to_target(model.counter, masks, {g: g.weight for g in gates},
                         model.macs_min / 2, 0.01)
    assert all(int(low[g].sum()) == g.min_keep for g in gates)


def test_fix_gates_snaps_only_when_asked():
    values = lambda c, g: 0.45 + 0.55 * torch.rand(c, generator=g)  # noqa
    model = pas_model(values, target=0.4)
    model.fix_gates()
    unsnapped = model.counter.kept_macs() / model.macs_target
    assert unsnapped > 1.2
    model = pas_model(values, target=0.4)
    model.fix_gates(snap_tol=0.01)
    assert model.searched
    assert abs(model.counter.kept_macs() / model.macs_target - 1) <= 0.01


def test_fix_rejects_a_wrong_mask():
    model = pas_model(lambda c, g: torch.ones(c))
    gate = next(iter(model.gates().values()))
    with pytest.raises(ValueError, match='keeping 0 channels; need '
                       r'\(32,\) keeping >= min_keep=1'):
        gate.fix(torch.zeros(gate.num_channels, dtype=torch.bool))


@pytest.mark.parametrize('divisor', [4, 8])
def test_round_to_divisor_keeps_macs_near_the_target(divisor):
    from pas_mm.budget import round_to_divisor
    model = pas_model(lambda c, g: torch.rand(c, generator=g))
    gates = list(model.gates().values())
    before = {g: g.hard_mask() for g in gates}
    scores = {g: g.weight for g in gates}
    target = model.macs_target
    after = round_to_divisor(model.counter, before, scores, target, divisor)
    widths = {g: int(m.sum()) for g, m in after.items()}
    assert all(w % divisor == 0 or w == g.num_channels
               for g, w in widths.items())
    assert all(w >= max(g.min_keep, 1) for g, w in widths.items())
    # nearer the target than rounding every width to its nearest multiple
    nearest = {g: max(divisor, round(int(m.sum()) / divisor) * divisor)
               for g, m in before.items()}
    gap = abs(model.counter.macs_of(widths) - target)
    assert gap <= abs(model.counter.macs_of(nearest) - target)
    assert gap / target < 0.05
    for g in gates:  # narrowed: the lowest kept scores go first
        kept, was = after[g], before[g]
        if widths[g] < int(was.sum()):
            assert bool((kept <= was).all())
            assert float(scores[g][kept].min()) >= float(
                scores[g][was & ~kept].max())
        else:
            assert bool((kept >= was).all())


def test_search_hook_rounds_widths_and_checks_the_divisor():
    from pas_mm.hooks import PaSSearchHook
    with pytest.raises(ValueError, match=r'divisor=0 must be an integer >= 1'):
        PaSSearchHook(search_epochs=1, divisor=0)
    model = pas_model(lambda c, g: torch.rand(c, generator=g))
    model.fix_gates(snap_tol=0.01, divisor=8)
    assert model.searched
    assert all(g.num_kept() % 8 == 0 or g.num_kept() == g.num_channels
               for g in model.gates().values())


@pytest.mark.parametrize('target', [0.5, 0.6, 0.7, 0.8, 0.9])
def test_snap_lands_in_the_band_when_the_next_channel_would_jump_it(target):
    """The lowest-scored channels are the stem's, each over 0.2% of the
    MACs: one of them would jump across a +-0.05% band, so the snap passes
    over it for cheaper ones and lands inside (it used to stop at the first
    crossing, up to one stem channel below the target)."""
    model = pas_model(lambda c, g: 0.6 + 0.4 * torch.rand(c, generator=g),
                      target=target)
    gates = list(model.gates().values())
    gates[0].weight.data = 0.51 + 0.01 * torch.rand(gates[0].num_channels)
    full = {g: torch.ones(g.num_channels, dtype=torch.bool) for g in gates}
    widths = {g: g.num_channels for g in gates}
    widths[gates[0]] -= 1
    assert 1 - model.counter.macs_of(widths) / model.macs_full > 0.002
    snapped = snap_to_target(model.counter, full,
                             {g: g.weight for g in gates},
                             model.macs_target, 0.0005)
    reached = model.counter.macs_of({g: int(m.sum()) for g, m in
                                     snapped.items()})
    assert abs(reached / model.macs_target - 1) <= 0.0005


def test_snap_per_cost_takes_expensive_channels_before_cheap_ones():
    """A search stopped far above the target with the cheapest layer's
    gates nearest the threshold: by gate value the snap cuts that layer to
    min_keep and still has to cut on; per unit of MACs it takes the most
    expensive layer's channels (a slightly larger margin each), spends less
    total margin and leaves the cheap layer whole."""
    model = pas_model(lambda c, g: torch.full((c, ), 0.9))
    gates = list(model.gates().values())
    full = {g: g.num_channels for g in gates}
    base = model.counter.macs_of(full)

    def unit(g):  # MACs of one channel of g at full width
        return base - model.counter.macs_of({**full, g: full[g] - 1})

    cheap, dear = min(gates, key=unit), max(gates, key=unit)
    assert unit(dear) > 4 * unit(cheap)
    cheap.weight.data.fill_(0.51)  # margin 0.01
    dear.weight.data.fill_(0.53)   # margin 0.03
    cheap_all = unit(cheap) * (cheap.num_channels - cheap.min_keep)
    target = base - 1.2 * cheap_all
    assert base - target < unit(dear) * (dear.num_channels - dear.min_keep)
    masks = {g: g.hard_mask() for g in gates}
    by = {}
    for per_cost in (False, True):
        scores = {g: g.weight - g.threshold for g in gates}
        out = snap_to_target(model.counter, masks, scores, target, 0.01,
                             per_cost)
        reached = model.counter.macs_of({g: int(m.sum()) for g, m in
                                         out.items()})
        assert abs(reached / target - 1) <= 0.01
        by[per_cost] = (out, sum(float(g.weight[c] - g.threshold)
                                 for g, c in flipped(masks, out)))
    assert int(by[False][0][cheap].sum()) == cheap.min_keep
    assert int(by[True][0][cheap].sum()) == cheap.num_channels
    assert by[True][1] < by[False][1]
    wired = pas_model(lambda c, g: torch.full((c, ), 0.9),  # the same,
                      target=target / model.macs_full)   # via fix_gates
    twins = dict(zip(gates, wired.gates().values()))
    for g in (cheap, dear):
        twins[g].weight.data.copy_(g.weight.data)
    wired.fix_gates(snap_tol=0.01)  # per cost is the default
    assert all(torch.equal(twins[g].fixed_mask, by[True][0][g])
               for g in gates)


def test_search_hook_checks_snap_per_cost():
    from pas_mm.hooks import PaSSearchHook
    assert PaSSearchHook(search_epochs=1).snap_per_cost is True  # val's pick
    with pytest.raises(ValueError, match=r"snap_per_cost='yes' must be True "
                       'or False'):
        PaSSearchHook(search_epochs=1, snap_per_cost='yes')
