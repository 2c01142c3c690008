"""Train with mmengine's Runner (mmpretrain and mmdet configs alike).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--cfg-options k=v]
    # distributed: torchrun --nproc_per_node=N tools/train.py CONFIG --launcher pytorch
"""
import argparse

import pas_mm  # noqa: F401  (compat fixes before mmengine loads anything)

from pas_mm.cli import (add_common_args, build_runner, check_inputs,
                        load_config)


def main():
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config')
    parser.add_argument('--resume', nargs='?', const='auto',
                        help='resume from a checkpoint (latest if no path)')
    add_common_args(parser)
    args = parser.parse_args()
    cfg = load_config(args, parser)
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume:
        cfg.resume, cfg.load_from = True, args.resume
    check_inputs(cfg, parser, ('train', 'val'), train=True)
    runner = build_runner(cfg, parser)
    runner.train()


if __name__ == '__main__':
    main()
