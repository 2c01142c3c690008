"""Measure the latency tables of a config's LatencyLoss on this device.

Builds the config's PaSModel with its ``LatencyLoss`` allowed to measure:
every gated layer missing from the table file is timed on its grid of
kept widths, and the full-width deployed model once; then prints each
layer's latency at full and at minimum width, the full model's measured
latency, the overhead the tables miss, the target and the reachable
minimum. To search for a device on another machine, run this on the
device and copy the table file to the training machine
(``LatencyLoss(table_file=..., measure=False)``). ``--check N`` deploys N
random widths and times each in turns with the full model: predicted
against measured.

    python tools/latency_table.py CONFIG [--device cpu|cuda] \
        [--batch-size N] [--threads N] [--table-file FILE] [--check N] \
        [--cfg-options ...]
"""
import argparse

import pas_mm  # noqa: F401  (compat fixes before mmengine loads anything)
import torch
from mmengine.config import Config, DictAction

from pas_mm.cli import merge_cfg_options
from pas_mm.deploy import DeployError, build_pas_model
from pas_mm.errors import PaSConfigError
from pas_mm.budget.latency_table import interpolate


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--device', choices=('cpu', 'cuda'))
    parser.add_argument('--batch-size', type=int)
    parser.add_argument('--threads', type=int)
    parser.add_argument('--table-file')
    parser.add_argument('--check', type=int, default=0, metavar='N',
                        help='time N random widths: predicted vs measured')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    cfg = Config.fromfile(args.config)
    merge_cfg_options(cfg, args.cfg_options)
    loss = cfg.get('model', {}).get('macs_loss') or {}
    if loss.get('type') != 'LatencyLoss':
        parser.exit(1, f'latency_table: error: {args.config} searches with '
                    f"{loss.get('type')}, not LatencyLoss; set model."
                    "macs_loss=dict(type='LatencyLoss', target=...)\n")
    loss['measure'] = True
    for key in ('device', 'batch_size', 'threads', 'table_file'):
        if getattr(args, key) is not None:
            loss[key] = getattr(args, key)
    try:
        model = build_pas_model(cfg)
    except (DeployError, PaSConfigError, NotImplementedError) as e:
        parser.exit(1, f'latency_table: error: {e}\n')
    table, budget = model.macs_loss.table, model.budget
    print(f'{table.path}\n{table.name}, batch {table.batch_size}')
    print(f"{'layer':<44}{'full ms':>10}{'min ms':>10}")
    for e, grids in zip(budget.entries, budget.grids):
        full = sum(float(interpolate(g, g[0][-1], g[1][-1])) for g in grids)
        low = sum(float(interpolate(g, g[0][0], g[1][0])) for g in grids)
        print(f'{e.name:<44}{full:>10.3f}{low:>10.3f}')
    print(f'full deployed model, measured: {budget.full():.3f} ms '
          f'(fitted: overhead {budget.overhead:.3f} ms + {budget.scale:.3f}'
          ' x tables)')
    print(f'target: {model.budget_target:.3f} ms; reachable minimum: '
          f'{model.budget_min:.3f} ms')
    check(model, args.check)


def check(model, n: int) -> None:
    """Predicted vs measured ratio (to the full model) of n random widths."""
    gen = torch.Generator().manual_seed(0)
    errors = []
    for i in range(n):
        masks = {}
        for g in model.gates().values():
            keep = int(torch.randint(g.min_keep, g.num_channels + 1, (),
                                     generator=gen))
            masks[g] = torch.arange(g.num_channels) < keep
        full_ms, ms = model.deployed_latency(model.macs_loss.table, masks)
        predicted = model.budget.cost_of(
            {g: int(m.sum()) for g, m in masks.items()}) / model.budget_full
        errors.append(predicted / (ms / full_ms) - 1)
        print(f'random widths {i + 1}: predicted {predicted:.1%} of full, '
              f'measured {ms / full_ms:.1%} ({ms:.3f} / {full_ms:.3f} ms), '
              f'error {errors[-1]:+.1%}')
    if errors:
        print(f'mean |error| {sum(map(abs, errors)) / n:.1%}, max '
              f'{max(map(abs, errors)):.1%}')


if __name__ == '__main__':
    main()
