"""The deploy-time forward pass whose layers PaS counts and verifies."""
from typing import List

import torch
from mmengine.structures import InstanceData
from torch import nn

# RoIs per image when a detector's test_cfg does not say (mmdet's default
# rpn max_per_img)
DEFAULT_NUM_PROPOSALS = 1000
# attributes that make a model an mmdet detector here
DETECTOR_HEADS = ('rpn_head', 'roi_head', 'bbox_head', 'mask_head')


def detector_data_samples(inputs: torch.Tensor) -> list:
    """One ``DetDataSample`` per image with the metainfo a test run sets.

    As mmdet's ``get_flops.py`` does: ``img_shape``, ``ori_shape``,
    ``pad_shape`` and ``batch_input_shape`` are the input size,
    ``scale_factor`` is 1.
    """
    from mmdet.structures import DetDataSample
    h, w = inputs.shape[-2:]
    meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                batch_input_shape=(h, w), scale_factor=(1., 1.))
    return [DetDataSample(metainfo=meta) for _ in range(len(inputs))]


def num_proposals(model: nn.Module) -> int:
    """RoIs per image at test time: ``test_cfg.rpn.max_per_img``."""
    rpn_cfg = (getattr(model, 'test_cfg', None) or {}).get('rpn') or {}
    return int(rpn_cfg.get('max_per_img', DEFAULT_NUM_PROPOSALS))


def fixed_proposals(inputs: torch.Tensor, num: int) -> List[InstanceData]:
    """``num`` deterministic boxes (x1, y1, x2, y2) per image.

    The RoI head runs on these instead of the RPN's NMS output, so its MACs
    are counted at the test config's proposal number and its outputs can be
    compared exactly (NMS would make both depend on near-ties).
    """
    h, w = inputs.shape[-2:]
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(num, 2, generator=g) * torch.tensor([w, h]) * 0.75
    wh = (torch.rand(num, 2, generator=g) * 0.9 + 0.1) * torch.tensor(
        [w, h]) * 0.5
    boxes = torch.cat([xy, torch.minimum(xy + wh, torch.tensor([w, h]))], 1)
    return [InstanceData(bboxes=boxes.to(inputs)) for _ in range(len(inputs))]


def yolact_mask_logits(protos: torch.Tensor, coeffs: List[torch.Tensor],
                       grid: int = 8):
    """YOLACT's mask logits of every prior, on a ``grid`` x ``grid`` sample
    of prototype pixels, before the crop.

    ``protos`` (N, P, h, w) and ``coeffs`` per level (N, A * P, H, W) give
    (N, priors, pixels): what the detector outputs, and unchanged when
    prototypes and their coefficients are pruned together (``num_protos``).
    """
    n, p, h, w = protos.shape
    protos = protos[:, :, ::max(1, h // grid), ::max(1, w // grid)]
    coeffs = torch.cat([c.permute(0, 2, 3, 1).reshape(n, -1, p)
                        for c in coeffs], 1)
    return torch.einsum('nqp,npk->nqk', coeffs, protos.flatten(2))


def training_only_layers(model: nn.Module) -> List[nn.Module]:
    """Layers :func:`raw_forward` runs only with ``training_branches``."""
    branch = getattr(getattr(model, 'mask_head', None), 'segm_branch', None)
    return [] if branch is None else list(branch.modules())


def raw_forward(model: nn.Module, inputs: torch.Tensor,
                training_branches: bool = False):
    """Network outputs before any post-processing.

    Classifiers: ``model(inputs, mode='tensor')`` (logits). mmdet's
    DETR-like detectors (``forward_transformer``): their ``_forward``, the
    head's raw outputs. Other mmdet detectors: every conv that runs at
    inference, without NMS or other
    post-processing: the neck features; the dense heads' raw outputs (RPN,
    ``bbox_head``); a two-stage RoI head on :func:`fixed_proposals`
    (``test_cfg.rpn.max_per_img`` per image; mmdet's RoI head runs its mask
    branch on the first 100); the mask head's dense part: YOLACT's
    prototypes, CondInst's mask features, SOLO's kernel and mask outputs.

    Args:
        model: an mmpretrain classifier or an mmdet detector.
        inputs: (N, C, H, W) preprocessed images.
        training_branches: also run the branches only training uses
            (YOLACT's semantic segmentation on P3), so that tracing sees
            every layer reading a gated feature.
    """
    if not any(hasattr(model, h) for h in DETECTOR_HEADS):
        return model(inputs, mode='tensor')
    if hasattr(model, 'forward_transformer'):  # DETR, DINO...: head outputs
        return model._forward(inputs, detector_data_samples(inputs))
    feats = model.extract_feat(inputs)
    outs = []
    if getattr(model, 'rpn_head', None) is not None:
        outs.append(model.rpn_head(feats))
    if getattr(model, 'roi_head', None) is not None:
        outs.append(model.roi_head.forward(
            feats, fixed_proposals(inputs, num_proposals(model)),
            detector_data_samples(inputs)))
    if getattr(model, 'bbox_head', None) is not None:
        outs.append(model.bbox_head(feats))
    mask_head = getattr(model, 'mask_head', None)
    if mask_head is not None and getattr(model, 'roi_head', None) is None:
        if hasattr(mask_head, 'protonet'):  # YOLACT
            cls_scores, bbox_preds, coeffs = outs.pop()
            protos = mask_head.protonet(feats[0])
            outs += [cls_scores, bbox_preds,
                     yolact_mask_logits(protos, coeffs)]
            if training_branches and mask_head.segm_branch is not None:
                outs.append(mask_head.segm_branch(feats[0]))
        elif hasattr(mask_head, 'mask_feature_head'):  # CondInst
            outs.append(mask_head.mask_feature_head(feats))
        else:  # SOLO / SOLOv2
            outs.append(mask_head(feats))
    return outs
