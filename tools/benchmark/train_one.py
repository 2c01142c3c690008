"""One benchmark run: train (search or baseline), then deploy and measure.

    python tools/benchmark/train_one.py --work-dir DIR --method pas \
        --target 0.5 --seed 0 [--data-root data/digits] [--resume-from CKPT]
        [--stop-epoch N] [--search-epochs 3 --finetune-epochs 5]

A full run (no --stop-epoch) ends with the masks fixed; it is deployed
(fused, pruned), checked against the gated model, and its deployed MACs and
deployed val top-1 are written to DIR/result.json with DIR/deploy.pth
(deploy architecture config + state dict). A --stop-epoch run only leaves
its checkpoint (a phase-1 run several baselines resume from).
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from common import build_cfg  # noqa: E402

import torch  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from pas_mm.deploy import count_macs, export_verified  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--work-dir', required=True)
    p.add_argument('--data-root', default='data/digits')
    p.add_argument('--method', default='pas')
    p.add_argument('--target', type=float, default=0.5)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--search-epochs', type=int, default=3)
    p.add_argument('--finetune-epochs', type=int, default=5)
    p.add_argument('--stop-epoch', type=int)
    p.add_argument('--slim-lambda', type=float, default=0.)
    p.add_argument('--img-size', type=int, default=32)
    p.add_argument('--train-indices', type=int)
    p.add_argument('--val-indices', type=int)
    p.add_argument('--resume-from')
    return p.parse_args(argv)


@torch.no_grad()
def top1(model, dataloader) -> float:
    """Top-1 (%) of a plain mmpretrain classifier on a dataloader."""
    model.eval()
    correct = total = 0
    for data in dataloader:
        for s in model.val_step(data):
            correct += int(s.pred_label.item() == s.gt_label.item())
            total += 1
    return 100.0 * correct / max(total, 1)


def deploy_and_measure(runner, out_dir: str) -> dict:
    model = runner.model
    model.eval()
    arch_cfg, state, deployed, diffs = export_verified(model)
    torch.save(dict(cfg=arch_cfg, state_dict=state,
                    input_shape=list(model.input_shape)),
               osp.join(out_dir, 'deploy.pth'))
    return dict(
        macs_full=model.macs_full,
        macs_target=model.macs_target,
        macs_kept=model.counter.kept_macs(),
        macs_deployed=count_macs(deployed, model.input_shape),
        max_abs_diff=diffs['max_abs_diff'],
        widths=arch_cfg['backbone']['widths'],
        full_widths=[g.num_channels for g in model.gates().values()],
        acc_deployed=top1(deployed, runner.val_loop.dataloader))


def run(args) -> dict:
    os.makedirs(args.work_dir, exist_ok=True)
    cfg = build_cfg(
        args.data_root, args.work_dir, method=args.method,
        target=args.target, seed=args.seed,
        search_epochs=args.search_epochs,
        finetune_epochs=args.finetune_epochs, stop_epoch=args.stop_epoch,
        slim_lambda=args.slim_lambda, img_size=args.img_size,
        train_indices=args.train_indices, val_indices=args.val_indices,
        resume_from=args.resume_from)
    start = time.perf_counter()
    runner = Runner.from_cfg(cfg)
    runner.train()
    seconds = time.perf_counter() - start
    result = dict(method=args.method, target=args.target, seed=args.seed,
                  train_seconds=seconds, epoch=runner.epoch)
    if args.stop_epoch is None:
        history = json.load(open(osp.join(args.work_dir, 'history.json')))
        last_val = history['val'][-1] if history['val'] else {}
        result.update(deploy_and_measure(runner, args.work_dir))
        result['acc_gated'] = last_val.get('accuracy/top1')
    with open(osp.join(args.work_dir, 'result.json'), 'w') as f:
        json.dump(result, f, indent=1)
    return result


def main(argv=None):
    print(json.dumps(run(parse_args(argv))))


if __name__ == '__main__':
    main()
