"""Compatibility of the pinned stack with torch 2.13.

mmengine 0.10.7 calls ``torch.load`` without ``weights_only``; since torch
2.6 that defaults to True and refuses mmengine's own checkpoints (their
``meta`` holds numpy scalars and message-hub objects), so ``resume`` and
``load_from`` fail. pas_mm restores the pre-2.6 default for calls that do not
pass ``weights_only``, through torch's documented switch
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``, unless the user already set it.
Only load checkpoints you trust, as with any pickle.
"""
import os


def apply_compat() -> None:
    os.environ.setdefault('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')


apply_compat()
