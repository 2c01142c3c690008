"""The deploy-time forward pass whose layers PaS counts and verifies."""
import torch
from torch import nn


def raw_forward(model: nn.Module, inputs: torch.Tensor):
    """Network outputs before any post-processing.

    Classifiers: ``model(inputs, mode='tensor')`` (logits). mmdet detectors:
    the neck features and the dense head's raw outputs (``bbox_head(x)``),
    plus the prototypes of a YOLACT-style mask head (``protonet`` on the
    first FPN level), which is every conv that runs at inference. Training-
    only branches (e.g. YOLACT's semantic segmentation) are not included.

    Args:
        model: an mmpretrain classifier or an mmdet detector.
        inputs: (N, C, H, W) preprocessed images.
    """
    if hasattr(model, 'bbox_head') and hasattr(model, 'extract_feat'):
        feats = model.extract_feat(inputs)
        outs = [feats, model.bbox_head(feats)]
        protonet = getattr(getattr(model, 'mask_head', None), 'protonet',
                           None)
        if protonet is not None:
            outs.append(protonet(feats[0]))
        return outs
    return model(inputs, mode='tensor')
