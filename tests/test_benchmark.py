"""Fast smoke test of the benchmark code (the long runs live in
tools/benchmark/run_all.py, not here)."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT, randomize, tiny_repvgg_classifier
from mmengine.registry import MODELS

from pas_mm.benchmark import (apply_masks, macs_of_widths, make_masks,
                              widths_of)
from pas_mm.benchmark.pruning import block_norms
from pas_mm.deploy import build_deployed, export_deploy, max_abs_diff

sys.path.insert(0, osp.join(ROOT, 'tools', 'benchmark'))
import report  # noqa: E402


def tiny_pas():
    model = MODELS.build(dict(
        type='PaSModel', architecture=tiny_repvgg_classifier(),
        input_shape=(3, 32, 32),
        macs_loss=dict(type='MACsLoss', target=0.5)))
    return randomize(model).eval()


@pytest.mark.parametrize('method', ['uniform', 'l1', 'slim'])
@pytest.mark.parametrize('ratio', [0.75, 0.3])
def test_baselines_reach_the_target_and_deploy(method, ratio):
    model = tiny_pas()
    target = ratio * model.macs_full
    masks = make_masks(model, method, target)
    reached = macs_of_widths(model, widths_of(masks))
    assert abs(reached / target - 1) <= 0.01  # snapped onto the target
    apply_masks(model, masks)
    assert model.searched and model.counter.kept_macs() == reached
    deployed = build_deployed(*export_deploy(model))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert max_abs_diff(model.architecture(x, mode='tensor'),
                            deployed(x, mode='tensor')) <= 1e-4


def test_uniform_keeps_one_ratio_and_slimming_drops_zero_gammas_first():
    model = tiny_pas()
    widths = widths_of(make_masks(model, 'uniform', 0.5 * model.macs_full))
    ratios = [widths[n] / g.num_channels for n, g in model.gates().items()]
    assert max(ratios) - min(ratios) < 0.1

    block = model.architecture.backbone.stage_3[1]
    for norm in block_norms(block):  # 3x3, 1x1 and identity BNs
        norm.weight.data[:5] = 0
    masks = make_masks(model, 'slim', 0.9 * model.macs_full)
    assert not masks['backbone.stage_3.1.gate'][:5].any()


def test_unknown_method_is_rejected():
    with pytest.raises(ValueError, match="unknown pruning method 'magic'"):
        make_masks(tiny_pas(), 'magic', 1e6)


def fake_run(out, method, target, seed, acc, macs):
    name = f'{method}-t{target}-s{seed}'
    os.makedirs(osp.join(out, 'runs', name))
    with open(osp.join(out, 'runs', name, 'result.json'), 'w') as f:
        json.dump(dict(method=method, target=target, seed=seed,
                       acc_test=acc, acc_val=acc + 1, macs_full=100.0,
                       macs_target=100.0 * target, macs_deployed=macs,
                       max_abs_diff=1e-6, widths=[4, 8],
                       full_widths=[8, 16]), f)


def test_report_table_means_spreads_and_plots(tmp_path):
    out = str(tmp_path)
    fake_run(out, 'pas', 0.5, 0, 90.0, 49.0)
    fake_run(out, 'pas', 0.5, 1, 92.0, 51.0)
    fake_run(out, 'uniform', 0.5, 0, 88.0, 50.0)
    fake_run(out, 'uniform', 0.5, 1, 93.0, 50.0)
    fake_run(out, 'l1', 0.5, 0, 89.0, 50.0)
    fake_run(out, 'pretrain', 1.0, 0, 95.0, 100.0)  # not a method row
    results = report.write_report(out, dict(command='test', seeds=[0, 1]))
    rows = {r['method']: r for r in results['summary']}
    assert set(rows) == {'pas', 'uniform', 'l1'}
    assert rows['pas']['acc_mean'] == pytest.approx(91.0)
    assert rows['pas']['acc_std'] == pytest.approx(2 ** 0.5)
    assert rows['pas']['macs_ratio_mean'] == pytest.approx(0.5)
    assert rows['pas']['target_error_max'] == pytest.approx(0.02)
    # best baseline by mean is uniform (90.5); paired by seed: +2, -1
    paired = results['paired'][0]
    assert paired['best'] == 'uniform' and paired['diffs'] == [2.0, -1.0]
    assert (paired['wins'], paired['losses']) == (1, 1)
    md = open(osp.join(out, 'results.md')).read()
    assert '| **PaS, official schedule (search + fine-tune)** | 91.00 ± 1.41 ' \
        '(50.0%) | 2 |' in md
    # t interval, 1 degree of freedom: 0.5 ± 12.706 * 2.121 / sqrt(2)
    assert '| 50% | pas | Uniform width | +2.00, -1.00 | +0.50 [-18.56, ' \
        '+19.56] | 1 / 1 | not resolved |' in md
    for name in ('widths', 'acc_vs_macs'):
        assert osp.getsize(osp.join(out, f'{name}.png')) > 1000


def test_t_interval_of_paired_differences():
    ci = report.t_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    # t_{0.975, 4} = 2.7764; sd = sqrt(2.5)
    assert ci['mean'] == 3.0 and ci['sd'] == pytest.approx(2.5 ** 0.5)
    assert ci['half'] == pytest.approx(2.7764 * 2.5 ** 0.5 / 5 ** 0.5,
                                       rel=1e-4)
    assert (ci['lo'], ci['hi']) == pytest.approx((1.0368, 4.9632), abs=1e-4)
    assert report.t_interval([0.5, 0.7], 0.9)['half'] == pytest.approx(
        6.3138 * 0.1414214 / 2 ** 0.5, rel=1e-4)


def test_paired_verdict_needs_the_interval_off_zero(tmp_path):
    out = str(tmp_path)
    for seed, (pas, uni) in enumerate([(90.0, 91.0), (90.0, 91.2),
                                       (90.0, 90.8)]):
        fake_run(out, 'pas', 0.15, seed, pas, 15.0)
        fake_run(out, 'uniform', 0.15, seed, uni, 15.0)
    results = report.write_report(out)
    p, = results['pairs']
    # -1 ± t_{0.975, 2} * 0.2 / sqrt(3) = -1 ± 0.497
    assert p['ci']['lo'] == pytest.approx(-1.4968, abs=1e-3)
    assert p['ci']['hi'] == pytest.approx(-0.5032, abs=1e-3)
    assert '| 0 / 3 | **pas worse** |' in open(
        osp.join(out, 'results.md')).read()


@pytest.mark.parametrize('narrow, passes', [
    ((95.0, 95.6, 94.4), True), ((97.6, 97.0, 98.2), False)])
def test_capacity_check_needs_a_gap_over_twice_the_spread(
        tmp_path, narrow, passes):
    out = str(tmp_path)
    for seed, (full, low) in enumerate(zip((97.8, 97.6, 98.0), narrow)):
        fake_run(out, 'unpruned-scratch', 1.0, seed, full, 100.0)
        fake_run(out, 'scratch', 0.15, seed, low, 15.0)
        fake_run(out, 'scratch', 0.5, seed, 50.0, 50.0)  # not the lowest
    cap = report.capacity_check(report.load_runs(out))
    assert cap['target'] == 0.15 and cap['passes'] is passes
    assert cap['unpruned'] == pytest.approx(97.8)
    assert cap['gap'] == pytest.approx(97.8 - sum(narrow) / 3)
    assert cap['spread'] == pytest.approx(0.6)  # the narrower sd, 0.6 both
    text = report.capacity_text(cap)
    assert ('**passes**' in text) is passes
    assert ('NOT a pruning benchmark' in text) is not passes
    # the higher target is reported too, without the guard's consequence
    at_half = report.capacity_check(report.load_runs(out), 0.5)
    assert at_half['target'] == 0.5 and at_half['passes']
    assert report.capacity_text(at_half, guard=False).endswith(
        'The check **passes**.')
    report.write_report(out, meta=dict(data_root='d', seeds=[2],
                                       command='run_all --seeds 2'))
    md = open(osp.join(out, 'results.md')).read()
    # the header names the seeds of the runs, not only the last command's
    assert 'seeds in the runs [0, 1, 2]; last command (seeds [2]): ' \
        '`run_all --seeds 2`.' in md
    assert '- Capacity check (test top-1, from scratch, same epochs): ' \
        'unpruned 97.80 (3 seeds) vs uniformly narrower at 50% MACs' in md


def tiny_folder(tmp_path) -> str:
    """A 3-class train/val/test image folder with a learnable cue."""
    from pas_mm.datasets import stratified_split, write_image_folder
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 60)
    images = rng.integers(0, 255, (180, 32, 32, 3), dtype=np.uint8)
    images[:, :8, :8] = labels[:, None, None, None] * 100  # learnable cue
    data = str(tmp_path / 'data')
    write_image_folder(data, images, labels, ['a', 'b', 'c'],
                       stratified_split(labels, (0.6, 0.2, 0.2), 0), {})
    return data


def test_train_one_anneals_the_target_of_pas_runs_only(tmp_path, capsys):
    import train_one
    data = tiny_folder(tmp_path)
    common = ['--work-dir', str(tmp_path / 'run'), '--data-root', data,
              '--pretrained', 'pre.pth', '--config',
              osp.join(ROOT, 'configs/pas_repvgg_animals_small.py')]
    for method, anneal in (('pas', 0.5), ('pas-fast', 0.5), ('uniform', 0)):
        cfg = train_one.run_cfg(train_one.parse_args(
            common + ['--method', method, '--target-anneal', '0.5']))
        hook, = [h for h in cfg.custom_hooks if h.type == 'PaSSearchHook']
        assert hook.get('target_anneal', 0) == anneal
    with pytest.raises(SystemExit):
        train_one.parse_args(common + ['--target-anneal', '2'])
    assert '--target-anneal 2.0 must be in [0, 1]' in capsys.readouterr().err


def test_quick_benchmark_pretrains_prunes_and_reports(tmp_path):
    """run_all --quick end to end on a small folder: pre-train once, then
    PaS, uniform and Torch-Pruning from those weights, all on target."""
    pytest.importorskip('torch_pruning', reason='pip install --no-deps '
                        '"torch-pruning==1.6.1" (tools/install_benchmark.sh)')
    data = tiny_folder(tmp_path)
    out = str(tmp_path / 'bench')
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools/benchmark/run_all.py'),
         '--quick', '--data-root', data, '--out', out, '--jobs', '2',
         '--skip', 'latency', 'overhead', 'ddp', 'resume'],
        capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.load(open(osp.join(out, 'results.json')))
    runs = {r['method']: r for r in results['runs']}
    assert set(runs) == {'pas', 'uniform', 'tp-magnitude-res'}
    for r in runs.values():
        assert abs(r['macs_deployed'] / r['macs_target'] - 1) <= 0.01
        assert r['max_abs_diff'] <= 1e-4 and 0 <= r['acc_test'] <= 100
    pre = json.load(open(osp.join(out, 'runs', 'pretrain-s0',
                                  'result.json')))
    assert pre['macs_deployed'] == runs['pas']['macs_full']
    # the TP network is residual-coupled: one width per stage
    widths = runs['tp-magnitude-res']['widths']
    assert widths[2] == widths[3]  # stage 2's two blocks


def test_run_all_rejects_bad_input_before_training(tmp_path, capsys):
    import run_all
    for argv, message in (
            (['--methods', 'magic'], "invalid choice: 'magic'"),
            (['--targets', '1.5'], '1.5 is not in (0, 1]'),
            (['--targets', '0'], '0 is not in (0, 1]')):
        with pytest.raises(SystemExit) as e:
            run_all.parse_args(argv)
        assert e.value.code == 2 and message in capsys.readouterr().err
    from PIL import Image
    data = tmp_path / 'data'
    for split, classes in (('train', 'ab'), ('val', 'ab'),
                           ('test', 'a')):  # class b missing in test
        for cls in classes:
            (data / split / cls).mkdir(parents=True)
            Image.new('L', (2, 2)).save(data / split / cls / '0.png')
    with pytest.raises(SystemExit, match=r"^error: .*test has classes "
                       r"\['a'\], train has \['a', 'b'\]$"):
        run_all.main(['--data-root', str(data), '--out', str(tmp_path / 'o')])
    assert not (tmp_path / 'o' / 'runs').exists()  # nothing trained


def test_run_all_skips_a_pretraining_nobody_still_needs(tmp_path):
    import run_all
    args = run_all.parse_args([
        '--data-root', 'none', '--out', str(tmp_path), '--seeds', '0', '1',
        '--targets', '0.1', '--methods', 'scratch', 'uniform-fast', 'full'])
    jobs = run_all.plan(args)
    by_name = {j['name']: j for j in jobs}
    assert by_name['uniform-fast-t0.1-s0']['needs'] == ['pretrain-s0']
    # seed 0's runs are committed without weights, seed 1's are not
    for name in ('scratch-t0.1-s0', 'uniform-fast-t0.1-s0', 'full-s0',
                 'scratch-t0.1-s1'):
        os.makedirs(by_name[name]['work_dir'])
        open(osp.join(by_name[name]['work_dir'], 'result.json'), 'w').close()
    assert [j['name'] for j in run_all.to_do(jobs)] == [
        'pretrain-s1', 'uniform-fast-t0.1-s1', 'full-s1']
    os.remove(osp.join(by_name['full-s0']['work_dir'], 'result.json'))
    assert [j['name'] for j in run_all.to_do(jobs)][:2] == [
        'pretrain-s0', 'full-s0']


def test_torch_pruning_rebuild_accepts_any_target(tmp_path):
    """The gated net rebuilt at Torch-Pruning's widths searches nothing:
    at 10% its MACs target, a ratio of the pruned net, would sit below the
    pruned net's minimum (MNIST) and must not be applied."""
    pytest.importorskip('torch_pruning', reason='pip install --no-deps '
                        '"torch-pruning==1.6.1" (tools/install_benchmark.sh)')
    import argparse

    import train_one
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, 'configs/pas_repvgg_mnist_small.py'))
    cfg.model.macs_loss.target = 0.1  # as common.build_cfg sets it
    torch.manual_seed(0)  # Torch-Pruning's widths depend on the weights
    model = MODELS.build(cfg.model)
    args = argparse.Namespace(method='tp-magnitude-res', target=0.1,
                              work_dir=str(tmp_path))
    assert train_one.prepare_tp(cfg, args, model)['macs_target'] == \
        0.1 * model.macs_full
    pruned = MODELS.build(cfg.model)  # raised PaSConfigError before
    assert [g.num_channels for g in pruned.gates().values()] == \
        cfg.model.backbone.widths
    # its step-wise global pruning lands near the target, not on it
    assert pruned.macs_full == pytest.approx(0.1 * model.macs_full, rel=0.1)


def test_val_curve_reads_every_epoch_and_a_resume_wins(tmp_path):
    import train_one
    first = tmp_path / '20261203_100000' / 'vis_data'
    again = tmp_path / '20261203_110000' / 'vis_data'
    for d, rows in ((first, [(1, 50.0), (2, 60.0)]),
                    (again, [(2, 61.234), (3, 70.0)])):
        d.mkdir(parents=True)
        with open(d / 'scalars.json', 'w') as f:
            f.write(json.dumps(dict(lr=0.1, loss=1.0, step=7)) + '\n')
            for step, acc in rows:
                f.write(json.dumps({'accuracy/top1': acc, 'step': step}) +
                        '\n')
    assert train_one.val_curve(str(tmp_path)) == [50.0, 61.23, 70.0]
    assert train_one.val_curve(str(tmp_path / 'none')) == []


def test_pretrain_length_takes_the_first_plateau(tmp_path):
    import pretrain_length
    out = str(tmp_path)
    vals = {10: (95.0, 95.4, 95.2), 20: (97.0, 97.3, 97.2),
            30: (97.3, 97.5, 97.4), 40: (97.4, 97.5, 97.6)}
    for length, per_seed in vals.items():
        for seed, v in enumerate(per_seed):
            d = pretrain_length.run_dir(out, length, seed)
            os.makedirs(d)
            json.dump(dict(acc_val=v, acc_test=v - 0.1, train_seconds=60.0),
                      open(osp.join(d, 'result.json'), 'w'))
    rows = pretrain_length.summarize(out, [10, 20, 30, 40], [0, 1, 2])
    assert rows[1]['gain_val']['mean'] == pytest.approx(1.9667, abs=1e-4)
    assert rows[2]['gain_val']['mean'] == pytest.approx(0.2333, abs=1e-4)
    assert pretrain_length.choose(rows, 0.5) == 20
    assert pretrain_length.choose(rows, 0.2) == 30  # 30 -> 40 gains 0.1
    assert pretrain_length.choose(rows, 0.05) is None
    md = pretrain_length.table(rows, 20, 0.5)
    assert '| 20 | 3 | **97.17 ± 0.15** | +1.97 [' in md
    assert '**20 epochs**' in md
    assert '**none**' in pretrain_length.table(rows, None, 0.05)


def test_recipe_study_tables_finished_runs_without_training(tmp_path,
                                                            capsys):
    import recipe_study
    bench = tmp_path
    json.dump(dict(search_epochs=2, finetune_epochs=8, data_root='none'),
              open(bench / 'meta.json', 'w'))

    def result(run, val, first, moved, **widths):
        os.makedirs(run)
        json.dump(dict(seed=0, acc_val=val, acc_test=val - 1,
                       macs_deployed=15.0, macs_full=100.0,
                       search=dict(first_within_tol_iter=first,
                                   snap=dict(moved=moved)), **widths),
                  open(osp.join(run, 'result.json'), 'w'))

    result(bench / 'runs' / 'pas-t0.15-s0', 90.0, None, 0.25,
           widths=[11, 2, 20, 4, 42, 6, 91],
           full_widths=[16, 16, 32, 32, 64, 64, 128])
    result(bench / 'recipe_study' / 'loss_weight_20-t0.15-s0', 92.5, 300,
           0.04)  # a run from before widths were recorded
    # finished runs are skipped: data_root 'none' would fail a training
    recipe_study.main(['--bench', str(bench), '--variants',
                       'loss_weight_20'])
    rows = (bench / 'recipe_study.md').read_text().splitlines()
    assert rows[2] == ('| official (benchmark PaS: gates lr x1, decay 1e-4, '
                       'loss weight 5) | 15% | 1 | **90.00** | 89.00 | '
                       '15.00% | never | 25.0% | 0.60 | 11 2 20 4 42 6 91 |')
    assert rows[3] == ('| loss weight 20 | 15% | 1 | **92.50** | 91.50 | '
                       '15.00% | 300 | 4.0% | ? | ? |')
    with pytest.raises(SystemExit):
        recipe_study.main(['--bench', str(bench), '--variants', 'lw20'])
    assert "unknown --variants ['lw20']" in capsys.readouterr().err


def test_headline_rows_of_a_named_pas_method_and_its_landing(tmp_path):
    """headline.py: ``--pas`` picks the PaS rows (the first value-per-cost
    runs are ``pas-fast-vc1``); ``--landing`` counts the searches whose
    snap moved more than 1% of the full MACs."""
    import headline
    out = str(tmp_path)
    for seed, (pas, tp, moved) in enumerate([(91.0, 90.0, 0.004),
                                             (92.0, 90.5, 0.015),
                                             (90.5, 90.0, 0.008)]):
        fake_run(out, 'pas-fast-vc1', 0.1, seed, pas, 10.0)
        fake_run(out, 'tp-magnitude-res-fast', 0.1, seed, tp, 10.0)
        path = osp.join(out, 'runs', f'pas-fast-vc1-t0.1-s{seed}',
                        'result.json')
        r = json.load(open(path))
        r['search'] = dict(snap=dict(moved=moved,
                                     searched_ratio=0.1 + moved))
        json.dump(r, open(path, 'w'))
    runs = report.load_runs(out)
    row, = headline.rows('X', runs, [0.1], pas='pas-fast-vc1')
    # differences 1.0, 1.5, 0.5: mean 1.00, t_{0.975, 2} * 0.5 / sqrt(3)
    assert row.startswith('| X 10% | 3 | 91.17 | +1.00 [-0.24, +2.24] '
                          '(3/3) |'), row
    assert headline.rows('X', runs, [0.1])[0].startswith('| X 10% | 0 |')
    assert headline.rows('X', runs, [0.1], named=True) == []
    assert headline.rows('X', runs, [0.1], 'pas-fast-vc1', named=True)[
        0].startswith('| X 10% (pas-fast-vc1) | 3 |')
    assert headline.landing('X', runs, 0.1, 'pas-fast-vc1') == (
        '| X 10% | pas-fast-vc1 | 3 | 1 | 1.50 | +0.90 |')
