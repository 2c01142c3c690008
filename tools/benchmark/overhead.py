"""Search overhead: time per training iteration with gates + MACs loss vs
plain training of the same network, in one process.

    python tools/benchmark/overhead.py --out work_dirs/benchmark \
        [--data-root data/digits] [--iters 30] [--threads 1]

Four models from the benchmark config, same data batches (preloaded),
same optimizer config, timed interleaved in blocks: ``plain`` (the same
RepVGG without gates: mmpretrain's plain training), ``pas_search`` (PaSModel
searching: gates, STE and the config's MACs loss), ``pas_search_quadratic``
(the same under the paper's quadratic loss alone: no multiplier, no Fisher
importance, no value weighting), ``pas_finetune`` (PaSModel with the masks
fixed). Reports median ms per ``train_step`` and the ratios.
Writes OUT/overhead.json.
"""
import copy
import json
import os
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from common import (QUADRATIC_SEARCH, build_cfg, script_parser,  # noqa: E402
                    write_result)

import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmengine.registry import MODELS, init_default_scope  # noqa: E402
from mmengine.runner import Runner  # noqa: E402


def build_models(cfg) -> dict:
    torch.manual_seed(0)
    pas_cfg = copy.deepcopy(cfg.model)
    pas_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    search = MODELS.build(copy.deepcopy(pas_cfg))
    quadratic_cfg = copy.deepcopy(pas_cfg)
    quadratic_cfg.macs_loss.update(QUADRATIC_SEARCH)
    quadratic = MODELS.build(quadratic_cfg)
    quadratic.load_state_dict(search.state_dict())
    finetune = MODELS.build(copy.deepcopy(pas_cfg))
    finetune.load_state_dict(search.state_dict())
    finetune.fix_gates()
    plain_cfg = Config._merge_a_into_b(
        dict(backbone=dict(cfg.model.backbone, gate_cfg=None)),
        copy.deepcopy(dict(cfg.model.architecture)))
    plain_cfg['data_preprocessor'] = cfg.data_preprocessor
    plain = MODELS.build(plain_cfg)
    # same starting weights (the plain model has no gate entries)
    plain.load_state_dict({k[len('architecture.'):]: v
                           for k, v in search.state_dict().items()
                           if '.gate.' not in k}, strict=True)
    return dict(plain=plain, pas_search=search,
                pas_search_quadratic=quadratic, pas_finetune=finetune)


def measure(cfg, iters: int, blocks: int = 5) -> dict:
    models = build_models(cfg)
    wrappers = {n: build_optim_wrapper(m, copy.deepcopy(cfg.optim_wrapper))
                for n, m in models.items()}
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    batches = []
    for data in loader:
        batches.append(data)
        if len(batches) >= iters:
            break
    for n, m in models.items():  # warm-up
        m.train()
        for data in batches[:2]:
            m.train_step(data, wrappers[n])
    times = {n: [] for n in models}
    per_block = max(1, len(batches) // blocks)
    names = list(models)
    for b in range(blocks):
        chunk = batches[(b * per_block) % len(batches):][:per_block]
        order = names[b % len(names):] + names[:b % len(names)]
        for n in order:
            for data in chunk:
                t0 = time.perf_counter()
                models[n].train_step(data, wrappers[n])
                times[n].append((time.perf_counter() - t0) * 1e3)
    med = {n: sorted(t)[len(t) // 2] for n, t in times.items()}
    macs_ratio = float(models['pas_search'].counter.kept_macs() /
                       models['pas_search'].macs_full)
    return dict(ms_per_iter=med, iters=len(times['plain']),
                ratio_search_vs_plain=med['pas_search'] / med['plain'],
                ratio_search_vs_quadratic=(med['pas_search'] /
                                           med['pas_search_quadratic']),
                ratio_finetune_vs_plain=med['pas_finetune'] / med['plain'],
                macs_ratio_after=macs_ratio,
                batch_size=cfg.train_dataloader.batch_size)


def main(argv=None):
    p = script_parser(__doc__)
    p.add_argument('--iters', type=int, default=30)
    p.add_argument('--threads', type=int, default=1)
    args = p.parse_args(argv)
    init_default_scope('mmpretrain')
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    cfg = build_cfg(args.data_root, osp.join(args.out, 'overhead'),
                    method='pas')
    result = measure(cfg, args.iters)
    result['threads'] = args.threads
    write_result(args.out, 'overhead', result)


if __name__ == '__main__':
    main()
