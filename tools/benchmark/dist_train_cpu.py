"""tools/train.py under torchrun on CPU-only machines (gloo).

    torchrun --nproc_per_node=2 tools/benchmark/dist_train_cpu.py CONFIG \
        --launcher pytorch [train.py arguments]

mmengine 0.10.7's ``init_dist('pytorch')`` calls ``torch.cuda.set_device``
unconditionally, which raises on a machine without CUDA. This wrapper makes
that call a no-op when CUDA is unavailable and then runs tools/train.py
unchanged. The config must also set ``env_cfg.dist_cfg.backend='gloo'``
and ``model_wrapper_cfg=dict(type='MMDistributedDataParallel',
device_ids=None)`` (a CPU module takes no device ids).
"""
import os.path as osp
import runpy
import sys

import torch

if not torch.cuda.is_available():
    torch.cuda.set_device = lambda device: None

TRAIN = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'train.py')
sys.argv[0] = TRAIN
runpy.run_path(TRAIN, run_name='__main__')
