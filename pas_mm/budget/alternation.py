"""How much a width vector zig-zags: cost-greedy searches cut every other
layer to a sliver (e.g. ``11 2 20 4 42 6 91`` of ``16 16 32 32 64 64
128``), a pattern that trains worse from scratch than a uniform cut."""
from typing import Sequence


def alternation(widths: Sequence[int], full: Sequence[int]) -> float:
    """Share of the inner layers (those with two neighbours, in order) whose
    kept fraction ``width / full`` is below half of both neighbours'.

    ``0.0`` for a uniform cut; ``0.6`` for ``11 2 20 4 42 6 91`` of
    ``16 16 32 32 64 64 128`` (layers 2, 4 and 6 of the 5 inner ones).
    Fewer than three layers: 0.0.
    """
    if len(widths) != len(full):
        raise ValueError(f'alternation: {len(widths)} widths for '
                         f'{len(full)} layers')
    kept = [w / f for w, f in zip(widths, full)]
    inner = range(1, len(kept) - 1)
    if not inner:
        return 0.0
    low = sum(kept[i] < kept[i - 1] / 2 and kept[i] < kept[i + 1] / 2
              for i in inner)
    return low / len(inner)
