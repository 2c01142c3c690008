"""gates='auto': channel groups from the dependency graph on stock models.

Each stock config: one search step through the task and MACs losses
reaches every gate, a third of every gate is pruned, the deployed model
(stock config + per-layer shapes) equals the gated one in float64 and its
MACs equal the counter's and mmengine's FlopAnalyzer's.
"""
import ast
import json
import os
import os.path as osp
import subprocess
import sys
import time

import pytest
import torch
from conftest import ROOT, independent_macs
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.registry import MODELS, init_default_scope
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from pas_mm.deploy import count_macs
from pas_mm.deploy.pipeline import DeployError, export_verified
from pas_mm.budget.macs_counter import counted_attention
from pas_mm.errors import PaSConfigError
from pas_mm.ops import raw_forward

# stock config, input size
CLASSIFIERS = {
    'mobilenet-v2': ('mobilenet_v2/mobilenet-v2_8xb32_in1k.py', 32),
    'resnext-50': ('resnext/resnext50-32x4d_8xb32_in1k.py', 32),
    'efficientnet-b0': ('efficientnet/efficientnet-b0_8xb32_in1k.py', 32),
    'regnetx-400mf': ('regnet/regnetx-400mf_8xb128_in1k.py', 32),
    'convnext-t': ('convnext/convnext-tiny_32xb128_in1k.py', 32),
}


def stock_cfg(scope, base, tmp_path):
    cfg_file = osp.join(tmp_path, 'cfg.py')
    with open(cfg_file, 'w') as f:
        f.write(f"_base_ = ['{scope}::{base}']\n")
    return Config.fromfile(cfg_file)


def auto_model(arch, input_shape, scope, **kwargs):
    init_default_scope(scope)
    # floor 0: the gates keep their own min_keep (these tests prune by hand)
    kwargs.setdefault('macs_loss', dict(type='MACsLoss', target=0.99,
                                        loss_weight=1.0, floor=0.))
    return MODELS.build(dict(type='PaSModel', architecture=arch,
                             gates='auto', input_shape=input_shape,
                             **kwargs))


def build_classifier(name, tmp_path, **kwargs):
    base, size = CLASSIFIERS[name]
    cfg = stock_cfg('mmpretrain', base, tmp_path)
    return auto_model(cfg.model, (3, size, size), 'mmpretrain', **kwargs)


def classifier_batch(size):
    from mmpretrain.structures import DataSample
    return (torch.randn(2, 3, size, size),
            [DataSample().set_gt_label(3), DataSample().set_gt_label(5)])


def search_step(model, batch):
    """One training step's losses reach every gate."""
    model.train()
    losses = model(*batch, mode='loss')
    assert 'loss_macs' in losses
    total = sum(v.sum() for k, v in losses.items() if 'loss' in k
                for v in (v if isinstance(v, list) else [v]))
    total.backward()
    gates = model.gates()
    assert gates and all(g.weight.grad is not None for g in gates.values())
    assert all(g.weight.grad.abs().sum() > 0 for g in gates.values())


def prune_a_third(model):
    with torch.no_grad():
        for g in model.gates().values():
            g.weight[::3] = 0.
    model.fix_gates()


def torch_flop_counter_macs(model, shape) -> float:
    """Half the FLOPs torch's FlopCounterMode counts in the raw forward
    (batch 1, ``shape`` = (C, H, W))."""
    with torch.no_grad(), counted_attention(), \
            FlopCounterMode(display=False) as counter:
        raw_forward(model.eval(), torch.zeros(1, *shape))
    return counter.get_total_flops() / 2


def deploys_exactly(model):
    """Float64 deploy <= 1e-8, MACs = counter = FlopAnalyzer = torch's
    FlopCounter."""
    model.eval()
    cfg, state, deployed, diffs = export_verified(model)
    assert diffs['max_abs_diff_float64'] <= 1e-8
    kept = model.counter.kept_macs()
    assert kept < model.macs_full
    assert count_macs(deployed, model.input_shape) == pytest.approx(kept)
    assert independent_macs(deployed, model.input_shape) == pytest.approx(
        kept, rel=1e-6)
    assert torch_flop_counter_macs(deployed, model.input_shape) == \
        pytest.approx(kept, rel=1e-6)
    assert cfg['type'] == 'PaSNarrowed' and cfg['shapes']
    return cfg, deployed


@pytest.mark.parametrize('name', list(CLASSIFIERS))
def test_stock_classifier_searches_and_deploys_exactly(name, tmp_path):
    torch.manual_seed(0)
    model = build_classifier(name, tmp_path)
    # the stock layers stay; the gates live in architecture.gates
    assert all(n.startswith('gates.') for n in model.gates())
    assert model.macs_full == pytest.approx(
        independent_macs(model.architecture, model.input_shape), rel=1e-6)
    search_step(model, classifier_batch(CLASSIFIERS[name][1]))
    prune_a_third(model)
    deploys_exactly(model)


def test_grouped_conv_gates_whole_groups(tmp_path):
    """ResNeXt's 3x3 conv (32 groups) ties its input and output channels:
    one gate of 32 units; the deployed conv has groups = kept units."""
    model = build_classifier('resnext-50', tmp_path,
                             part_gate_cfg=dict(min_keep=8))
    assert {g.min_keep for g in model.gates().values()} == {8}
    group = next(g for g in model.auto_gates.groups
                 if ('backbone.layer1.0.conv2', 'out') in g.members)
    assert group.path == 'gates.backbone-layer1-0-conv1'
    assert group.gate.num_channels == 32
    assert {('backbone.layer1.0.conv1', 'out'),
            ('backbone.layer1.0.conv3', 'in')} <= set(group.members)
    for g in model.gates().values():
        g.fix(torch.arange(g.num_channels) % 2 == 0)
    cfg, deployed = deploys_exactly(model)
    conv = deployed.backbone.layer1[0].conv2
    assert (conv.groups, conv.in_channels, conv.out_channels) == (16, 64, 64)
    assert cfg['shapes']['backbone.layer1.0.conv2'] == [64, 4, 16]
    # RegNetX-400MF's first stage has 2 conv groups: min_keep is capped
    model = build_classifier('regnetx-400mf', tmp_path,
                             part_gate_cfg=dict(min_keep=8))
    small = [g for g in model.gates().values() if g.num_channels < 8]
    assert small and all(g.min_keep == g.num_channels for g in small)


def test_layer_norm_groups_stay_ungated_and_say_why(tmp_path):
    model = build_classifier('convnext-t', tmp_path)
    reasons = [r for _, r in model.auto_gates.skipped]
    assert any('LayerNorm' in r and 'normalizes across channels' in r
               for r in reasons)
    # the MLP hidden widths (Linear -> GELU -> Linear) are gated
    assert len(model.auto_gates.groups) == 18
    assert all(m.endswith(('pointwise_conv1', 'pointwise_conv2'))
               for g in model.auto_gates.groups for m, _ in g.members)


@MODELS.register_module(force=True)
class ChannelMeanNet(BaseModel):
    """conv -> BN -> ReLU -> minus the channel mean (a functional op that
    mixes channels, which the dependency graph takes for element-wise) ->
    conv -> global pool: logits."""

    def __init__(self, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 4, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.relu(self.bn(self.conv1(inputs)))
        x = x - x.mean(1, keepdim=True)
        return self.conv2(x).mean((2, 3))


@MODELS.register_module(force=True)
class ChannelFlipNet(ChannelMeanNet):
    """The same with the channels reversed (``x.flip(1)``), a channel mix
    the graph takes for element-wise and whose shape shows nothing."""

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.relu(self.bn(self.conv1(inputs)))
        return self.conv2(x - x.flip(1)).mean((2, 3))


def test_channel_reduction_is_caught_at_build_naming_the_layer():
    """The channel mean's (1, 1, 4, 4) output cannot hold the 8 channels
    the graph maps through it: the group stays ungated, saying where."""
    from pas_mm.models.graph_gates import build_auto_gates
    auto = build_auto_gates(ChannelMeanNet(), torch.zeros(1, 3, 4, 4),
                            lambda m, x: m(x))
    assert auto.groups == []
    assert dict(auto.skipped)['conv1'] == (
        'an index mapping past the 4 channels of a tensor after bn '
        '(BatchNorm2d) (the dependency graph cannot follow its channels)')


def test_nothing_gateable_is_refused_naming_the_layers():
    """A model whose every group is skipped is refused in one line that
    names the layers and why, not 'gate_cfg=None'."""
    with pytest.raises(PaSConfigError, match=(
            r"^PaSModel: gates='auto' found no group it can gate \(conv2: "
            r'reaches the model outputs; conv1: an index mapping past the 4 '
            r'channels of a tensor after bn \(BatchNorm2d\) \(the '
            r'dependency graph cannot follow its channels\)\); this model '
            r'cannot be searched by channel width here$')):
        auto_model(dict(type='ChannelMeanNet'), (3, 4, 4), 'mmpretrain')


def test_unseen_channel_mixing_is_caught_naming_the_layer():
    model = auto_model(dict(type='ChannelFlipNet'), (3, 8, 8), 'mmpretrain')
    gate, = model.gates().values()
    gate.fix(torch.arange(8) % 2 == 0)
    model.eval()
    with pytest.raises(DeployError, match=r'differs from the gated model.*'
                       r'first layer that differs is conv2 \(Conv2d\).*'
                       r'ignored'):
        export_verified(model)


@MODELS.register_module(force=True)
class SharedReLUFlipNet(ChannelMeanNet):
    """ChannelFlipNet with one ReLU module called twice (as a ResNet block
    calls its ``relu``) before the unseen channel mix."""

    def __init__(self, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.relu = nn.ReLU()
        self.conv3 = nn.Conv2d(8, 16, 1)
        self.conv4 = nn.Conv2d(16, 4, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = self.relu(self.bn(self.conv1(inputs)))
        x = self.relu(self.conv3(x))  # 16 channels
        return self.conv4(x - x.flip(1)).mean((2, 3))


def test_divergent_layer_search_leaves_a_shared_module_call_alone():
    """Finding the first layer that differs records a module's first call
    and returns nothing from its hook: a ReLU called twice still gets its
    own input the second time (its first output, returned, crashed CSRA's
    ResNet-101 with a channel mismatch instead of naming the layer)."""
    model = auto_model(dict(type='SharedReLUFlipNet'), (3, 8, 8),
                       'mmpretrain')
    for gate in model.gates().values():
        gate.fix(torch.arange(gate.num_channels) % 2 == 0)
    model.eval()
    with pytest.raises(DeployError, match=r'differs from the gated model.*'
                       r'first layer that differs is conv4 \(Conv2d\)'):
        export_verified(model)


class FixedWidthReader(nn.Module):
    """Copies its input into a buffer of a width it holds (as an mmdet RoI
    extractor allocates ``out_channels``), an op the graph takes for
    element-wise."""

    def __init__(self, width):
        super().__init__()
        self.width = width

    def forward(self, x):
        return x.new_zeros(x.shape[0], self.width, *x.shape[2:]).copy_(x)


@MODELS.register_module(force=True)
class FixedWidthNet(ChannelMeanNet):

    def __init__(self, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.reader = FixedWidthReader(8)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.relu(self.bn(self.conv1(inputs)))
        return self.conv2(self.reader(x)).mean((2, 3))


def test_deployed_model_that_does_not_run_is_refused_naming_the_module():
    """A layer holding the old width makes the deployed model fail: one
    line naming it (the innermost module in the error's traceback), not
    the traceback (Libra R-CNN's RoI extractor crashed the sweep)."""
    model = auto_model(dict(type='FixedWidthNet'), (3, 8, 8), 'mmpretrain')
    gate, = model.gates().values()
    gate.fix(torch.arange(8) % 2 == 0)
    model.eval()
    with pytest.raises(DeployError, match=(
            r'^the deployed model does not run \(RuntimeError in reader '
            r'\(FixedWidthReader\): .*\): a layer there reads a width '
            r'pas_mm did not narrow; list it in PaSModel\(ignored=\[\.\.\.'
            r'\]\); nothing written$')):
        export_verified(model)


@MODELS.register_module(force=True)
class Float32PositionNet(ChannelMeanNet):
    """Adds a learned map of a float32 tensor it builds itself (as XCiT's
    and Conditional DETR's position encodings do): it cannot run in
    float64."""

    def __init__(self, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.pos_proj = nn.Conv2d(4, 4, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.relu(self.bn(self.conv1(inputs)))
        pos = self.pos_proj(torch.ones(1, 4, 1, 1, dtype=torch.float32))
        return self.conv2(x).mean((2, 3)) + pos.flatten(1)


def test_model_that_cannot_run_in_float64_is_checked_in_float32():
    """The deploy check falls back to float32 (atol times the largest
    output) and says so; it crashed with 'Input type (float) and bias type
    (double)'."""
    model = auto_model(dict(type='Float32PositionNet'), (3, 8, 8),
                       'mmpretrain')
    gate, = model.gates().values()
    gate.fix(torch.arange(8) % 2 == 0)
    model.eval()
    _, _, _, diffs = export_verified(model)
    assert diffs['checked_in'] == 'float32'
    assert diffs['max_abs_diff_float64'] is None
    assert diffs['max_abs_diff'] <= 1e-5


class Log(nn.Module):
    """log of its input: NaN where it is negative."""

    def forward(self, x):
        return x.log()


@MODELS.register_module(force=True)
class NaNNet(ChannelMeanNet):
    """Gives NaN on the check input (as SSD v1's L2 norm did on random
    weights)."""

    def __init__(self, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.conv3 = nn.Conv2d(4, 4, 1)
        self.log = Log()

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.relu(self.bn(self.conv1(inputs)))
        return self.conv3(self.log(self.conv2(x))).mean((2, 3))


def test_gated_model_giving_nan_is_refused_naming_the_layer():
    """The deploy check compared NaN with NaN and said 'max abs diff nan'
    without a layer."""
    model = auto_model(dict(type='NaNNet'), (3, 8, 8), 'mmpretrain')
    model.eval()
    with pytest.raises(DeployError, match=(
            r'^the gated model gives NaN or inf on the check input \(first '
            r'in log \(Log\)\): .*nothing written$')):
        export_verified(model)


class ChannelScale(nn.Module):
    """A per-channel weight in a module no Torch-Pruning handler knows."""

    def __init__(self, channels):
        super().__init__()
        self.weight = nn.Parameter(torch.rand(channels) + 0.5)

    def forward(self, x):
        return x * self.weight.view(1, -1, 1, 1)


@MODELS.register_module(force=True)
class ChannelScaleNet(ChannelMeanNet):

    def __init__(self, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.scale = ChannelScale(8)
        self.conv3 = nn.Conv2d(4, 4, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = self.scale(torch.relu(self.bn(self.conv1(inputs))))
        return self.conv3(torch.relu(self.conv2(x))).mean((2, 3))


def test_group_an_unsliceable_module_carries_stays_ungated_naming_it():
    model = auto_model(dict(type='ChannelScaleNet'), (3, 8, 8), 'mmpretrain')
    assert [g.root for g in model.auto_gates.groups] == ['conv2']
    assert set(model.auto_gates.skipped) == {
        ('conv1', 'scale.weight (Parameter) carries its channels; pas_mm '
         'slices only convs, linear layers and BatchNorm'),
        ('conv3', 'reaches the model outputs')}
    prune_a_third(model)
    deploys_exactly(model)  # the scale's channels kept whole
    model = auto_model(dict(type='ChannelScaleNet'), (3, 8, 8), 'mmpretrain',
                       ignored=['scale'])
    assert [g.root for g in model.auto_gates.groups] == ['conv2']
    assert ('conv1', 'scale.weight is ignored') in model.auto_gates.skipped
    with pytest.raises(PaSConfigError, match="ignored: no module 'nope'"):
        auto_model(dict(type='ChannelScaleNet'), (3, 8, 8), 'mmpretrain',
                   ignored=['nope'])


@MODELS.register_module(force=True)
class InputResidualNet(BaseModel):
    """A residual from the (normalized) image: conv2's outputs are added to
    the model input, whose channels cannot be removed."""

    def __init__(self, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 3, 3, padding=1)
        self.conv3 = nn.Conv2d(3, 8, 1)
        self.conv4 = nn.Conv2d(8, 4, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = (inputs - 0.5) * 2
        y = torch.sigmoid(x) + self.conv2(torch.relu(self.conv1(x)))
        return self.conv4(torch.relu(self.conv3(y))).mean((2, 3))


def test_group_reaching_the_model_input_stays_ungated():
    model = auto_model(dict(type='InputResidualNet'), (3, 8, 8),
                       'mmpretrain')
    assert [g.root for g in model.auto_gates.groups] == ['conv1', 'conv3']
    assert dict(model.auto_gates.skipped)['conv2'] == (
        'reaches the model input (through SubBackward0), whose channels '
        'stay')
    prune_a_third(model)
    deploys_exactly(model)


# stock config, test_cfg changes (speed; keep the low scores of random
# weights)
DETECTORS = {
    'rtmdet-ins-tiny': ('rtmdet/rtmdet-ins_tiny_8xb32-300e_coco.py',
                        dict(score_thr=0.)),
    'mask-rcnn-r50': ('mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
                      dict(rpn=dict(max_per_img=50),
                           rcnn=dict(score_thr=0.))),
}


@pytest.mark.parametrize('name', list(DETECTORS))
def test_stock_detector_searches_and_deploys_exactly(name, tmp_path):
    from test_detectors import SIZE, train_batch
    base, changes = DETECTORS[name]
    cfg = stock_cfg('mmdet', base, tmp_path)
    cfg.merge_from_dict({f'model.test_cfg.{k}': v
                         for k, v in changes.items()})
    torch.manual_seed(0)
    model = auto_model(cfg.model, (3, SIZE, SIZE), 'mmdet')
    gated = {m for g in model.auto_gates.groups for m, side in g.members
             if side == 'out'}
    layers = {n for n, m in model.architecture.named_modules()
              if isinstance(m, (nn.Conv2d, nn.Linear))}
    ungated = {root: why for root, why in model.auto_gates.skipped}
    if name == 'mask-rcnn-r50':
        # every layer but the outputs (RPN, box, mask logits) is gated,
        # the frozen stem and layer1 included
        assert layers - gated == set(ungated)
        assert all('output' in why for why in ungated.values())
    else:  # RTMDet: 4 CSP layers with attention are held in part
        assert len(model.auto_gates.groups) == 56
        assert sum('output' not in why for why in ungated.values()) == 4
    search_step(model, train_batch())
    prune_a_third(model)
    deploys_exactly(model)


def run_tool(*args):
    result = subprocess.run([sys.executable, *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_stock_config_trains_deploys_and_tests_through_the_tools(
        digits_root, tmp_path):
    """configs/pas_mobilenet-v2_8xb32_in1k.py (mmpretrain's config + the
    PaS lines) through tools/train.py, deploy_reparam.py and test.py, on
    a few digits at 32x32."""
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(f'''
_base_ = ['{ROOT}/configs/pas_mobilenet-v2_8xb32_in1k.py']
model = dict(architecture=dict(head=dict(num_classes=10, topk=(1, ))),
             macs_loss=dict(target=0.5), input_shape=(3, 32, 32))
pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
data = dict(_delete_=True, type='CustomDataset', data_root='{digits_root}',
            pipeline=pipeline)
train_dataloader = dict(batch_size=16, num_workers=0,
                        persistent_workers=False,
                        dataset=dict(data, data_prefix='train', indices=64))
val_dataloader = dict(batch_size=32, num_workers=0, persistent_workers=False,
                      dataset=dict(data, data_prefix='val', indices=32))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=2, val_interval=2)
custom_hooks = [dict(type='PaSSearchHook', search_epochs=1)]
default_hooks = dict(logger=dict(interval=1))
''')
    work = tmp_path / 'work'
    run_tool('tools/train.py', str(cfg), '--work-dir', str(work))
    ckpt = str(work / 'epoch_2.pth')
    out = tmp_path / 'deploy'
    table = run_tool('tools/deploy_reparam.py', str(cfg), ckpt, '--out',
                     str(out))
    assert 'max abs diff deployed vs gated' in table
    report = json.loads((out / 'report.json').read_text())
    assert report['max_abs_diff_float64'] <= 1e-8
    assert report['macs']['deployed'] == pytest.approx(
        report['macs']['searched'])
    assert report['macs']['deployed'] < report['macs']['full']
    deploy_cfg = Config.fromfile(str(out / 'deploy_config.py'))
    assert deploy_cfg.model.type == 'PaSNarrowed'
    assert deploy_cfg.model.model.type == 'ImageClassifier'
    gated = run_tool('tools/test.py', str(cfg), ckpt, '--work-dir',
                     str(tmp_path / 't1'))
    deployed = run_tool('tools/test.py', str(out / 'deploy_config.py'),
                        str(out / 'deploy.pth'), '--work-dir',
                        str(tmp_path / 't2'))
    gated, deployed = (ast.literal_eval(out.strip().splitlines()[-1])
                       for out in (gated, deployed))
    assert gated['accuracy/top1'] == deployed['accuracy/top1']


def test_subnet_json_and_snap_work_unchanged(tmp_path):
    """The search hook's snap, the subnet JSON and load_subnet on an
    auto-gated model: gate names are the groups' root paths."""
    model = build_classifier('mobilenet-v2', tmp_path,
                             macs_loss=dict(type='MACsLoss', target=0.5))
    assert 'gates.backbone-conv1-conv' in model.gates()
    model.fix_gates(snap_tol=0.01)  # all kept -> snapped onto 50%
    assert model.counter.kept_macs() == pytest.approx(
        0.5 * model.macs_full, rel=0.011)
    subnet = model.subnet()
    path = tmp_path / 'subnet.json'
    path.write_text(json.dumps(subnet))
    again = build_classifier('mobilenet-v2', tmp_path, subnet=str(path),
                             macs_loss=None)
    assert again.searched
    assert again.counter.kept_macs() == model.counter.kept_macs()
    assert again.subnet()['layers'] == subnet['layers']


def deploys_as_torch_counts(model):
    """Float64 deploy <= 1e-8, the counter's MACs = torch's FlopCounter on
    the deployed model (attention matmuls included); returns it."""
    model.eval()
    _, _, deployed, diffs = export_verified(model)
    assert diffs['max_abs_diff_float64'] <= 1e-8
    kept = model.counter.kept_macs()
    assert kept < model.macs_full
    assert torch_flop_counter_macs(deployed, model.input_shape) == \
        pytest.approx(kept, rel=1e-6)
    return deployed


def test_channel_shuffle_builds_fast_and_deploys_exactly(tmp_path):
    """ShuffleNetV2 (Torch-Pruning's get_all_groups had not returned after
    9 min): grouped in seconds, the groups through its shuffles ungated."""
    cfg = stock_cfg('mmpretrain', 'shufflenet_v2/shufflenet-v2-1x_16xb64_'
                    'in1k.py', tmp_path)
    start = time.perf_counter()
    model = auto_model(cfg.model, (3, 32, 32), 'mmpretrain')
    assert time.perf_counter() - start < 30
    assert len(model.auto_gates.groups) == 18
    prune_a_third(model)
    deploys_as_torch_counts(model)


def test_split_attention_is_left_ungated_naming_the_layer(tmp_path):
    """ResNeSt's radix split (a view that moves channels) taints the groups
    it reaches: ungated, the layer before it named (was an IndexError)."""
    cfg = stock_cfg('mmpretrain', 'resnest/resnest50_32xb64_in1k.py',
                    tmp_path)
    model = auto_model(cfg.model, (3, 32, 32), 'mmpretrain')
    why = dict(model.auto_gates.skipped)['backbone.layer1.0.conv1']
    assert why == ('a reshape (1, 128, 8, 8) -> (1, 2, 64, 8, 8) that moves '
                   'channels after backbone.layer1.0.conv2.bn0 (BatchNorm2d) '
                   '(the dependency graph cannot follow its channels)')
    assert len(model.auto_gates.groups) == 23


def test_vit_mlp_widths_and_heads_gated_counted_and_deployed_exactly(
        tmp_path):
    """DeiT-tiny: every MLP hidden width gated, and every attention's heads
    as whole units (its reshape into heads taints q, k, v for the graph;
    pas_mm.models.attention_heads slices them); MACs = torch's
    FlopCounterMode with the attention matmuls; exact deploy."""
    cfg = stock_cfg('mmpretrain', 'deit/deit-tiny_4xb256_in1k.py', tmp_path)
    torch.manual_seed(0)
    model = auto_model(cfg.model, (3, 32, 32), 'mmpretrain')
    roots = [g.root for g in model.auto_gates.groups]
    assert roots == [r for i in range(12) for r in (
        f'backbone.layers.{i}.attn', f'backbone.layers.{i}.ffn.layers.0.0')]
    assert 'backbone.layers.0.attn.qkv' not in dict(model.auto_gates.skipped)
    assert model.macs_full == pytest.approx(
        torch_flop_counter_macs(model.architecture, model.input_shape))
    prune_a_third(model)
    deployed = deploys_as_torch_counts(model)
    assert deployed.backbone.layers[0].ffn.layers[0][0].out_features == 512
    attn = deployed.backbone.layers[0].attn
    assert (attn.num_heads, attn.embed_dims, attn.qkv.out_features) == (
        2, 128, 384)


def test_yolox_traces_and_deploys_exactly(tmp_path):
    """YOLOX's Focus concatenates image slices Torch-Pruning cannot size
    (it failed with int + None): now traced, gated, searched (one step of
    the task + MACs losses reaches every gate) and deployed."""
    from test_detectors import SIZE, train_batch
    cfg = stock_cfg('mmdet', 'yolox/yolox_tiny_8xb8-300e_coco.py', tmp_path)
    torch.manual_seed(0)
    model = auto_model(cfg.model, (3, SIZE, SIZE), 'mmdet')
    assert len(model.auto_gates.groups) == 67
    search_step(model, train_batch())
    prune_a_third(model)
    deploys_as_torch_counts(model)


def test_detr_head_outputs_are_traced_gated_and_deployed(tmp_path):
    """DETR-like detectors run ``_forward`` (transformer + head outputs);
    raw_forward called the head on the backbone features and failed, so
    DETR, DINO, Deformable DETR... were taken for stock models that do not
    run. The ResNet backbone is gated, the LayerNorm streams are not."""
    cfg = stock_cfg('mmdet', 'detr/detr_r18_8xb2-500e_coco.py', tmp_path)
    torch.manual_seed(0)
    model = auto_model(cfg.model, (3, 64, 64), 'mmdet')
    out = raw_forward(model.architecture.eval(), torch.zeros(1, 3, 64, 64))
    assert [tuple(t.shape) for t in out] == [(6, 1, 100, 81), (6, 1, 100, 4)]
    assert any(r.endswith('normalizes across channels')
               for _, r in model.auto_gates.skipped)
    assert sum(g.root.startswith('backbone.') for g in
               model.auto_gates.groups) >= 9
    prune_a_third(model)
    deploys_as_torch_counts(model)


def test_internal_error_names_the_module_and_the_option(tmp_path,
                                                        monkeypatch):
    from pas_mm.models import graph_gates

    def broken(*args):
        raise IndexError('index 928 is out of bounds')

    monkeypatch.setattr(graph_gates, '_uneven', broken)
    with pytest.raises(PaSConfigError, match=(
            r"internal error at conv1 \(Conv2d\): IndexError: index 928 is "
            r"out of bounds; list it in PaSModel\(ignored=\['conv1'\]\)")):
        auto_model(dict(type='ChannelFlipNet'), (3, 8, 8), 'mmpretrain')


def test_index_mapping_that_loses_its_source_taints_the_group():
    """A Torch-Pruning index mapping built for another pattern (GRoIE's
    attention read as grouped-query attention, head_dim 0) either divides
    by zero or returns indices without their source: the channels are
    reported as lost (the group is then left ungated), not a crash."""
    from types import SimpleNamespace

    from torch_pruning import ops
    from torch_pruning._helpers import _HybridIndex

    from pas_mm.models.channel_groups import ChannelGrouper
    grouper = ChannelGrouper.__new__(ChannelGrouper)
    grouper.ops = ops
    node = SimpleNamespace(type=ops.OPTYPE.RESHAPE)
    where = [(node, None, 5), (node, None, 7)]

    def dep(mapping):
        return SimpleNamespace(index_mapping=[mapping], source=node,
                               target=node)

    assert grouper._map(dep(lambda idxs: [h.idx // 0 for h in idxs]), [0, 1],
                        where) == [(5, None), (7, None)]
    lost = grouper._map(dep(lambda idxs: [
        _HybridIndex(idx=h.idx + 1, root_idx=None) for h in idxs]), [0, 1],
        where)
    assert lost == [(6, None), (8, None)]
    kept = grouper._map(dep(lambda idxs: idxs), [0, 1], where)
    assert kept == [(5, 0), (7, 1)]


@MODELS.register_module(force=True)
class UnusedLogitsNet(ChannelMeanNet):
    """A layer that runs but whose output the forward drops (HTC's semantic
    logits in a test forward): the graph, traced from the outputs, never
    sees it read conv1's channels."""

    def __init__(self, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.logits = nn.Conv2d(8, 2, 1)
        self.conv3 = nn.Conv2d(4, 4, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.relu(self.bn(self.conv1(inputs)))
        self.logits(x)  # computed, unused
        return self.conv3(torch.relu(self.conv2(x))).mean((2, 3))


def test_layer_whose_output_is_unused_leaves_its_input_ungated():
    """It used to be gated and the deployed model failed in ``logits`` (HTC,
    SCNet: deploy refused); now the group stays ungated, naming it."""
    model = auto_model(dict(type='UnusedLogitsNet'), (3, 8, 8), 'mmpretrain')
    assert [g.root for g in model.auto_gates.groups] == ['conv2']
    reasons = dict(model.auto_gates.skipped)
    assert 'read by logits (Conv2d), whose output the traced forward does ' \
        'not use' in reasons['conv1']
    gate, = model.gates().values()
    gate.fix(torch.arange(4) % 2 == 0)
    model.eval()
    assert export_verified(model)[3]['max_abs_diff'] <= 1e-6


class BaseRoIExtractor(nn.Module):
    """Named as mmdet's: pas_mm narrows its ``out_channels`` (the width of
    the buffer it allocates) after the layer it reads."""

    def __init__(self, out_channels):
        super().__init__()
        self.out_channels = out_channels

    def forward(self, x):
        return x.new_zeros(x.shape[0], self.out_channels,
                           *x.shape[2:]).copy_(x)


@MODELS.register_module(force=True)
class SummedFeaturesReaderNet(UnusedLogitsNet):
    """The extractor reads a sum of two layers (Libra R-CNN's balanced
    feature pyramid adds its refined map to each level), a tensor no layer
    produced, so its ``out_channels`` cannot follow one."""

    def __init__(self, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.conv1b = nn.Conv2d(3, 8, 3, padding=1)
        self.extractor = BaseRoIExtractor(8)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = self.extractor(self.conv1(inputs) + self.conv1b(inputs))
        return self.conv3(torch.relu(self.conv2(x))).mean((2, 3))


def test_width_option_reading_a_sum_leaves_that_group_ungated():
    model = auto_model(dict(type='SummedFeaturesReaderNet'), (3, 8, 8),
                       'mmpretrain')
    assert [g.root for g in model.auto_gates.groups] == ['conv2']
    assert 'read by extractor (BaseRoIExtractor), whose width option ' \
        'follows only a layer it reads directly' in dict(
            model.auto_gates.skipped)['conv1']


@MODELS.register_module(force=True)
class NormalizedHeadNet(UnusedLogitsNet):
    """Divides a layer's output by the norm of its weight over the input
    channels (CSRA's head): cutting an input channel changes the norm."""

    def __init__(self, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.head = nn.Conv2d(8, 8, 1, bias=False)
        self.conv2 = nn.Conv2d(8, 4, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.relu(self.bn(self.conv1(inputs)))
        norm = self.head.weight.pow(2).sum((1, 2, 3)).sqrt()
        x = self.head(x) / norm.view(1, -1, 1, 1)
        return self.conv3(torch.relu(self.conv2(x))).mean((2, 3))


def test_layer_whose_weight_is_read_outside_it_stays_ungated():
    """Its input and output groups stay ungated, naming it (CSRA: the
    deployed model differed, deploy refused)."""
    model = auto_model(dict(type='NormalizedHeadNet'), (3, 8, 8),
                       'mmpretrain')
    assert [g.root for g in model.auto_gates.groups] == ['conv2']
    skipped = dict(model.auto_gates.skipped)
    for root in ('conv1', 'head'):
        assert 'head (Conv2d): its weight is also read outside it, by ' \
            'PowBackward0' in skipped[root]
    gate, = model.gates().values()
    gate.fix(torch.arange(4) % 2 == 0)
    model.eval()
    assert export_verified(model)[3]['max_abs_diff'] <= 1e-6


def test_flatten_torch_pruning_left_unmapped_is_mapped_by_its_shapes():
    """A flatten (N, C, H, W) -> (N, C * H * W) that Torch-Pruning left
    without an index mapping (it could not infer C: GRoIE sums RoI features
    into a tensor of zeros) maps channel c to features c * H * W ... (c + 1)
    * H * W - 1, and back; the linear layer after it was sliced as if
    features were channels (Mask R-CNN Swin-T, GRoIE: deploy refused)."""
    from types import SimpleNamespace

    from torch_pruning import ops

    from pas_mm.models.channel_groups import ChannelGrouper, _Shapes
    grouper = ChannelGrouper.__new__(ChannelGrouper)
    grouper.ops = ops
    conv = SimpleNamespace(type=ops.OPTYPE.CONV, grad_fn='conv', inputs=[],
                           module=None)
    flat = SimpleNamespace(type=ops.OPTYPE.RESHAPE, grad_fn='view',
                           inputs=[conv], module=None)
    grouper.shapes = _Shapes({'conv': (2, 3, 2, 2), 'view': (2, 12)})
    assert grouper.flatten_stride(flat) == 4
    assert grouper.flatten_stride(conv) is None
    where = [(conv, None, 1), (conv, None, 2)]
    dep = SimpleNamespace(index_mapping=[None], source=conv, target=flat)
    assert grouper._map(dep, [0, 1], where) == [
        (4, 0), (5, 0), (6, 0), (7, 0), (8, 1), (9, 1), (10, 1), (11, 1)]
    where = [(flat, None, 5), (flat, None, 11)]
    back = SimpleNamespace(index_mapping=[None], source=flat, target=conv)
    assert grouper._map(back, [0, 1], where) == [(1, 0), (2, 1)]


def test_sweep_one_config_and_resume(tmp_path, monkeypatch):
    """tools/auto_gating_sweep.py: one config's JSON line; a results file
    that holds a config skips it; the table counts the results."""
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import auto_gating_sweep as sweep
    config = 'mmpretrain::resnet/resnet18_8xb32_in1k.py'
    row = sweep.one(config)
    assert row['status'] == 'built' and row['size'] == 64, row
    assert row['gates'] == 12 and row['deploy_diff'] <= 1e-8
    assert row['macs_kept'] == pytest.approx(row['macs_torch'])
    out = tmp_path / 'sweep.jsonl'
    out.write_text(json.dumps(row) + '\n')
    sweep.sweep(str(out), [config], timeout=1)  # done: no subprocess
    assert out.read_text().count('\n') == 1
    table = sweep.table(str(out))
    assert table.startswith(f"1 {row['status']} of 1;")
    assert 'resnet18_8xb32_in1k.py | 64 | built | 12 |' in table
    # --redo: the named config runs again and its old row goes
    other = dict(config='other.py', status='refused')
    out.write_text(json.dumps(dict(row, build_s=999.0)) + '\n' +
                   json.dumps(other) + '\n')
    monkeypatch.setattr(sweep, 'run_one', lambda c, timeout: dict(row))
    sweep.sweep(str(out), [config], timeout=1, redo=True)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r['config'] for r in rows] == ['other.py', config]
    assert rows[1]['build_s'] == row['build_s'] != 999.0


def test_sweep_child_time_out_and_crash_are_rows(monkeypatch):
    """tools/auto_gating_sweep.py runs each config in a forked child: one
    that overruns its time limit is killed and recorded as timed out, one
    that dies without a result as crashed with its exit code."""
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import auto_gating_sweep as sweep
    monkeypatch.setattr(sweep, 'one', lambda config: time.sleep(30))
    start = time.perf_counter()
    row = sweep.run_one('slow.py', timeout=1)
    assert row == dict(config='slow.py', status='timed out', reason='> 1 s')
    assert time.perf_counter() - start < 10
    monkeypatch.setattr(sweep, 'one', lambda config: os._exit(3))
    assert sweep.run_one('dies.py', timeout=30) == dict(
        config='dies.py', status='crashed', stage='process', reason='exit 3')
    monkeypatch.setattr(sweep, 'one', lambda config: dict(config=config,
                                                          status='built'))
    assert sweep.run_one('ok.py', timeout=30) == dict(config='ok.py',
                                                      status='built')
