"""The whole benchmark from one command: table, plots, latency, checks.

    python tools/benchmark/run_all.py --data-root data/animals \
        [--out work_dirs/benchmark/animals] [--quick]

Writes OUT/results.json, OUT/results.md (tables), OUT/*.png (plots),
OUT/{latency,overhead,ddp,resume}.json and OUT/runs/<run>/ (one mmengine
work_dir per training run, with its log, history.json, result.json and
deploy.pth). Finished runs are skipped when the command is repeated
(--force reruns them), so an interrupted benchmark continues.

Protocol (the paper's): per seed the unpruned network is pre-trained for
``P`` epochs from random init (cosine from the config's stock LR), once;
every method starts from those weights and trains ``S + F`` epochs with
the official PaS schedule scaled to that LR (pas_mm/official_schedule.py:
``S`` epochs at 0.1x, then 0.128x with two x0.1 steps). PaS searches ``S``
epochs, then fixes the masks (snapped to within 1% of the target) and
fine-tunes ``F``; ``pas-fast`` is PaS under the shipped CPU demo recipe
instead (cosine from the stock LR, gates at lr x10, no gate decay);
uniform / L1 / Torch-Pruning prune the pre-trained weights and fine-tune
``S + F``; network slimming trains ``S`` epochs with its BN-L1 sparsity,
then prunes and fine-tunes ``F``; the unpruned reference trains ``S + F``
more. ``scratch`` is the uniformly narrower network and
``unpruned-scratch`` the unpruned one, trained from random init for
``P + S + F`` epochs (the capacity check). Recipes are chosen on val; the
tables report test.
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
sys.path.insert(0, HERE)
from common import data_splits  # noqa: E402

from pas_mm.datasets import check_image_folder  # noqa: E402

ROOT = osp.dirname(osp.dirname(HERE))
PY = sys.executable

from train_one import METHODS as RUN_METHODS  # noqa: E402

METHODS = tuple(m for m in RUN_METHODS
                if m not in ('pretrain', 'pas-macs', 'widths-scratch'))
DEFAULT_METHODS = ['pas', 'uniform', 'l1', 'slim', 'scratch', 'full',
                   'tp-magnitude-res', 'tp-taylor-res', 'tp-magnitude-fused',
                   'tp-taylor-fused']
GENERATORS = {'data/digits': 'make_digits.py',
              'data/animals': 'make_animals.py',
              'data/elpv': 'make_elpv.py'}
QUICK = dict(seeds=[0], targets=[0.5], pretrain_epochs=1, search_epochs=1,
             finetune_epochs=1, train_indices=320, val_indices=128,
             methods=['pas', 'uniform', 'tp-magnitude-res'])


def target_ratio(text: str) -> float:
    v = float(text)
    if not 0 < v <= 1:
        raise argparse.ArgumentTypeError(f'{text} is not in (0, 1]')
    return v


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', help='default: work_dirs/benchmark/<data name>')
    p.add_argument('--config', help='config every run starts from (default:'
                   " the data folder's, common.py::base_config)")
    p.add_argument('--data-root', default='data/animals',
                   help='an ImageNet-style folder with train/ val/ test/'
                   '<class>/*; data/animals, data/elpv and data/digits are '
                   'written if missing')
    p.add_argument('--quick', action='store_true',
                   help='1 seed, target 50%%, 1+1+1 epochs on 320 images, '
                   'PaS / uniform / Torch-Pruning only')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--targets', type=target_ratio, nargs='+',
                   default=[0.75, 0.5, 0.3])
    p.add_argument('--methods', nargs='+', default=DEFAULT_METHODS,
                   choices=METHODS)
    p.add_argument('--widths-scratch-of', nargs='*', default=[],
                   choices=METHODS, metavar='METHOD',
                   help="train each of these methods' final widths from "
                   'random init for P + S + F epochs (widths-scratch-<M> '
                   'rows: architecture quality apart from the inherited '
                   'weights)')
    p.add_argument('--pretrain-epochs', type=int, default=10)
    p.add_argument('--search-epochs', type=int, default=2)
    p.add_argument('--finetune-epochs', type=int, default=3)
    p.add_argument('--slim-lambda', type=float, default=5e-3)
    p.add_argument('--train-indices', type=int)
    p.add_argument('--val-indices', type=int)
    p.add_argument('--jobs', type=int, default=2,
                   help='training runs in parallel (torch threads are '
                   'split between them)')
    p.add_argument('--threads', type=int,
                   help='torch threads per run (default: cores / jobs)')
    p.add_argument('--force', action='store_true', help='rerun finished runs')
    p.add_argument('--skip', nargs='*', default=[],
                   choices=['train', 'latency', 'overhead', 'ddp', 'resume'])
    args = p.parse_args(argv)
    if args.quick:
        for k, v in QUICK.items():
            setattr(args, k, v)
    if args.out is None:
        args.out = osp.join('work_dirs', 'benchmark',
                            osp.basename(osp.normpath(args.data_root)))
    return args


def plan(args) -> list:
    """Training jobs: dicts with name, argv and the names they need."""
    P, S, F = args.pretrain_epochs, args.search_epochs, args.finetune_epochs
    common = ['--data-root', args.data_root, '--search-epochs', str(S),
              '--slim-lambda', str(args.slim_lambda)]
    if args.config:
        common += ['--config', args.config]
    for key in ('train_indices', 'val_indices'):
        if getattr(args, key) is not None:
            common += ['--' + key.replace('_', '-'), str(getattr(args, key))]
    runs = osp.join(args.out, 'runs')
    jobs = []

    def job(name, method, target, seed, epochs, needs=None):
        argv = ['--work-dir', osp.join(runs, name), '--method', method,
                '--target', str(target), '--seed', str(seed),
                '--epochs', str(epochs)] + common
        if needs and method == 'widths-scratch':
            argv += ['--widths-from', osp.join(runs, needs)]
        elif needs:
            argv += ['--pretrained', osp.join(runs, needs, 'pretrained.pth')]
        jobs.append(dict(name=name, needs=[needs] if needs else [],
                         method=method, target=target, seed=seed,
                         work_dir=osp.join(runs, name), argv=argv))

    unpruned = ('full', 'unpruned-scratch')
    for seed in args.seeds:
        pre = f'pretrain-s{seed}'
        if set(args.methods) - {'scratch', 'unpruned-scratch'}:
            job(pre, 'pretrain', 1.0, seed, P)
        for t in args.targets:
            for m in args.methods:
                if m == 'scratch':
                    job(f'{m}-t{t:g}-s{seed}', m, t, seed, P + S + F)
                elif m not in unpruned:
                    job(f'{m}-t{t:g}-s{seed}', m, t, seed, S + F, pre)
            for m in args.widths_scratch_of:
                job(f'widths-scratch-{m}-t{t:g}-s{seed}', 'widths-scratch',
                    t, seed, P + S + F, f'{m}-t{t:g}-s{seed}')
        if 'full' in args.methods:
            job(f'full-s{seed}', 'full', 1.0, seed, S + F, pre)
        if 'unpruned-scratch' in args.methods:
            job(f'unpruned-scratch-s{seed}', 'unpruned-scratch', 1.0, seed,
                P + S + F)
    # seed by seed, so a stopped benchmark leaves whole seeds; in a seed
    # the pre-training first, so the pruning runs can start early
    jobs.sort(key=lambda j: (j['seed'], j['method'] != 'pretrain'))
    return jobs


def done(job) -> bool:
    return osp.exists(osp.join(job['work_dir'], 'result.json'))


def to_do(jobs: list) -> list:
    """The unfinished jobs a finished run does not make pointless: a
    pre-training whose every dependent run is finished is skipped (runs
    committed without weights, as ELPV's, would otherwise re-train every
    seed's pre-training when a finished table is re-run)."""
    users = {}
    for j in jobs:
        for name in j['needs']:
            users.setdefault(name, []).append(j)
    return [j for j in jobs if not done(j) and not (
        j['name'] in users and all(done(u) for u in users[j['name']]))]


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
    pending = to_do(jobs)
    finished = {j['name'] for j in jobs} - {j['name'] for j in pending}
    # runs finished before, outside this plan (widths-scratch's sources)
    finished |= {n for j in jobs for n in j['needs']
                 if osp.exists(osp.join(args.out, 'runs', n, 'result.json'))}
    failed = set()
    threads = args.threads or max(1, (os.cpu_count() or 1) //
                                  max(args.jobs, 1))
    skipped = [j['name'] for j in jobs
               if j['name'] in finished and not done(j)]
    print(f'[benchmark] {len(jobs)} runs, {len(pending)} to do, '
          f'{args.jobs} in parallel x {threads} thread(s)', flush=True)
    if skipped:
        print(f'[benchmark] not re-trained (every run that needs them is '
              f'finished): {", ".join(skipped)}', flush=True)
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
    generator = GENERATORS.get(osp.normpath(args.data_root))
    args.data_root = osp.abspath(osp.join(ROOT, args.data_root)
                                 if not osp.isabs(args.data_root)
                                 and not osp.exists(args.data_root)
                                 else args.data_root)
    if generator and not osp.isdir(args.data_root):
        proc = subprocess.run([PY, osp.join(ROOT, 'tools', generator),
                               '--out', args.data_root])
        if proc.returncode:
            raise SystemExit(proc.returncode)
    try:  # a missing split or an empty class fails before any training
        check_image_folder(args.data_root, data_splits(args.data_root))
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f'error: {e}') from None
    meta = dict(command='python tools/benchmark/run_all.py ' +
                shlex.join(sys.argv[1:] if argv is None else argv),
                data_root=args.data_root, config=args.config,
                seeds=args.seeds,
                targets=args.targets, methods=args.methods,
                pretrain_epochs=args.pretrain_epochs,
                search_epochs=args.search_epochs,
                finetune_epochs=args.finetune_epochs,
                slim_lambda=args.slim_lambda, quick=args.quick,
                cpu_count=os.cpu_count())
    with open(osp.join(args.out, 'meta.json'), 'w') as f:
        json.dump(meta, f, indent=1)
    start = time.perf_counter()
    if 'train' not in args.skip:
        train_all(args)
    data = ['--data-root', args.data_root]
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
