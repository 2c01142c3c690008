"""Translation quality of a compressed CycleGAN generator vs the full one.

On the test split of the config's data (every source-domain test image,
through the config's test pipeline and data preprocessor), for each
compressed target domain: SWD (mmagic's, x1e3, no downloaded weights) of
the full and of the compressed generator's translations against the real
target-domain test images, PSNR / SSIM of the compressed outputs against
the full generator's, MACs, params and CPU latency (batch 1) of both, and
a PNG grid (rows: input / full output / compressed output).

    python tools/eval_cyclegan.py FULL_CONFIG FULL_CKPT COMPRESSED_CONFIG \
        COMPRESSED_CKPT --out DIR
"""
import argparse
import json
import os
import os.path as osp

import pas_mm  # noqa: F401  (compat fixes before mmengine loads anything)
import cv2
import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import load_checkpoint

from pas_mm.cli import merge_cfg_options
from pas_mm.deploy import count_params, measure_latency


def build_model(config: str, checkpoint: str, options=None):
    import pas_mm.gan  # noqa: F401  (one-line error without mmagic)
    from mmagic.registry import MODELS
    cfg = Config.fromfile(config)
    merge_cfg_options(cfg, options)
    init_default_scope(cfg.get('default_scope', 'mmagic'))
    model = MODELS.build(cfg.model)
    load_checkpoint(model, checkpoint, map_location='cpu', strict=True,
                    logger='silent')
    return cfg, model.eval()


def domain_images(cfg, model, domain: str, letter: str) -> torch.Tensor:
    """All test images of ``domain`` (folder ``test{letter}``),
    preprocessed."""
    from mmagic.registry import DATASETS
    ds = DATASETS.build(cfg.test_dataloader.dataset)
    key = f'img_{domain}'
    n = ds.len_a if letter == 'A' else ds.len_b
    out = []
    for i in range(0, n, 16):
        batch = model.data_preprocessor(
            pseudo_collate([ds[j] for j in range(i, min(i + 16, n))]))
        out.append(batch['inputs'][key])
    return torch.cat(out)


def grid_png(path: str, rows, num: int = 8) -> None:
    """Rows of images (N, C, H, W) in [-1, 1] -> one PNG (RGB -> BGR)."""
    img = torch.cat([torch.cat(list(r[:num]), 2) for r in rows], 1)
    img = ((img.clamp(-1, 1) + 1) * 127.5).round().byte()
    img = img.permute(1, 2, 0).numpy()[..., ::-1]
    cv2.imwrite(path, np.ascontiguousarray(img))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('full_config')
    p.add_argument('full_checkpoint')
    p.add_argument('config', help='the compressed model (deploy) config')
    p.add_argument('checkpoint')
    p.add_argument('--out', required=True)
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='e.g. data_root=DIR, applied to both configs')
    args = p.parse_args()
    options = args.cfg_options
    from pas_mm.gan.deploy import generator_macs
    from pas_mm.gan.metrics import psnr_ssim, swd
    full_cfg, full = build_model(args.full_config, args.full_checkpoint,
                                 options)
    cfg, comp = build_model(args.config, args.checkpoint, options)
    os.makedirs(args.out, exist_ok=True)
    domains = list(cfg.model.reachable_domains)
    letters = dict(zip(domains, 'AB'))
    report = {}
    for d in comp.compress_domains:
        src = [s for s in domains if s != d][0]
        x = domain_images(cfg, comp, src, letters[src])
        real = domain_images(cfg, comp, d, letters[d])
        g_full, g_comp = full.generators[d], comp.generators[d]
        with torch.no_grad():
            y_full = torch.cat([g_full(x[i:i + 16])
                                for i in range(0, len(x), 16)])
            y_comp = torch.cat([g_comp(x[i:i + 16])
                                for i in range(0, len(x), 16)])
        one = x[:1]
        report[f'{src}->{d}'] = dict(
            images=len(x),
            macs=dict(full=generator_macs(g_full, comp.input_shape),
                      compressed=generator_macs(g_comp, comp.input_shape)),
            params=dict(full=count_params(g_full),
                        compressed=count_params(g_comp)),
            latency_ms=dict(
                full=measure_latency(lambda: g_full(one), runs=20),
                compressed=measure_latency(lambda: g_comp(one), runs=20)),
            swd=dict(full=swd(y_full, real), compressed=swd(y_comp, real),
                     identity=swd(x, real)),
            compressed_vs_full=psnr_ssim(y_comp, y_full))
        grid_png(osp.join(args.out, f'grid_{src}2{d}.png'),
                 [x, y_full, y_comp])
    with open(osp.join(args.out, 'metrics.json'), 'w') as f:
        json.dump(report, f, indent=1)
    for name, r in report.items():
        print(f"{name}: MACs {r['macs']['full'] / 1e6:.2f}M -> "
              f"{r['macs']['compressed'] / 1e6:.2f}M, params "
              f"{r['params']['full'] / 1e3:.1f}K -> "
              f"{r['params']['compressed'] / 1e3:.1f}K, CPU latency "
              f"{r['latency_ms']['full']:.2f} -> "
              f"{r['latency_ms']['compressed']:.2f} ms (bs 1), SWD "
              f"{r['swd']['full']:.1f} -> {r['swd']['compressed']:.1f} "
              f"(input as output: {r['swd']['identity']:.1f}), compressed "
              f"vs full PSNR {r['compressed_vs_full']['psnr']:.2f} dB, "
              f"SSIM {r['compressed_vs_full']['ssim']:.3f} "
              f"({r['images']} test images)")
    print(f'written: {args.out}/metrics.json, {args.out}/grid_*.png')


if __name__ == '__main__':
    main()
