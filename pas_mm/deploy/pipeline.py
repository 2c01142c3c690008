"""Config + checkpoint in, verified deploy config + checkpoint out."""
import copy
import json
import os
import os.path as osp
from typing import Callable, Dict, Optional, Tuple

import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint
from torch import nn

from ..cli import merge_cfg_options, read_config
from ..errors import DeployError
from ..models import PaSModel
from ..ops import raw_forward
from ..budget import format_macs
from .export import build_deployed, export_deploy, to_dtype
from .onnx_export import OnnxError, export_onnx
from .output import check_out_dir, staged_out_dir
from .verify import (count_macs, count_params, failing_module,
                     first_divergent_layer, first_nonfinite_layer,
                     flatten_outputs, max_abs_diff,
                     measure_latency)


# config model type -> its own deploy step, for models that are not a
# PaSModel; a package registers its step when it is imported (e.g. through
# the config's custom_imports)
DEPLOY_STEPS: Dict[str, Callable[..., dict]] = {}


def register_deploy_step(model_type: str):
    """Decorator: ``step(cfg, checkpoint, out_dir, atol, latency_runs,
    onnx) -> report`` deploys the configs whose ``model.type`` is
    ``model_type`` instead of the PaSModel path of :func:`deploy`."""

    def register(step):
        DEPLOY_STEPS[model_type] = step
        return step

    return register


def build_pas_model(cfg: Config) -> PaSModel:
    """Build the PaSModel of a config, as the Runner would."""
    if cfg.get('model', {}).get('type') != 'PaSModel':
        raise DeployError(
            f"config {cfg.filename} has no PaS model: expected model = "
            f"dict(type='PaSModel', ...), got type="
            f"{cfg.get('model', {}).get('type')!r}")
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model_cfg = copy.deepcopy(cfg.model)
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    return MODELS.build(model_cfg)


def load_gated_checkpoint(model: PaSModel, checkpoint: str) -> None:
    """Load a search/fine-tune checkpoint; it must carry the gates."""
    if not osp.isfile(checkpoint):
        raise DeployError(f'checkpoint {checkpoint} does not exist')
    try:
        ckpt = _load_checkpoint(checkpoint, map_location='cpu')
    except Exception as e:  # torch reports a cut file as OSError, EOF...
        reason = str(e).split('. ')[0]  # torch's first sentence
        raise DeployError(f'checkpoint {checkpoint} cannot be read '
                          f'({type(e).__name__}: {reason}); is the file '
                          'complete?') from e
    state = ckpt.get('state_dict', ckpt)
    own = model.state_dict()
    other = [k for k, v in state.items()
             if k in own and hasattr(v, 'shape') and v.shape != own[k].shape]
    if other:
        k = other[0]
        raise DeployError(
            f'checkpoint {checkpoint} does not match the config: {len(other)}'
            f' tensors have other shapes, e.g. {k} {tuple(state[k].shape)} '
            f'in the checkpoint, {tuple(own[k].shape)} in the model; was it '
            'trained with another config (width, subnet)?')
    gate_keys = [k for k in model.state_dict() if '.gate' in k]
    missing = [k for k in gate_keys if k not in state]
    if missing:
        raise DeployError(
            f'checkpoint {checkpoint} has no DBC gate weights (missing '
            f'{len(missing)} keys such as {missing[0]!r}); deploy needs a '
            'checkpoint saved by a PaS config (PaSModel + PaSSearchHook)')
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise DeployError(
            f'checkpoint {checkpoint} does not match the config: missing '
            f'{result.missing_keys[:5]}, unexpected '
            f'{result.unexpected_keys[:5]}')


def export_verified(model: PaSModel, atol: float = 1e-4
                    ) -> Tuple[dict, Dict[str, torch.Tensor], nn.Module, dict]:
    """Deploy form of a searched PaSModel, checked against the gated model.

    Fusing, folding and slicing are exact in real arithmetic, so export and
    check run in float64, where a wrong weight shows at full size while
    rounding does not (float32 rounding grows with the activations, which
    reach 1e3 in a detector on random input). The float32 difference is
    measured too.

    The check runs on the model's device (the deployed model is moved
    there).

    Returns:
        (deploy architecture config, float32 state dict, deployed float32
        model, dict(max_abs_diff=float32 diff, max_abs_diff_float64=...))

    Raises:
        DeployError: the float64 outputs differ by more than ``atol`` (a
            model that cannot run in float64: float32, ``atol`` times its
            largest output), or the deployed model does not run.
    """
    for m in model.modules():  # YOLACT's head caches the last training batch
        if getattr(m, '_raw_positive_infos', None):
            m._raw_positive_infos = dict()
    device = next(model.parameters()).device  # the check runs there
    inputs = torch.randn(2, *model.input_shape,
                         generator=torch.Generator().manual_seed(0)).to(device)
    model64, dtype, gated_out = _check_copy(model, inputs)
    if not all(bool(torch.isfinite(t).all()) for t in
               flatten_outputs(gated_out) if t.is_floating_point()):
        layer = first_nonfinite_layer(
            model64.architecture,
            lambda m: raw_forward(m, inputs.to(dtype))) or 'the model'
        raise DeployError(
            f'the gated model gives NaN or inf on the check input (first '
            f'in {layer}): its weights (random, or a diverged training?) '
            'leave nothing to compare the deployed model with; nothing '
            'written')
    arch_cfg, state64 = export_deploy(model64)
    deployed64 = build_deployed(arch_cfg, state64).to(device)
    with torch.no_grad():
        try:
            deployed_out = raw_forward(deployed64, inputs.to(dtype))
        except Exception as e:
            reason = (str(e).strip() or ' ').splitlines()[0][:200]
            raise DeployError(
                f'the deployed model does not run ({type(e).__name__} in '
                f'{failing_module(e, deployed64)}: {reason}): a layer there '
                'reads a width pas_mm did not narrow; list it in '
                'PaSModel(ignored=[...]); nothing written') from e
        exact_diff = max_abs_diff(gated_out, deployed_out)
    if dtype != torch.float64:  # float32 rounding grows with the outputs
        atol *= max([1.] + [float(t.abs().max()) for t in
                            flatten_outputs(gated_out) if t.numel()])
    if not exact_diff <= atol:
        where = ''
        auto = model64.auto_gates
        if auto is not None:
            layer = first_divergent_layer(
                model64.architecture, deployed64,
                lambda m: raw_forward(m, inputs.to(dtype)),
                lambda path: auto.keep(path, 'out'), atol)
            where = (f'; the first layer that differs is {layer}: its input '
                     'mixes channels in an op the dependency graph did not '
                     'see; list it in PaSModel(ignored=[...])'
                     if layer else '')
        raise DeployError(
            f'deployed model differs from the gated model: max abs diff '
            f'{exact_diff:.3g} > {atol:.3g} ({_name(dtype)}){where}; '
            'nothing written')
    state = {k: v.float() if v.is_floating_point() else v
             for k, v in state64.items()}
    deployed = build_deployed(arch_cfg, state).to(device)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        diff = max_abs_diff(raw_forward(model.architecture, inputs),
                            raw_forward(deployed, inputs))
    model.train(was_training)
    return arch_cfg, state, deployed, dict(
        max_abs_diff=diff, checked_in=_name(dtype),
        max_abs_diff_float64=exact_diff if dtype == torch.float64 else None)


def _name(dtype: torch.dtype) -> str:
    return str(dtype).replace('torch.', '')


def _check_copy(model: PaSModel, inputs: torch.Tensor):
    """A copy of ``model`` for the equivalence check, its dtype and its
    outputs on ``inputs``: float64, or float32 where the model cannot run
    in float64 (XCiT's and Conditional DETR's position encodings build
    float32 tensors themselves)."""
    for dtype in (torch.float64, torch.float32):
        check = to_dtype(copy.deepcopy(model), dtype).eval()
        try:
            with torch.no_grad():
                return check, dtype, raw_forward(check.architecture,
                                                 inputs.to(dtype))
        except RuntimeError as e:
            if dtype == torch.float32 or not any(k in str(e) for k in (
                    'dtype', 'scalar type', 'Float and Double',
                    'Input type (float)')):
                raise


def deploy(config: str,
           checkpoint: str,
           out_dir: str,
           atol: float = 1e-4,
           cfg_options: Optional[dict] = None,
           latency_runs: int = 10,
           onnx: bool = False,
           force: bool = False) -> dict:
    """Fuse, prune and verify; write deploy_config.py + deploy.pth.

    ``out_dir`` is checked first (:func:`check_out_dir`: a new or empty
    folder, or with ``force`` a previous deploy; never one holding the
    config or checkpoint). Files are written to a temporary folder and
    moved to ``out_dir`` only after the deployed model matched the gated
    one to ``atol``. With
    ``onnx``, ``deploy.onnx`` is exported next, run in onnxruntime and
    checked against torch to ``atol`` (its diff and latency go into the
    report).

    Raises:
        OutDirError: ``out_dir`` refused before any work.
        DeployError: nothing written; or, for an ONNX failure (onnxruntime
            missing included), the torch deploy is written and the message
            says so.

    Returns:
        dict: the report (MACs, params, latency before/after, max diff).
    """
    check_out_dir(out_dir, (config, checkpoint), force)
    cfg = read_config(config)
    merge_cfg_options(cfg, cfg_options)
    step = DEPLOY_STEPS.get(cfg.get('model', {}).get('type'))
    if step is not None:
        return step(cfg, checkpoint, out_dir, atol=atol,
                    latency_runs=latency_runs, onnx=onnx)
    model = build_pas_model(cfg)
    load_gated_checkpoint(model, checkpoint)
    model.eval()
    if not model.searched:
        raise DeployError(
            f'checkpoint {checkpoint} has not been searched: its gates were '
            'never fixed (PaSSearchHook ends the search at search_epochs). '
            'Deploy a checkpoint saved after the search ended.')
    arch_cfg, state, deployed, diffs = export_verified(model, atol)
    one = torch.randn(1, *model.input_shape,  # the first check input
                      generator=torch.Generator().manual_seed(0))
    report = dict(
        **diffs,
        macs=dict(full=model.macs_full, searched=model.counter.kept_macs(),
                  deployed=count_macs(deployed, model.input_shape),
                  target=model.macs_target),
        params=dict(gated=count_params(model.architecture),
                    deployed=count_params(deployed)),
        latency_ms=dict(
            gated=measure_latency(
                lambda: raw_forward(model.architecture, one),
                runs=latency_runs),
            deployed=measure_latency(lambda: raw_forward(deployed, one),
                                     runs=latency_runs)),
        input_shape=list(model.input_shape))
    if model.budget is not model.counter:
        report['latency'] = latency_report(model)

    onnx_error = []

    def export_to(folder: str) -> None:
        path = osp.join(folder, 'deploy.onnx')
        try:
            report['onnx'] = export_onnx(deployed.eval(), model.input_shape,
                                         path, atol=atol,
                                         latency_runs=latency_runs)
        except OnnxError as e:
            if osp.exists(path):
                os.remove(path)
            onnx_error.append(e)

    out_dir = write_deploy(out_dir, cfg, arch_cfg, state, report,
                           model.subnet(), then=export_to if onnx else None)
    if onnx_error:
        raise DeployError(f'{onnx_error[0]}; the torch deploy is written to '
                          f'{out_dir}') from onnx_error[0]
    return report


def latency_report(model: PaSModel, tol: float = 0.05) -> dict:
    """Target, predicted and measured latency of a latency-searched model.

    The deployed model is timed in turns with the full-width deployed one
    on the table's device, batch and threads; ``on_target`` compares their
    ratio with the target's (absolute ms follow the machine's speed of the
    moment, which drifts on shared machines).
    """
    table = model.macs_loss.table
    full_ms, ms = model.deployed_latency(table)
    target_ratio = model.budget_target / model.budget_full
    return dict(
        device=table.name, batch_size=table.batch_size,
        target_ms=model.budget_target, predicted_ms=model.budget.kept_cost(),
        measured_ms=ms, full_predicted_ms=model.budget_full,
        full_measured_ms=full_ms, target_ratio=target_ratio,
        measured_ratio=ms / full_ms,
        on_target=abs(ms / full_ms / target_ratio - 1) <= tol)


def write_deploy(out_dir: str, cfg: Config, model_cfg: dict,
                 state: Dict[str, torch.Tensor], report: dict,
                 subnet: dict,
                 then: Optional[Callable[[str], None]] = None) -> str:
    """Write deploy_config.py (``cfg`` with ``model_cfg``, without the
    search hook), deploy.pth, pas_subnet.json and report.json to
    ``out_dir``, all or nothing: staged in a temporary folder beside it and
    moved in place at the end (:func:`staged_out_dir`). ``then(folder)``
    runs on the staged folder before report.json is written (the ONNX
    export, which adds to the report). Returns the absolute ``out_dir``."""
    out_dir = osp.abspath(out_dir)
    with staged_out_dir(out_dir) as tmp:
        deploy_cfg = copy.deepcopy(cfg)
        deploy_cfg.model = model_cfg
        deploy_cfg.load_from = osp.join(out_dir, 'deploy.pth')
        deploy_cfg.custom_hooks = [
            h for h in deploy_cfg.get('custom_hooks', [])
            if h.get('type') != 'PaSSearchHook'
        ]
        deploy_cfg.dump(osp.join(tmp, 'deploy_config.py'))
        torch.save(dict(state_dict=state, meta=dict(pas_report=report)),
                   osp.join(tmp, 'deploy.pth'))
        if then is not None:
            then(tmp)
        for name, obj in (('pas_subnet.json', subnet),
                          ('report.json', report)):
            with open(osp.join(tmp, name), 'w') as f:
                json.dump(obj, f, indent=1)
    return out_dir


def format_report(report: dict) -> str:
    """The before/after table printed by tools/deploy_reparam.py."""
    m, p, t = report['macs'], report['params'], report['latency_ms']
    rows = [('', 'gated (train form)', 'deployed'),
            ('MACs', f"{format_macs(m['full'])} (full), "
             f"{format_macs(m['searched'])} kept", format_macs(m['deployed'])),
            ('params', f"{p['gated'] / 1e6:.3f}M", f"{p['deployed'] / 1e6:.3f}M"),
            ('CPU latency (bs 1)', f"{t['gated']:.2f} ms",
             f"{t['deployed']:.2f} ms")]
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [' | '.join(c.ljust(w) for c, w in zip(r, width)) for r in rows]
    lines.insert(1, '-+-'.join('-' * w for w in width))
    if 'onnx' in report:
        o = report['onnx']
        lines.append(f"onnxruntime (bs 1): {o['latency_ms']:.2f} ms, max abs "
                     f"diff vs torch {o['max_abs_diff']:.2e} "
                     f"({o['outputs']} outputs)")
    if 'latency' in report:
        t = report['latency']
        lines.append(
            f"latency on {t['device']}, batch {t['batch_size']}: target "
            f"{t['target_ms']:.3f} ms ({t['target_ratio']:.1%} of full), "
            f"predicted {t['predicted_ms']:.3f} ms, measured "
            f"{t['measured_ms']:.3f} ms = {t['measured_ratio']:.1%} of the "
            f"full model measured with it ({t['full_measured_ms']:.3f} ms)"
            + ('' if t['on_target'] else '; NOT within 5% of the target'))
    target = ('' if m['target'] is None else
              f"; target {format_macs(m['target'])}")
    exact = ('not run in float64 (checked in float32)'
             if report.get('max_abs_diff_float64') is None else
             f"{report['max_abs_diff_float64']:.2e} float64")
    lines.append(f"max abs diff deployed vs gated: {report['max_abs_diff']:.2e}"
                 f" float32, {exact} (input {report['input_shape']}){target}")
    return '\n'.join(lines)
