"""gates='auto': attention heads as whole units (ViT's MultiheadAttention,
Swin's WindowMSA).

Tiny models from mmpretrain's classes: one gate per attention module whose
units are heads, a search step reaches it, pruned heads deploy exactly
(float64), the deployed modules run the kept heads, and the counter's MACs
equal torch's FlopCounterMode / 2 on the deployed model.
"""
import pytest
import torch
from mmengine.registry import MODELS, init_default_scope
from torch.utils.flop_counter import FlopCounterMode

from pas_mm.budget.macs_counter import counted_attention
from pas_mm.deploy.pipeline import export_verified
from pas_mm.ops import raw_forward

VIT = dict(
    type='ImageClassifier',
    backbone=dict(type='VisionTransformer', img_size=32, patch_size=8,
                  arch=dict(embed_dims=48, num_layers=2, num_heads=3,
                            feedforward_channels=96)),
    neck=None,
    head=dict(type='VisionTransformerClsHead', num_classes=10,
              in_channels=48))
SWIN = dict(
    type='ImageClassifier',
    backbone=dict(type='SwinTransformer', img_size=64, window_size=4,
                  arch=dict(embed_dims=24, depths=[2, 2], num_heads=[3, 6]),
                  out_indices=(1, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=48))
BEIT = dict(
    type='ImageClassifier',
    backbone=dict(type='BEiTViT', img_size=32, patch_size=8,
                  arch=dict(embed_dims=48, num_layers=2, num_heads=3,
                            feedforward_channels=96),
                  out_type='avg_featmap', use_abs_pos_emb=False,
                  use_rel_pos_bias=True),
    neck=None,
    head=dict(type='LinearClsHead', num_classes=10, in_channels=48))
MODELS_ = {'vit': (VIT, 32), 'swin': (SWIN, 64), 'beit': (BEIT, 32)}


def build(name, **kwargs):
    init_default_scope('mmpretrain')
    arch, size = MODELS_[name]
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='PaSModel', architecture=arch, gates='auto',
        input_shape=(3, size, size),
        macs_loss=dict(type='MACsLoss', target=0.99, loss_weight=1.0,
                       floor=0.), **kwargs))
    with torch.no_grad():  # the stock init leaves bias tables at 0
        for n, p in model.architecture.named_parameters():
            if n.endswith(('relative_position_bias_table', 'q_bias',
                           'v_bias')):
                p.normal_()
    return model, size


def head_gates(model):
    return {n: g for n, g in model.gates().items() if n.endswith('-heads')}


def torch_macs(model, size):
    with torch.no_grad(), counted_attention(), \
            FlopCounterMode(display=False) as counter:
        raw_forward(model.eval(), torch.zeros(1, 3, size, size))
    return counter.get_total_flops() / 2


@pytest.mark.parametrize('name,paths,heads', [
    ('vit', [f'backbone.layers.{i}.attn' for i in range(2)], [3, 3]),
    ('swin', [f'backbone.stages.{s}.blocks.{b}.attn.w_msa'
              for s in range(2) for b in range(2)], [3, 3, 6, 6]),
    ('beit', [f'backbone.layers.{i}.attn' for i in range(2)], [3, 3]),
])
def test_one_gate_per_attention_module_whose_units_are_heads(
        name, paths, heads):
    model, _ = build(name)
    gates = head_gates(model)
    assert list(gates) == [f"gates.{p.replace('.', '-')}-heads"
                           for p in paths]
    assert [g.num_channels for g in gates.values()] == heads
    # the graph's "cannot follow" entries of the qkv layers are gone
    assert not any('attn' in root for root, _ in model.auto_gates.skipped)
    groups = {g.root: g for g in model.auto_gates.groups}
    assert groups[paths[0]].members == [(f'{paths[0]}.qkv', 'out'),
                                        (f'{paths[0]}.proj', 'in')]


@pytest.mark.parametrize('name', ['vit', 'swin', 'beit'])
def test_search_step_reaches_the_head_gates(name):
    from mmpretrain.structures import DataSample
    model, size = build(name)
    model.train()
    losses = model(torch.randn(2, 3, size, size),
                   [DataSample().set_gt_label(3),
                    DataSample().set_gt_label(5)], mode='loss')
    assert 'loss_macs' in losses
    sum(v.sum() for k, v in losses.items() if 'loss' in k).backward()
    for n, g in head_gates(model).items():
        assert g.weight.grad is not None and g.weight.grad.abs().sum() > 0, n
    # the MACs loss alone reaches them too (qkv, proj and the matmuls)
    model.zero_grad()
    model.counter.macs().backward()
    assert all(g.weight.grad.abs().sum() > 0
               for g in head_gates(model).values())


@pytest.mark.parametrize('name', ['vit', 'swin', 'beit'])
def test_pruned_heads_deploy_exactly_and_count_as_torch(name):
    model, size = build(name)
    model.eval()
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        full = raw_forward(model.architecture, x)
        for g in model.gates().values():
            g.weight[::3] = 0.  # head 0 (and 3) of every attention pruned
    model.fix_gates()
    cfg, _, deployed, diffs = export_verified(model)
    assert diffs['max_abs_diff_float64'] <= 1e-8
    kept = {h.path: h.gate.num_kept() for h in model.auto_gates.heads}
    assert cfg['heads'] == kept and all(
        k < h.num_heads for k, h in zip(kept.values(),
                                        model.auto_gates.heads))
    for path, k in kept.items():
        attn = deployed.get_submodule(path)
        assert attn.num_heads == k
        assert attn.proj.in_features == k * model.auto_gates.heads[
            0].head_dims
        assert attn.qkv.out_features == 3 * attn.proj.in_features
        table = getattr(attn, 'relative_position_bias_table', None)
        assert table is None or table.shape[1] == k
    kept_macs = model.counter.kept_macs()
    assert kept_macs < model.macs_full
    assert torch_macs(deployed, size) == pytest.approx(kept_macs, rel=1e-9)
    assert torch_macs(model.architecture, size) == pytest.approx(
        model.macs_full, rel=1e-9)
    with torch.no_grad():  # pruning the heads changed the outputs
        assert (raw_forward(deployed, x) - full).abs().max() > 1e-4


def test_swin_attention_matmuls_scale_with_kept_heads():
    model, size = build('swin')
    entries = [e for e in model.counter.entries
               if e.name.endswith('(attention matmuls)')]
    assert len(entries) == 4
    gate = entries[0].gate
    with torch.no_grad():
        gate.weight[:1] = 0.
    assert entries[0].macs(lambda g: g.num_kept()) == pytest.approx(
        entries[0].full() * 2 / 3)


def test_vit_attention_matmuls_are_counted_and_scale_with_heads():
    """ViT's ``scaled_dot_product_attention`` counted as its two matmuls
    (``q @ k^T``, ``attn @ v``: 2 * N^2 * embed_dims MACs, N = 16 patches
    + the class token), which torch's fused CPU kernel hides from
    ``FlopCounterMode``; a third of the heads pruned, a third less."""
    model, size = build('vit')
    entries = [e for e in model.counter.entries
               if e.name.endswith('(attention matmuls)')]
    assert len(entries) == 2
    tokens = (size // 8) ** 2 + 1
    assert entries[0].full() == 2 * tokens**2 * 48
    with torch.no_grad():
        entries[0].gate.weight[:1] = 0.
    assert entries[0].macs(lambda g: g.num_kept()) == pytest.approx(
        entries[0].full() * 2 / 3)


def test_ignored_attention_keeps_its_heads_and_says_why():
    model, _ = build('vit', ignored=['backbone.layers.0.attn'])
    assert list(head_gates(model)) == ['gates.backbone-layers-1-attn-heads']
    why = dict(model.auto_gates.skipped)['backbone.layers.0.attn.qkv']
    assert why.endswith('heads of backbone.layers.0.attn not gated: '
                        'ignored')


def test_beit_shared_position_bias_keeps_the_heads_whole():
    """A bias shared by every layer (one tensor per head) cannot follow
    one layer's kept heads: the attention stays whole, the reason given."""
    init_default_scope('mmpretrain')
    arch = dict(BEIT, backbone=dict(BEIT['backbone'], use_rel_pos_bias=False,
                                    use_shared_rel_pos_bias=True))
    model = MODELS.build(dict(
        type='PaSModel', architecture=arch, gates='auto',
        input_shape=(3, 32, 32), macs_loss=dict(type='MACsLoss',
                                                 target=0.99, floor=0.)))
    assert not head_gates(model)
    # (its qkv runs as F.linear: the graph saw no qkv layer to skip)
    why = dict(model.auto_gates.skipped)['backbone.layers.0.attn']
    assert why == ('heads of backbone.layers.0.attn (BEiTAttention) not '
                   'gated: a RelativePositionBias in the model adds one '
                   'tensor per head')
