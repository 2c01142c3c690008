"""What gates='auto' gates on stock configs, as a markdown table.

For each stock config: the channel groups gated (free widths) and those
left ungated, the full MACs at the input size, the reachable minimum (every
gate at 8 units, or all of a smaller gate) and, with ``--deploy``, the
float64 max abs diff of the deployed model after pruning a third of every
gate. ``--compare`` adds the hand-written gated backbones on the same
configs (``PaSRepVGG`` on RepVGG-A0, ``PaSResNet`` on ResNet-50).

    python tools/auto_gating_table.py --deploy            # docs/auto_gating.md
    python tools/auto_gating_table.py --compare           # the RepVGG table
    python tools/auto_gating_table.py mmpretrain::resnet/resnet18_8xb32_in1k.py
"""
import argparse
import os.path as osp
import sys
import tempfile

from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import MODELS, init_default_scope

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import pas_mm  # noqa: E402,F401
from pas_mm.deploy.pipeline import export_verified  # noqa: E402
from pas_mm.budget.losses import format_macs  # noqa: E402

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from auto_gating_sweep import randomize  # noqa: E402

CLASSIFIER_SIZE, DETECTOR_SIZE = 224, 320
MIN_KEEP = 8  # units per gate at the reachable minimum (as configs set it)
STOCK = [
    'mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py',
    'mmpretrain::resnet/resnet50_8xb32_in1k.py',
    'mmpretrain::resnext/resnext50-32x4d_8xb32_in1k.py',
    'mmpretrain::efficientnet/efficientnet-b0_8xb32_in1k.py',
    'mmpretrain::regnet/regnetx-400mf_8xb128_in1k.py',
    'mmpretrain::convnext/convnext-tiny_32xb128_in1k.py',
    'mmpretrain::repvgg/repvgg-A0_8xb32_in1k.py',
    'mmdet::rtmdet/rtmdet-ins_tiny_8xb32-300e_coco.py',
    'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
]
# the hand-written path on the same config
HAND_WRITTEN = {
    'mmpretrain::repvgg/repvgg-A0_8xb32_in1k.py': 'PaSRepVGG',
    'mmpretrain::resnet/resnet50_8xb32_in1k.py': 'PaSResNet',
}


def load(config: str) -> Config:
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, 'cfg.py')
        with open(path, 'w') as f:
            f.write(f"_base_ = ['{config}']\n")
        return Config.fromfile(path)


def build(config: str, **pas):
    """PaSModel around the stock model of ``config``."""
    scope = config.split('::')[0]
    cfg = load(config)
    size = DETECTOR_SIZE if scope == 'mmdet' else CLASSIFIER_SIZE
    arch = cfg.model
    if scope == 'mmdet' and 'rpn' in (arch.get('test_cfg') or {}):
        arch.test_cfg.rpn.max_per_img = 100  # RoIs the RoI head runs on
    init_default_scope(scope)
    return MODELS.build(dict(
        type='PaSModel', architecture=arch, input_shape=(3, size, size),
        macs_loss=dict(type='MACsLoss', target=0.99), **pas)), size


def deploy_diff(model) -> float:
    """Float64 max abs diff after pruning a third of every gate (random
    BatchNorm statistics and affine parameters, so that they matter)."""
    randomize(model)
    return export_verified(model)[3]['max_abs_diff_float64']


def row(config: str, deploy: bool, **pas) -> str:
    model, size = build(config, **pas)
    path = pas.get('backbone', {}).get('type', "gates='auto'")
    skipped = (model.auto_gates.skipped if model.auto_gates is not None
               else [])
    outputs = sum('output' in r for _, r in skipped)
    cells = [config.split('::')[1], path, f'{size}x{size}',
             str(len(model.gates())),
             f'{outputs} outputs, {len(skipped) - outputs} other',
             format_macs(model.macs_full)]
    floor = model.counter.cost_of({g: min(MIN_KEEP, g.num_channels)
                                   for g in model.gates().values()})
    cells.append(f'{format_macs(floor)} = {floor / model.macs_full:.1%}')
    if deploy:
        cells.append(f'{deploy_diff(model):.1e}')
    return '| ' + ' | '.join(cells) + ' |'


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='*', help="stock configs "
                        "('mmpretrain::...', 'mmdet::...'); default: the "
                        'docs list')
    parser.add_argument('--deploy', action='store_true',
                        help='also prune a third of every gate and report '
                        'the float64 deploy diff')
    parser.add_argument('--compare', action='store_true',
                        help='auto vs the hand-written gated backbone')
    args = parser.parse_args()
    MMLogger.get_instance('mmengine', log_level='WARNING')  # a clean table
    configs = args.configs or (list(HAND_WRITTEN) if args.compare
                               else STOCK)
    head = ['config', 'path', 'input', 'gates (free widths)', 'not gated',
            'MACs full', f'reachable minimum ({MIN_KEEP} per gate)']
    if args.deploy:
        head.append('deploy diff (float64)')
    print('| ' + ' | '.join(head) + ' |')
    print('|' + ' --- |' * len(head))
    for config in configs:
        print(row(config, args.deploy, gates='auto'), flush=True)
        if args.compare and config in HAND_WRITTEN:
            print(row(config, args.deploy,
                      backbone=dict(type=HAND_WRITTEN[config])), flush=True)


if __name__ == '__main__':
    main()
