"""gates='auto' on one stock config of every model folder, as a table.

Takes the smallest variant (by name: nano < tiny < small < ..., then the
smallest depth number) of every ``.mim/configs/<folder>/`` of the installed
mmpretrain and mmdet (self-supervised folders: their classification
benchmark), builds ``PaSModel(gates='auto')`` on it in a child process
(forked from the sweep, which imports the stock packages once) with a
time limit, prunes a third of every gate (random BatchNorm statistics),
deploys through ``export_verified`` and compares the counter's MACs with
torch's ``FlopCounterMode`` on the deployed model. Input: classifiers at
64x64, detectors at 128x128; where the stock network cannot run there,
its stock size (classifiers) or 320 / 640 (detectors).

One JSON line per config is appended to ``--out``; configs already there
are skipped (resumable). ``--table`` prints the markdown table of a
results file.

    nice -n 10 python tools/auto_gating_sweep.py --out work_dirs/sweep.jsonl
    python tools/auto_gating_sweep.py --table work_dirs/sweep.jsonl
    python tools/auto_gating_sweep.py --one mmdet::yolox/yolox_tiny_8xb8-300e_coco.py
"""
import argparse
import copy
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time
import traceback
from typing import Optional

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SMALL = {'classifier': 64, 'detector': 128}
DETECTOR_SIZES = (128, 320, 640)
TIMEOUT_S = 300
MEMORY_LIMIT = 16 << 30  # bytes of address space per config
# size words, smallest first (a config's rank: its first word found)
SIZE_WORDS = ('atto', 'femto', 'pico', 'nano', 'xxs', 'xs', 'tiny', 'mini',
              'lite', 'light', 'small', 'base', 'medium', 'large')


def folders(scope: str):
    """(folder name, config paths) of every model folder of a package."""
    import importlib
    pkg = osp.dirname(importlib.import_module(scope).__file__)
    root = osp.join(pkg, '.mim', 'configs')
    for d in sorted(glob.glob(osp.join(root, '*', ''))):
        name = osp.basename(osp.dirname(d))
        if name.startswith('_'):
            continue
        bench = sorted(glob.glob(osp.join(d, 'benchmarks', '*.py')))
        top = sorted(glob.glob(osp.join(d, '*.py')))
        files = bench or top
        if files:
            yield name, [osp.relpath(f, root) for f in files]


def size_key(path: str):
    """Sort key: size word rank, smallest depth / width number, length."""
    name = osp.basename(path).lower()
    words = re.split(r'[-_.]', name)
    rank = next((i for i, w in enumerate(SIZE_WORDS)
                 if any(x == w or x.startswith(w) for x in words)),
                len(SIZE_WORDS))
    if rank == len(SIZE_WORDS) and any(x in ('s', 't', 'n') for x in words):
        rank = SIZE_WORDS.index('small')
    model = re.sub(r'v\d+[a-z]?', '', name.split('_')[0])  # version tags
    num = re.search(r'(\d+(?:\.\d+)?)(gf)?', model)
    size = (float(num.group(1)) * (1000 if num.group(2) else 1)
            if num else 1e9)
    bad = any(w in name for w in ('ft', 'finetune', 'pretrain', 'distill',
                                  'ms-', 'mstrain', 'amp', 'lsj', '3x',
                                  'crop', 'onnx', 'tta'))
    return (bad, rank, size, len(name), name)


def stock_configs():
    """The smallest config of every folder that defines a model (mmdet's
    ``common/`` holds only schedules; a TTA config holds no model)."""
    for scope in ('mmpretrain', 'mmdet'):
        for folder, files in folders(scope):
            config = next((f'{scope}::{f}' for f in sorted(files, key=size_key)
                           if defines_model(f'{scope}::{f}')), None)
            if config is not None:
                yield config


def defines_model(config: str) -> bool:
    """The config has a ``model`` with a type (one that does not load
    counts as a model, so the sweep reports why)."""
    try:
        return bool((load(config).get('model') or {}).get('type'))
    except Exception:
        return True


def load(config: str):
    """A package config (``scope::relative/path.py``) read from its file,
    as its own type (a lazy-import config cannot be a ``_base_`` of a
    plain one; a folder named ``gn+ws`` is no valid ``scope::`` path)."""
    import importlib

    from mmengine.config import Config
    scope, rel = config.split('::')
    pkg = osp.dirname(importlib.import_module(scope).__file__)
    return Config.fromfile(osp.join(pkg, '.mim', 'configs', rel))


def stock_size(cfg) -> int:
    """The test pipeline's crop (or resize) size of a classifier, else
    224."""
    pipeline = (cfg.get('test_dataloader') or {}).get('dataset', {}).get(
        'pipeline', []) or []
    for t in reversed(pipeline):
        for key in ('crop_size', 'scale'):
            v = t.get(key)
            if v is not None:
                return int(v if isinstance(v, int) else max(v))
    return 224


def run_error(arch, size: int) -> Optional[str]:
    """Why the stock model's raw forward fails at ``size`` x ``size``
    (its first line), None where it runs."""
    import torch
    from pas_mm.ops import raw_forward
    try:
        with torch.no_grad():
            raw_forward(arch.eval(), torch.zeros(1, 3, size, size))
        return None
    except Exception as e:
        return f'{type(e).__name__}: {e}'.strip().splitlines()[0][:160]


def randomize(model) -> None:
    """Random BatchNorm statistics and affine parameters, random attention
    bias tables (so that they matter), a third of every gate pruned, gates
    fixed."""
    import torch
    from torch.nn.modules.batchnorm import _BatchNorm
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _BatchNorm) and m.running_mean is not None:
                n = m.num_features
                m.running_mean.copy_(torch.rand(n, generator=g) * 2 - 1)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                    m.bias.copy_(torch.rand(n, generator=g) - 0.5)
        # per-head tables the stock init leaves at 0 (a wrong slice of
        # them would not show)
        for n, p in model.named_parameters():
            if n.endswith(('relative_position_bias_table', 'q_bias',
                           'v_bias')):
                p.copy_(torch.randn(p.shape, generator=g))
        for gate in model.gates().values():
            gate.weight[::3] = 0.
    model.fix_gates()
    model.eval()


def torch_macs(model, size: int) -> float:
    """Half the FLOPs of torch's FlopCounterMode in the raw forward."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from pas_mm.budget.macs_counter import counted_attention
    from pas_mm.ops import raw_forward
    # its module tracker asserts on a view of a parameter taken under
    # no_grad (Deformable DETR's query embedding): count without grads
    model.requires_grad_(False)
    with torch.no_grad(), counted_attention(), \
            FlopCounterMode(display=False) as counter:
        raw_forward(model.eval(), torch.zeros(1, 3, size, size))
    return counter.get_total_flops() / 2


def one(config: str) -> dict:
    """Build, prune, deploy and count one config (see the module doc)."""
    import torch
    from mmengine.logging import MMLogger
    from mmengine.registry import MODELS, init_default_scope
    sys.path.insert(0, ROOT)
    import pas_mm  # noqa: F401
    from pas_mm.deploy.pipeline import DeployError, export_verified
    from pas_mm.errors import PaSConfigError
    MMLogger.get_instance('mmengine', log_level='WARNING')
    torch.manual_seed(0)
    scope = config.split('::')[0]
    row = dict(config=config, status='crashed', stage='stock')
    try:
        init_default_scope(scope)
        cfg = load(config)
        arch_cfg = cfg.model
        if scope == 'mmdet' and (arch_cfg.get('test_cfg') or {}).get('rpn'):
            arch_cfg.test_cfg.rpn.max_per_img = 100  # RoIs per image
        arch = MODELS.build(copy.deepcopy(arch_cfg))  # DETR edits its cfg
        kind = ('detector' if scope == 'mmdet' else 'classifier')
        sizes = ((SMALL['classifier'], stock_size(cfg))
                 if kind == 'classifier' else DETECTOR_SIZES)
        size = error = None
        for s in sizes:
            error = run_error(arch, s)
            if error is None:
                size = s
                break
        if size is None:
            raise RuntimeError(f'the stock {type(arch).__name__} does not '
                               f'run at {sizes} ({error})')
        del arch
    except Exception as e:
        row.update(status='unavailable',
                   reason=f'{type(e).__name__}: {e}'.splitlines()[0][:300])
        return row
    row.update(size=size, stage='build')
    start = time.perf_counter()
    try:
        model = MODELS.build(dict(
            type='PaSModel', architecture=arch_cfg, gates='auto',
            input_shape=(3, size, size),
            macs_loss=dict(type='MACsLoss', target=1.0)))
    except PaSConfigError as e:
        row.update(status='refused', build_s=time.perf_counter() - start,
                   reason=str(e)[:400])
        return row
    except Exception as e:
        row.update(build_s=time.perf_counter() - start,
                   reason=f'{type(e).__name__}: {e}'.splitlines()[0][:300],
                   trace=traceback.format_exc()[-1500:])
        return row
    auto = model.auto_gates
    row.update(build_s=round(time.perf_counter() - start, 2),
               gates=len(auto.groups), skipped=len(auto.skipped),
               outputs=sum('output' in r for _, r in auto.skipped),
               skip_reasons=sorted({_short(r) for _, r in auto.skipped
                                    if 'output' not in r})[:6],
               macs_full=model.macs_full, stage='deploy')
    if not auto.groups:
        row.update(status='built')
        return row
    try:
        randomize(model)
        _, _, deployed, diffs = export_verified(model)
        row.update(status='built', stage='done',
                   deploy_diff=(diffs['max_abs_diff_float64'] if
                                diffs['max_abs_diff_float64'] is not None
                                else diffs['max_abs_diff']),
                   checked_in=diffs['checked_in'],
                   macs_kept=model.counter.kept_macs(),
                   macs_torch=torch_macs(deployed, size))
        row['macs_rel_err'] = abs(row['macs_kept'] - row['macs_torch']) / max(
            row['macs_torch'], 1.)
    except (DeployError, PaSConfigError) as e:
        row.update(status='deploy refused', reason=str(e)[:400])
    except Exception as e:
        row.update(reason=f'{type(e).__name__}: {e}'.splitlines()[0][:300],
                   trace=traceback.format_exc()[-1500:])
    return row


def _short(reason: str) -> str:
    """A skip reason without layer paths (for the table)."""
    for key in ('normalizes across channels', 'holds only part',
                'cannot follow', 'is ignored', 'maps channel',
                'carries its channels'):
        if key in reason:
            return key
    return reason[:60]


def _child(config: str, conn) -> None:
    import resource
    # a stock config that builds a multi-billion-parameter language model
    # fails here with a MemoryError instead of exhausting the machine
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    conn.send(json.dumps(one(config)))
    conn.close()


def run_one(config: str, timeout: int) -> dict:
    """``one(config)`` in a child forked from this process (the stock
    packages imported once here, not per config), killed after
    ``timeout`` s."""
    import multiprocessing as mp
    ctx = mp.get_context('fork')
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(config, send), daemon=True)
    proc.start()
    send.close()
    row = None
    if recv.poll(timeout):
        try:
            row = json.loads(recv.recv())
        except EOFError:
            pass
    else:
        proc.kill()
        row = dict(config=config, status='timed out', reason=f'> {timeout} s')
    proc.join()
    recv.close()
    return row or dict(config=config, status='crashed', stage='process',
                       reason=f'exit {proc.exitcode}')


def sweep(out: str, configs, timeout: int, redo: bool = False) -> None:
    done = set()
    if osp.exists(out):
        with open(out) as f:
            rows = [line for line in f if line.strip()]
        if redo:  # run ``configs`` again: their old rows go
            rows = [r for r in rows if json.loads(r)['config'] not in configs]
            with open(out + '.tmp', 'w') as f:
                f.writelines(rows)
            os.replace(out + '.tmp', out)
        done = {json.loads(r)['config'] for r in rows}
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    sys.path.insert(0, ROOT)
    import mmdet.models  # noqa: F401  (imported once, forked per config)
    import mmpretrain.models  # noqa: F401
    import pas_mm  # noqa: F401
    import torch_pruning  # noqa: F401
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'],
                            cwd=ROOT, capture_output=True,
                            text=True).stdout.strip() or None
    for config in configs:
        if config in done:
            continue
        start = time.perf_counter()
        row = run_one(config, timeout)
        row['wall_s'] = round(time.perf_counter() - start, 1)
        row['commit'] = commit
        with open(out, 'a') as f:
            f.write(json.dumps(row) + '\n')
        print(f"{row['status']:>14} {row.get('build_s', '-')!s:>7} s  "
              f"{config}  {row.get('reason', '')[:100]}", flush=True)


def table(path: str) -> str:
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    # mmpretrain first, then mmdet, each by config path
    rows.sort(key=lambda r: (not r['config'].startswith('mmpretrain'),
                             r['config']))
    counts = {}
    for r in rows:
        counts[r['status']] = counts.get(r['status'], 0) + 1
    built = [r['build_s'] for r in rows if 'build_s' in r]
    lines = [', '.join(f'{v} {k}' for k, v in sorted(counts.items())) +
             f' of {len(rows)}; build time max {max(built or [0]):.1f} s, '
             f'median {sorted(built)[len(built) // 2] if built else 0:.1f} s',
             '',
             '| config | input | result | gates | not gated (outputs / '
             'other) | build s | deploy diff (float64) | MACs: counter vs torch |',
             '| --- | --- | --- | --- | --- | --- | --- | --- |']
    for r in rows:
        result = r['status']
        if r.get('reason') and r['status'] != 'built':
            result += ': ' + r['reason'].replace('|', '/')[:160]
        elif r.get('skip_reasons'):
            result += ' (not gated: ' + ', '.join(r['skip_reasons']) + ')'
        diff = (f"{r['deploy_diff']:.1e}" if r.get('deploy_diff') is not
                None else '')
        if r.get('checked_in') == 'float32':  # cannot run in float64
            diff += ' (float32)'
        macs = (f"{100 * r['macs_rel_err']:.2f}%" if 'macs_rel_err' in r
                else '')
        skipped = (f"{r['outputs']} / {r['skipped'] - r['outputs']}"
                   if 'skipped' in r else '')
        size = f"{r['size']}" if 'size' in r else ''
        build = f"{r['build_s']:.1f}" if 'build_s' in r else ''
        lines.append(f"| {r['config'].replace('::', ' ')} | {size} | "
                     f"{result} | {r.get('gates', '')} | {skipped} | "
                     f'{build} | {diff} | {macs} |')
    return '\n'.join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', help='results file (JSON lines), appended')
    parser.add_argument('--one', help='one config: print its JSON line')
    parser.add_argument('--table', help='print the table of a results file')
    parser.add_argument('--list', action='store_true',
                        help='print the configs the sweep takes')
    parser.add_argument('--timeout', type=int, default=TIMEOUT_S,
                        help='seconds per config (default %(default)s)')
    parser.add_argument('--redo', action='store_true',
                        help='run the named configs again, replacing their '
                        'rows in --out')
    parser.add_argument('configs', nargs='*', help='instead of every folder')
    args = parser.parse_args()
    if args.redo and not (args.out and args.configs):
        parser.error('--redo needs --out and the configs to run again')
    if args.one:
        print(json.dumps(one(args.one)), flush=True)
    elif args.table:
        print(table(args.table))
    elif args.list:
        print('\n'.join(stock_configs()))
    elif args.out:
        sweep(args.out, args.configs or list(stock_configs()), args.timeout,
              args.redo)
    else:
        parser.error('--out, --one, --table or --list')


if __name__ == '__main__':
    main()
