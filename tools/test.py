"""Evaluate a checkpoint with the config's test loop and metrics.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options k=v]
"""
import argparse

import pas_mm  # noqa: F401  (compat fixes before mmengine loads anything)

from pas_mm.cli import (add_common_args, build_runner, check_inputs,
                        load_config)


def main():
    parser = argparse.ArgumentParser(description='Test a model')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    add_common_args(parser)
    args = parser.parse_args()
    cfg = load_config(args, parser)
    check_inputs(cfg, parser, ('test', ), train=False)
    cfg.load_from = args.checkpoint
    runner = build_runner(cfg, parser)
    print(runner.test())


if __name__ == '__main__':
    main()
