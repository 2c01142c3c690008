"""Translation quality without downloaded weights: SWD, PSNR, SSIM.

SWD is mmagic's ``SlicedWassersteinDistance`` (Laplacian-pyramid patches,
x1e3; lower is closer to the real target domain); PSNR / SSIM are mmagic's
``psnr`` / ``ssim`` between two generators' outputs (higher: closer).
Images are (N, C, H, W) in [-1, 1], as the generators output them.
"""
from typing import Dict

import numpy as np
import torch
from mmagic.evaluation import SlicedWassersteinDistance, psnr, ssim


def to_uint8_range(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 255] (float, clamped)."""
    return ((x.clamp(-1, 1) + 1) * 127.5).float()


def swd(fake: torch.Tensor, real: torch.Tensor, seed: int = 0) -> float:
    """mmagic's SWD (average over pyramid levels) of two image sets.

    ``fake`` (N, C, H, W) and ``real`` (M, C, H, W); the shorter set is
    cycled to the longer one's length (the metric pairs them per batch).
    """
    n = max(len(fake), len(real))
    fake = fake[torch.arange(n) % len(fake)]
    real = real[torch.arange(n) % len(real)]
    metric = SlicedWassersteinDistance(fake_nums=n,
                                       image_shape=tuple(real.shape[1:]))
    torch.manual_seed(seed)
    np.random.seed(seed)
    for i in range(0, n, 16):
        metric.process(None, [
            dict(gt_img=to_uint8_range(r), fake_img=to_uint8_range(f))
            for r, f in zip(real[i:i + 16], fake[i:i + 16])])
    return float(metric.compute_metrics(metric.fake_results,
                                        metric.real_results)['avg'])


def psnr_ssim(a: torch.Tensor, b: torch.Tensor) -> Dict[str, float]:
    """Mean PSNR (dB) and SSIM of image pairs ``a[i]``, ``b[i]``."""
    a = to_uint8_range(a).round().numpy()
    b = to_uint8_range(b).round().numpy()
    p = [psnr(x, y, input_order='CHW') for x, y in zip(a, b)]
    s = [ssim(x, y, input_order='CHW') for x, y in zip(a, b)]
    return dict(psnr=float(np.mean(p)), ssim=float(np.mean(s)))
