"""Deploy a searched PaS checkpoint as a plain, pruned, reparameterized model.

Fuses RepVGG branches, folds BN, slices channels by the searched masks and
drops the gates; checks the deployed outputs against the gated model (max
abs diff <= --atol, computed in float64; the float32 diff is reported) and
only then writes OUT/deploy_config.py, OUT/deploy.pth, OUT/pas_subnet.json
and OUT/report.json.

    python tools/deploy_reparam.py CONFIG CHECKPOINT --out DIR [--force]
    python tools/test.py DIR/deploy_config.py DIR/deploy.pth

DIR must be new, empty, or (with --force) a previous deploy; nothing else
is replaced. Exit status 2: an argument refused before any work (--out,
the config); 1: the deploy failed; nothing written in either case.
"""
import argparse
import sys

import pas_mm  # noqa: F401  (compat fixes before mmengine loads anything)
from mmengine.config import DictAction

from pas_mm.deploy import DeployError, OutDirError, deploy, format_report
from pas_mm.errors import PaSConfigError


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='the PaS training config')
    parser.add_argument('checkpoint', help='a checkpoint saved after search')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--force', action='store_true',
                        help='replace a previous deploy in --out (its other '
                        'files are kept)')
    parser.add_argument('--atol', type=float, default=1e-4)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument('--onnx', action='store_true',
                        help='also write OUT/deploy.onnx, checked in '
                        'onnxruntime against torch to --atol')
    args = parser.parse_args()
    try:
        report = deploy(args.config, args.checkpoint, args.out,
                        atol=args.atol, cfg_options=args.cfg_options,
                        onnx=args.onnx, force=args.force)
    except (OutDirError, PaSConfigError) as e:
        print(f'deploy_reparam: error: {e}', file=sys.stderr)
        sys.exit(2)
    except DeployError as e:
        sys.exit(f'deploy_reparam: error: {e}')
    print(format_report(report))
    onnx = f', {args.out}/deploy.onnx' if 'onnx' in report else ''
    print(f'written: {args.out}/deploy_config.py, {args.out}/deploy.pth'
          f'{onnx}')


if __name__ == '__main__':
    main()
