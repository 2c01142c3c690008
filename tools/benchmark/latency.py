"""CPU latency of deployed (fused, pruned) models vs the unpruned ones.

    python tools/benchmark/latency.py --out work_dirs/benchmark \
        [--deployed RUN/deploy.pth ...] [--batch 1 32] [--threads 1]

Without --deployed it measures the seed-0 deploy.pth of every final run in
OUT/runs. In one process, with the models interleaved round by round, it
times: the unpruned multi-branch RepVGG (training form, no gates), the
unpruned fused RepVGG (deploy form), and every deployed model; it reports
the median latency, the speedups, the MACs reduction and the ratio of
measured speedup to MACs reduction (1.0: latency falls as fast as MACs).
With onnxruntime installed it also exports the deployed models to ONNX
and times them there. Writes OUT/latency.json.
"""
import argparse
import copy
import glob
import json
import os.path as osp
import sys
import tempfile
import time

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import common  # noqa: E402,F401  (pas_mm first)

import torch  # noqa: E402
from mmengine.registry import MODELS, init_default_scope  # noqa: E402

from pas_mm.deploy import count_macs  # noqa: E402
from pas_mm.models.backbones import PaSRepVGG  # noqa: E402


def reference_cfgs(deploy_cfg: dict):
    """Unpruned multi-branch and unpruned fused configs of a deployed one."""
    backbone = deploy_cfg['backbone']
    full = PaSRepVGG.arch_widths(backbone['arch'],
                                 backbone.get('base_channels', 64))
    out = {}
    for name, fused in (('unpruned multi-branch', False),
                        ('unpruned fused', True)):
        cfg = copy.deepcopy(deploy_cfg)
        cfg['backbone'] = dict(backbone, widths=None, deploy=fused,
                               gate_cfg=None)
        cfg['head'] = dict(cfg['head'], in_channels=full[-1])
        out[name] = cfg
    return out


@torch.no_grad()
def interleaved_latency(models: dict, x: torch.Tensor, runs: int,
                        rounds: int = 5, warmup: int = 5) -> dict:
    """Median ms per call; every round times every model ``runs/rounds``
    times, so drifting machine load hits all models alike."""
    for m in models.values():
        for _ in range(warmup):
            m(x, mode='tensor')
    times = {n: [] for n in models}
    per_round = max(1, runs // rounds)
    names = list(models)
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            m = models[n]
            for _ in range(per_round):
                t0 = time.perf_counter()
                m(x, mode='tensor')
                times[n].append((time.perf_counter() - t0) * 1e3)
    return {n: sorted(t)[len(t) // 2] for n, t in times.items()}


def onnx_latency(models: dict, shape, runs: int, threads: int) -> dict:
    try:
        import onnxruntime as ort
    except ImportError as e:
        return dict(error=f'onnxruntime not installed ({e}); '
                    '`pip install onnx onnxruntime "numpy<2"` to include it')
    out = dict(threads=threads, models=[])
    x = torch.randn(1, *shape)
    for name, model in models.items():
        try:
            with tempfile.TemporaryDirectory() as tmp:
                path = osp.join(tmp, 'model.onnx')

                class Tensor(torch.nn.Module):

                    def __init__(self, m):
                        super().__init__()
                        self.m = m

                    def forward(self, x):
                        return self.m(x, mode='tensor')

                torch.onnx.export(Tensor(model).eval(), (x, ), path,
                                  input_names=['input'],
                                  output_names=['logits'], dynamo=False)
                opts = ort.SessionOptions()
                opts.intra_op_num_threads = threads
                sess = ort.InferenceSession(
                    path, opts, providers=['CPUExecutionProvider'])
                feed = {'input': x.numpy()}
                ref = model(x, mode='tensor')
                got = torch.from_numpy(sess.run(None, feed)[0])
                diff = float((ref - got).abs().max())
                for _ in range(5):
                    sess.run(None, feed)
                ts = []
                for _ in range(runs):
                    t0 = time.perf_counter()
                    sess.run(None, feed)
                    ts.append((time.perf_counter() - t0) * 1e3)
                torch_ms = interleaved_latency({name: model}, x, runs)[name]
                out['models'].append(dict(
                    name=name, ort_ms=sorted(ts)[len(ts) // 2],
                    torch_ms=torch_ms, max_abs_diff=diff))
        except Exception as e:  # noqa: BLE001  (optional step)
            return dict(error=f'ONNX export/run failed: {e!r}'[:300])
    return out


def find_deployed(out: str, seed: int = 0) -> list:
    """(name, deploy.pth) of the seed's final pruned runs, by target."""
    order = {'pas': 0, 'uniform': 1, 'l1': 2, 'slim': 3}
    found = []
    for res in glob.glob(osp.join(out, 'runs', '*', 'result.json')):
        r = json.load(open(res))
        path = osp.join(osp.dirname(res), 'deploy.pth')
        if r.get('seed') == seed and osp.exists(path) and \
                r.get('method') in order:
            found.append((-r['target'], order[r['method']],
                          f"{r['method']} @ {r['target']:.0%} target", path))
    return [(name, path) for _, _, name, path in sorted(found)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', default='work_dirs/benchmark')
    p.add_argument('--deployed', nargs='*', default=None)
    p.add_argument('--batch', type=int, nargs='+', default=[1, 32])
    p.add_argument('--threads', type=int, nargs='+', default=[1])
    p.add_argument('--runs', type=int, default=200)
    p.add_argument('--no-onnx', action='store_true')
    args = p.parse_args(argv)
    init_default_scope('mmpretrain')
    torch.manual_seed(0)

    deployed = ([(osp.basename(osp.dirname(d)) or d, d)
                 for d in args.deployed] if args.deployed
                else find_deployed(args.out))
    if not deployed:
        sys.exit(f'latency: no deploy.pth found under {args.out}/runs; run '
                 'the benchmark first or pass --deployed')
    models, model_macs = {}, {}
    first = torch.load(deployed[0][1], map_location='cpu')
    shape = tuple(first['input_shape'])
    for name, cfg in reference_cfgs(first['cfg']).items():
        models[name] = MODELS.build(cfg).eval()
    for name, path in deployed:
        d = torch.load(path, map_location='cpu')
        m = MODELS.build(copy.deepcopy(d['cfg']))
        m.load_state_dict(d['state_dict'], strict=True)
        models[name] = m.eval()
    for name, m in models.items():
        model_macs[name] = count_macs(m, shape)

    settings = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for batch in args.batch:
            x = torch.randn(batch, *shape)
            runs = max(10, args.runs // max(1, batch // 8))
            lat = interleaved_latency(models, x, runs)
            multi = lat['unpruned multi-branch']
            fused = lat['unpruned fused']
            rows = []
            for name in models:
                red = model_macs['unpruned fused'] / model_macs[name]
                rows.append(dict(
                    name=name, macs=model_macs[name], latency_ms=lat[name],
                    speedup_vs_multibranch=multi / lat[name],
                    speedup_vs_fused=fused / lat[name], macs_reduction=red,
                    speedup_per_macs_reduction=fused / lat[name] / red))
            settings.append(dict(batch=batch, threads=threads, runs=runs,
                                 models=rows))
            print(f'batch {batch}, {threads} thread(s):')
            for r in rows:
                print(f"  {r['name']:<32} {r['macs'] / 1e6:7.2f}M "
                      f"{r['latency_ms']:8.3f} ms  x{r['speedup_vs_fused']:.2f}"
                      f" vs fused, MACs x{r['macs_reduction']:.2f}")
    result = dict(input_shape=list(shape), torch=torch.__version__,
                  settings=settings)
    if not args.no_onnx:
        torch.set_num_threads(args.threads[0])
        result['onnx'] = onnx_latency(
            {n: m for n, m in models.items() if 'unpruned' not in n}
            | {'unpruned fused': models['unpruned fused']},
            shape, args.runs, args.threads[0])
        print('onnx:', json.dumps(result['onnx'])[:500])
    with open(osp.join(args.out, 'latency.json'), 'w') as f:
        json.dump(result, f, indent=1)


if __name__ == '__main__':
    main()
