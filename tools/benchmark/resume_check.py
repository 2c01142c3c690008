"""Resume check: a run resumed in the middle of the PaS search restores the
gates and MACs exactly and ends where the uninterrupted run ends.

    python tools/benchmark/resume_check.py --out work_dirs/benchmark \
        [--data-root data/digits]

Run A: ``tools/train.py`` on the benchmark config (2 epochs search, 1 epoch
fine-tune, a subset, no random augmentation so reruns are bit-exact),
keeping every epoch's checkpoint. Run B: ``tools/train.py --resume
A/epoch_1.pth`` (search still running). A ``GateProbeHook`` records gate
weights, masks and kept MACs right after resume (before_train) and at the
end. Compared: B after resume vs the checkpoint loaded into a fresh model
(exact), and B's end vs A's end (exact). Writes OUT/resume.json.
"""
import copy
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from common import ROOT, build_cfg, script_parser, write_result  # noqa: E402

import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.registry import MODELS, init_default_scope  # noqa: E402

from pas_mm.benchmark import gate_state  # noqa: E402


def train(cfg_path, work, extra=()):
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'train.py'), cfg_path,
           '--work-dir', work] + list(extra)
    print(' '.join(cmd), flush=True)
    env = dict(os.environ, OMP_NUM_THREADS='1')
    subprocess.run(cmd, cwd=ROOT, env=env, check=True)
    return json.load(open(osp.join(work, 'gate_probe.json')))


def checkpoint_state(cfg_path, ckpt) -> dict:
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(cfg_path)
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    state = torch.load(ckpt, map_location='cpu')['state_dict']
    model.load_state_dict(state, strict=True)
    return gate_state(model)


def main(argv=None):
    p = script_parser(__doc__)
    p.add_argument('--train-indices', type=int, default=320)
    args = p.parse_args(argv)
    work = osp.abspath(osp.join(args.out, 'resume'))
    if osp.exists(work):
        shutil.rmtree(work)
    os.makedirs(work)
    search_epochs = 2
    cfg = build_cfg(args.data_root, osp.join(work, 'A'), method='pas',
                    target=0.5, search_epochs=search_epochs,
                    finetune_epochs=1,
                    train_indices=args.train_indices, val_indices=128,
                    augment=False,
                    extra_hooks=[dict(type='GateProbeHook', interval=10**9)])
    cfg.pop('experiment_name')
    cfg.default_hooks.checkpoint.max_keep_ckpts = -1
    cfg_path = osp.join(work, 'resume_config.py')
    cfg.dump(cfg_path)

    a = train(cfg_path, osp.join(work, 'A'))
    ckpt = osp.join(work, 'A', 'epoch_1.pth')
    b = train(cfg_path, osp.join(work, 'B'), ['--resume', ckpt])
    saved = checkpoint_state(cfg_path, ckpt)
    after_resume = b[0]['state']
    restored = after_resume == saved
    final_equal = b[-1]['state'] == a[-1]['state']
    mid_search = not any(g['fixed'] for g in saved['gates'].values())
    result = dict(
        ok=restored and final_equal and mid_search,
        resumed_from='epoch 1 checkpoint',
        search_epochs=search_epochs,
        checkpoint_mid_search=mid_search,
        resumed_at=dict(epoch=b[0]['epoch'], iter=b[0]['iter']),
        restored_exactly=restored,
        final_equal=final_equal,
        macs_checkpoint=saved['macs'],
        macs_after_resume=after_resume['macs'],
        macs_final_uninterrupted=a[-1]['state']['macs'],
        macs_final_resumed=b[-1]['state']['macs'],
        widths_final={n: sum(g['mask']) for n, g in
                      b[-1]['state']['gates'].items()})
    if not restored:
        result['mismatch'] = [n for n in saved['gates']
                              if saved['gates'][n] !=
                              after_resume['gates'].get(n)]
    write_result(args.out, 'resume', result)
    sys.exit(0 if result['ok'] else 1)


if __name__ == '__main__':
    main()
