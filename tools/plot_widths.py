"""Per-layer widths of a searched subnet against stock networks (the PaS
paper's width figure).

SUBNET is a ``pas_subnet.json`` (``work_dir/pas_subnet.json`` after the
search, or the one ``deploy_reparam.py`` writes) or a config whose backbone
has the widths (e.g. a released subnet's deploy config); each ``--compare``
is any model config (stock mmpretrain/mmdet, PaS or deploy form) whose
backbone pas_mm can reproduce. Layers are matched by name; the table is
printed and the figure written to --out.

    python tools/plot_widths.py work_dirs/X/pas_subnet.json \\
        --compare mmpretrain::repvgg/repvgg-B0_8xb32_in1k.py --out widths.png
"""
import argparse
import json
import os.path as osp
import tempfile

import pas_mm  # noqa: F401  (compat fixes before mmengine loads anything)
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope

from pas_mm.errors import PaSConfigError
from pas_mm.models.layer_widths import (backbone_cfg_of, backbone_widths,
                                        subnet_widths)


def load_config(path: str) -> Config:
    """``Config.fromfile``, also for ``mmpretrain::``-style names."""
    if '::' not in path:
        return Config.fromfile(path)
    with tempfile.NamedTemporaryFile('w', suffix='.py') as f:
        f.write(f'_base_ = [{path!r}]\n')
        f.flush()
        return Config.fromfile(f.name)


def widths_of(path: str, options=None) -> dict:
    if path.endswith('.json'):
        with open(path) as f:
            return subnet_widths(json.load(f))
    cfg = load_config(path)
    cfg.merge_from_dict(options or {})
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    return backbone_widths(backbone_cfg_of(cfg))


def label_of(path: str) -> str:
    name = path.split('::')[-1]
    return osp.splitext(osp.basename(name))[0]


def plot(series: dict, names: list, out: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(max(6, 0.28 * len(names)), 3.6))
    x = range(len(names))
    for i, (label, widths) in enumerate(series.items()):
        ys = [widths.get(n) for n in names]
        ax.plot([j for j, y in zip(x, ys) if y is not None],
                [y for y in ys if y is not None], marker='os^vD'[i % 5],
                markersize=4, linewidth=1.2, label=label)
    ax.set_yscale('log', base=2)
    ax.set_xticks(list(x))
    ax.set_xticklabels([n.replace('.gate', '') for n in names], rotation=90,
                       fontsize=7)
    ax.set_ylabel('output channels')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('subnet', help='pas_subnet.json or a config')
    parser.add_argument('--compare', nargs='*', default=[],
                        help='model configs to draw beside it')
    parser.add_argument('--compare-options', nargs='+', action=DictAction,
                        help='config overrides for every --compare config, '
                        'e.g. model.backbone.base_channels=16 to match a '
                        'scaled-down search')
    parser.add_argument('--label', help='legend name of SUBNET')
    parser.add_argument('--out', default='widths.png')
    args = parser.parse_args()
    try:
        series = {args.label or label_of(args.subnet): widths_of(args.subnet)}
        for path in args.compare:
            series[label_of(path)] = widths_of(path, args.compare_options)
    except (PaSConfigError, FileNotFoundError, KeyError) as e:
        parser.exit(1, f'plot_widths: error: {e}\n')
    names = list(max(series.values(), key=len))
    names += [n for w in series.values() for n in w if n not in names]
    labels = list(series)
    print('layer'.ljust(16) + ''.join(f'{lb[:18]:>20}' for lb in labels))
    for n in names:
        print(n.replace('.gate', '').ljust(16) + ''.join(
            f"{series[lb].get(n, '-'):>20}" for lb in labels))
    plot(series, names, args.out)
    print(f'written: {args.out}')


if __name__ == '__main__':
    main()
