"""DDP check: PaS search with 2 CPU processes (gloo) keeps gates identical.

    python tools/benchmark/ddp_check.py --out work_dirs/benchmark \
        [--data-root data/digits] [--nproc 2]

Writes the benchmark config (search for 1 epoch, then 1 epoch fine-tune,
on a subset) with ``env_cfg.dist_cfg.backend='gloo'`` and a
``GateProbeHook`` that all-gathers every rank's gate weights, masks and
MACs after every iteration, then runs the ordinary entry point under
torchrun: ``torchrun --nproc_per_node=2 tools/train.py CFG --launcher
pytorch`` (through tools/benchmark/dist_train_cpu.py, which works around
mmengine calling ``torch.cuda.set_device`` on CPU). Writes OUT/ddp.json (ok, all_equal, probes, MACs start/end).
"""
import json
import os
import os.path as osp
import socket
import subprocess
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from common import ROOT, build_cfg, script_parser, write_result  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def main(argv=None):
    p = script_parser(__doc__)
    p.add_argument('--nproc', type=int, default=2)
    p.add_argument('--train-indices', type=int, default=512)
    args = p.parse_args(argv)
    work = osp.abspath(osp.join(args.out, 'ddp'))
    os.makedirs(work, exist_ok=True)
    cfg = build_cfg(args.data_root, work, method='pas', target=0.5,
                    search_epochs=1, finetune_epochs=1,
                    train_indices=args.train_indices,
                    val_indices=128, checkpoint=False,
                    extra_hooks=[dict(type='GateProbeHook', interval=1)])
    cfg.pop('experiment_name')  # the Runner syncs its timestamp over ranks
    cfg.env_cfg.dist_cfg = dict(backend='gloo')
    # a CPU module takes no device ids (mmengine passes [LOCAL_RANK])
    cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel',
                                 device_ids=None, broadcast_buffers=False,
                                 find_unused_parameters=False)
    cfg.custom_hooks[1].interval = 1
    cfg_path = osp.join(work, 'ddp_config.py')
    cfg.dump(cfg_path)
    probe = osp.join(work, 'gate_probe.json')
    if osp.exists(probe):
        os.remove(probe)
    cmd = [sys.executable, '-m', 'torch.distributed.run',
           f'--nproc_per_node={args.nproc}', '--master_addr=127.0.0.1',
           f'--master_port={free_port()}',
           osp.join(ROOT, 'tools', 'benchmark', 'dist_train_cpu.py'),
           cfg_path,
           '--launcher', 'pytorch', '--work-dir', work]
    env = dict(os.environ, OMP_NUM_THREADS='1')
    print(' '.join(cmd), flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, env=env)
    result = dict(ok=False, command=' '.join(cmd), world_size=args.nproc,
                  all_equal=False, probes=0, macs_start_ratio=float('nan'),
                  macs_end_ratio=float('nan'))
    if proc.returncode != 0 or not osp.exists(probe):
        result['error'] = f'torchrun exited {proc.returncode}'
    else:
        records = json.load(open(probe))
        full = records[0]['state']['macs']  # all gates open at the start
        result.update(
            probes=len(records),
            world_size=records[0]['world_size'],
            all_equal=all(r['ranks_equal'] for r in records),
            macs_start_ratio=records[0]['state']['macs'] / full,
            macs_end_ratio=records[-1]['state']['macs'] / full,
            fixed_at_end=all(g['fixed'] for g in
                             records[-1]['state']['gates'].values()))
        result['ok'] = (result['all_equal'] and
                        result['world_size'] == args.nproc and
                        result['macs_end_ratio'] < 1.0)
        if not result['ok']:
            result['error'] = 'gates differ across ranks or did not move'
    write_result(args.out, 'ddp', result)
    sys.exit(0 if result['ok'] else 1)


if __name__ == '__main__':
    main()
