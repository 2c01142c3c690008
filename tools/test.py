"""Evaluate a checkpoint with the config's test loop and metrics.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options k=v]
"""
import argparse

import pas_mm  # noqa: F401  (compat fixes before mmengine loads anything)
from mmengine.runner import Runner

from pas_mm.cli import add_common_args, check_data_paths, load_config
from pas_mm.errors import PaSConfigError


def main():
    parser = argparse.ArgumentParser(description='Test a model')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    add_common_args(parser)
    args = parser.parse_args()
    cfg = load_config(args)
    try:
        check_data_paths(cfg, ('test', ))
    except FileNotFoundError as e:
        parser.error(str(e))
    cfg.load_from = args.checkpoint
    try:
        runner = Runner.from_cfg(cfg)
    except PaSConfigError as e:  # a PaS setting that cannot work: one line
        parser.exit(2, f'{parser.prog}: error: {e}\n')
    print(runner.test())


if __name__ == '__main__':
    main()
