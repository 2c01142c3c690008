"""The whole benchmark from one command: table, plots, latency, checks.

    python tools/benchmark/run_all.py --out work_dirs/benchmark \
        [--data-root data/digits | PATH/TO/IMAGENET_STYLE_FOLDER] [--quick]

Writes OUT/results.json, OUT/results.md (tables), OUT/*.png (plots),
OUT/{latency,overhead,ddp,resume}.json and OUT/runs/<run>/ (one mmengine
work_dir per training run, with its log, history.json, result.json and
deploy.pth). Finished runs are skipped when the command is repeated
(--force reruns them), so an interrupted benchmark continues.

Protocol (identical for every method): ``S`` epochs of phase 1, then the
masks are fixed and ``F`` epochs fine-tune, one cosine LR schedule over
S + F epochs. Phase 1 is: PaS search (gates + MACs loss, PaSSearchHook);
plain training of the unpruned network (shared by uniform, L1 and the
unpruned reference, per seed); BN-gamma L1 sparsity training (shared by the
slimming targets, per seed). The baselines resume the phase-1 checkpoint
(weights, optimizer, LR schedule), prune to the target, and fine-tune.
"""
import argparse
import json
import os
import os.path as osp
import shlex
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(osp.dirname(HERE))
PY = sys.executable

QUICK = dict(seeds=[0], targets=[0.5], search_epochs=1, finetune_epochs=1,
             train_indices=320, val_indices=128)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', default='work_dirs/benchmark')
    p.add_argument('--data-root', default='data/digits',
                   help='data/digits (written if missing) or an ImageNet-'
                   'style folder with train/<class>/* and val/<class>/*')
    p.add_argument('--img-size', type=int, default=32)
    p.add_argument('--quick', action='store_true',
                   help='1 seed, target 50%%, 1+1 epochs on 320 images')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--targets', type=float, nargs='+',
                   default=[0.75, 0.5, 0.3])
    p.add_argument('--methods', nargs='+',
                   default=['pas', 'uniform', 'l1', 'slim', 'full'])
    p.add_argument('--search-epochs', type=int, default=3)
    p.add_argument('--finetune-epochs', type=int, default=5)
    p.add_argument('--slim-lambda', type=float, default=5e-3)
    p.add_argument('--train-indices', type=int)
    p.add_argument('--val-indices', type=int)
    p.add_argument('--jobs', type=int, default=2,
                   help='training runs in parallel (torch threads are '
                   'split between them)')
    p.add_argument('--force', action='store_true', help='rerun finished runs')
    p.add_argument('--skip', nargs='*', default=[],
                   choices=['train', 'latency', 'overhead', 'ddp', 'resume'])
    args = p.parse_args(argv)
    if args.quick:
        for k, v in QUICK.items():
            setattr(args, k, v)
    return args


def plan(args) -> list:
    """Training jobs: dicts with name, argv and the names they need."""
    S, F = args.search_epochs, args.finetune_epochs
    common = ['--data-root', args.data_root, '--img-size', str(args.img_size),
              '--search-epochs', str(S), '--finetune-epochs', str(F)]
    for key in ('train_indices', 'val_indices'):
        if getattr(args, key) is not None:
            common += ['--' + key.replace('_', '-'), str(getattr(args, key))]
    runs = osp.join(args.out, 'runs')
    jobs = []

    def job(name, method, target, seed, extra=(), needs=()):
        jobs.append(dict(
            name=name, needs=list(needs), method=method, target=target,
            seed=seed, work_dir=osp.join(runs, name),
            argv=['--work-dir', osp.join(runs, name), '--method', method,
                  '--target', str(target), '--seed', str(seed)] + common +
            list(extra)))

    def phase1_ckpt(name):
        return osp.join(runs, name, f'epoch_{S}.pth')

    methods = args.methods
    for seed in args.seeds:
        plain = f'phase1-plain-s{seed}'
        slim = f'phase1-slim-s{seed}'
        if {'uniform', 'l1', 'full'} & set(methods):
            job(plain, 'plain', 1.0, seed, ['--stop-epoch', str(S)])
        if 'slim' in methods:
            job(slim, 'slim', 1.0, seed,
                ['--stop-epoch', str(S), '--slim-lambda',
                 str(args.slim_lambda)])
        for t in args.targets:
            if 'pas' in methods:
                job(f'pas-t{t:g}-s{seed}', 'pas', t, seed)
            for m in ('uniform', 'l1'):
                if m in methods:
                    job(f'{m}-t{t:g}-s{seed}', m, t, seed,
                        ['--resume-from', phase1_ckpt(plain)], [plain])
            if 'slim' in methods:
                job(f'slim-t{t:g}-s{seed}', 'slim', t, seed,
                    ['--resume-from', phase1_ckpt(slim)], [slim])
        if 'full' in methods:
            job(f'full-s{seed}', 'full', 1.0, seed,
                ['--resume-from', phase1_ckpt(plain)], [plain])
    # phase-1 runs first, so the baselines can start early
    jobs.sort(key=lambda j: (not j['name'].startswith('phase1'),
                             j['method'] != 'pas'))
    return jobs


def done(job) -> bool:
    return osp.exists(osp.join(job['work_dir'], 'result.json'))


def run_job(job, threads: int) -> float:
    os.makedirs(job['work_dir'], exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    start = time.perf_counter()
    with open(osp.join(job['work_dir'], 'train.log'), 'w') as log:
        proc = subprocess.run(
            [PY, osp.join(HERE, 'train_one.py')] + job['argv'],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"run {job['name']} failed (exit "
                           f"{proc.returncode}); see "
                           f"{osp.join(job['work_dir'], 'train.log')}")
    return time.perf_counter() - start


def train_all(args) -> None:
    jobs = plan(args)
    if args.force:
        for j in jobs:
            if done(j):
                os.remove(osp.join(j['work_dir'], 'result.json'))
    pending = [j for j in jobs if not done(j)]
    finished = {j['name'] for j in jobs if done(j)}
    failed = set()
    threads = max(1, (os.cpu_count() or 1) // max(args.jobs, 1))
    print(f'[benchmark] {len(jobs)} runs, {len(pending)} to do, '
          f'{args.jobs} in parallel x {threads} thread(s)', flush=True)
    start = time.perf_counter()
    with ThreadPoolExecutor(max(args.jobs, 1)) as pool:
        running = {}
        while pending or running:
            ready = [j for j in pending if set(j['needs']) <= finished]
            for j in pending:
                if set(j['needs']) & failed:
                    failed.add(j['name'])
            pending = [j for j in pending if j['name'] not in failed]
            while ready and len(running) < max(args.jobs, 1):
                j = ready.pop(0)
                pending.remove(j)
                running[pool.submit(run_job, j, threads)] = j
            if not running:
                break
            for fut in wait(running, return_when=FIRST_COMPLETED)[0]:
                j = running.pop(fut)
                try:
                    secs = fut.result()
                    finished.add(j['name'])
                    print(f"[benchmark] {j['name']} done in {secs:.0f} s "
                          f'({time.perf_counter() - start:.0f} s elapsed)',
                          flush=True)
                except RuntimeError as e:
                    failed.add(j['name'])
                    print(f'[benchmark] {e}', flush=True)
    if failed:
        raise SystemExit(f'[benchmark] failed runs: {sorted(failed)}')


def step(script: str, argv: list, log: str) -> None:
    cmd = [PY, osp.join(HERE, script)] + argv
    print(f'[benchmark] {script}: {shlex.join(cmd)}', flush=True)
    start = time.perf_counter()
    with open(log, 'w') as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT,
                              cwd=ROOT)
    status = 'ok' if proc.returncode == 0 else f'FAILED (exit ' \
        f'{proc.returncode}, see {log})'
    print(f'[benchmark] {script}: {status} in '
          f'{time.perf_counter() - start:.0f} s', flush=True)


def main(argv=None):
    args = parse_args(argv)
    args.out = osp.abspath(args.out)
    os.makedirs(args.out, exist_ok=True)
    digits_default = osp.normpath(args.data_root) == osp.normpath(
        'data/digits')
    args.data_root = osp.abspath(osp.join(ROOT, args.data_root)
                                 if not osp.isabs(args.data_root)
                                 and not osp.exists(args.data_root)
                                 else args.data_root)
    if digits_default and not osp.isdir(args.data_root):
        subprocess.run([PY, osp.join(ROOT, 'tools', 'make_digits.py'),
                        '--out', args.data_root], check=True)
    meta = dict(command='python tools/benchmark/run_all.py ' +
                shlex.join(sys.argv[1:] if argv is None else argv),
                data_root=args.data_root, seeds=args.seeds,
                targets=args.targets, methods=args.methods,
                search_epochs=args.search_epochs,
                finetune_epochs=args.finetune_epochs,
                slim_lambda=args.slim_lambda, quick=args.quick,
                cpu_count=os.cpu_count())
    with open(osp.join(args.out, 'meta.json'), 'w') as f:
        json.dump(meta, f, indent=1)
    start = time.perf_counter()
    if 'train' not in args.skip:
        train_all(args)
    data = ['--data-root', args.data_root, '--img-size', str(args.img_size)]
    if 'latency' not in args.skip:
        step('latency.py', ['--out', args.out] +
             (['--runs', '30'] if args.quick else []),
             osp.join(args.out, 'latency.log'))
    if 'overhead' not in args.skip:
        step('overhead.py', ['--out', args.out] + data +
             (['--iters', '4'] if args.quick else []),
             osp.join(args.out, 'overhead.log'))
    if 'ddp' not in args.skip:
        step('ddp_check.py', ['--out', args.out] + data,
             osp.join(args.out, 'ddp.log'))
    if 'resume' not in args.skip:
        step('resume_check.py', ['--out', args.out] + data,
             osp.join(args.out, 'resume.log'))
    sys.path.insert(0, HERE)
    from report import write_report
    meta['total_seconds'] = time.perf_counter() - start
    write_report(args.out, meta)
    print(open(osp.join(args.out, 'results.md')).read())
    print(f'[benchmark] total {meta["total_seconds"]:.0f} s; results in '
          f'{args.out}/results.md, results.json, *.png')


if __name__ == '__main__':
    main()
