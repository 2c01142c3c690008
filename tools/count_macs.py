"""MACs of a PaS config: full, target, and how far its gates can go.

Builds the config's PaSModel (no data, no checkpoint) and prints the MACs
at ``input_shape`` with every channel kept, the target, and the reachable
minimum (every gate at ``min_keep``), for the backbone gates alone and for
all gates (neck and heads included), with the gates per part.

    python tools/count_macs.py CONFIG [--cfg-options model.gate_neck=True]
"""
import argparse
from collections import Counter

import pas_mm  # noqa: F401  (compat fixes before mmengine loads anything)
from mmengine.config import Config, DictAction

from pas_mm.cli import merge_cfg_options
from pas_mm.deploy import DeployError, build_pas_model
from pas_mm.errors import PaSConfigError
from pas_mm.budget.losses import format_macs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    cfg = Config.fromfile(args.config)
    merge_cfg_options(cfg, args.cfg_options)
    try:
        model = build_pas_model(cfg)
    except (DeployError, PaSConfigError, NotImplementedError) as e:
        parser.exit(1, f'count_macs: error: {e}\n')
    gates = model.gates()
    full = model.macs_full

    def part(name):  # 'backbone.layer1.0.gate', 'gates.neck-lateral_convs...'
        return (name.split('.')[0] if not name.startswith('gates.') else
                name.split('.')[1].split('-')[0])

    backbone_only = model.counter.macs_of({
        g: g.min_keep if part(name) == 'backbone' else g.num_channels
        for name, g in gates.items()})
    parts = Counter(part(name) for name in gates)

    def line(label, macs):
        return f'{label:<34}{format_macs(macs):>10}  {100 * macs / full:5.1f}%'

    print(f'input {tuple(model.input_shape)}, gates: ' +
          ', '.join(f'{k} {v}' for k, v in parts.items()))
    print(line('full', full))
    if model.macs_target is not None:  # None: a latency target
        print(line('target', model.macs_target))
    print(line('reachable, backbone gates only', backbone_only))
    print(line('reachable, all gates', model.macs_min))


if __name__ == '__main__':
    main()
