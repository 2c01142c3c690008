"""Deploy a searched PaS checkpoint as a plain, pruned, reparameterized model.

Fuses RepVGG branches, folds BN, slices channels by the searched masks and
drops the gates; checks the deployed outputs against the gated model (max
abs diff <= --atol, computed in float64; the float32 diff is reported) and
only then writes OUT/deploy_config.py, OUT/deploy.pth, OUT/pas_subnet.json
and OUT/report.json.

    python tools/deploy_reparam.py CONFIG CHECKPOINT --out DIR
    python tools/test.py DIR/deploy_config.py DIR/deploy.pth
"""
import argparse
import sys

import pas_mm  # noqa: F401  (compat fixes before mmengine loads anything)
from mmengine.config import DictAction

from pas_mm.deploy import DeployError, deploy, format_report
from pas_mm.errors import PaSConfigError


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='the PaS training config')
    parser.add_argument('checkpoint', help='a checkpoint saved after search')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--atol', type=float, default=1e-4)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument('--onnx', action='store_true',
                        help='also write OUT/deploy.onnx, checked in '
                        'onnxruntime against torch to --atol')
    args = parser.parse_args()
    try:
        report = deploy(args.config, args.checkpoint, args.out,
                        atol=args.atol, cfg_options=args.cfg_options,
                        onnx=args.onnx)
    except (DeployError, PaSConfigError) as e:
        sys.exit(f'deploy_reparam: error: {e}')
    print(format_report(report))
    onnx = f', {args.out}/deploy.onnx' if 'onnx' in report else ''
    print(f'written: {args.out}/deploy_config.py, {args.out}/deploy.pth'
          f'{onnx}')


if __name__ == '__main__':
    main()
