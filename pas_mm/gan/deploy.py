"""Deploy a searched PaSCycleGAN: slice its compressed generators, verify."""
import copy
from typing import Dict, Tuple

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import nn

from mmagic.registry import MODELS

from ..deploy.pipeline import (DeployError, load_gated_checkpoint,
                               register_deploy_step, write_deploy)
from ..deploy.verify import count_params, measure_latency
from ..budget import MACsCounter
from .pas_cyclegan import PaSCycleGAN


def generator_macs(generator: nn.Module, input_shape) -> float:
    """Conv MACs of one generator forward (batch 1, ``(C, H, W)``)."""
    x = torch.zeros(1, *input_shape, dtype=next(generator.parameters()).dtype)
    return MACsCounter.profile(generator, lambda: generator(x))[0].full()


def export_generators(model: PaSCycleGAN, atol: float = 1e-4
                      ) -> Tuple[Dict[str, dict], Dict[str, nn.Module], dict]:
    """Pruned config and model of every compressed generator, checked.

    Export and check run in float64 (slicing is exact, so a wrong weight
    shows at full size and rounding does not); the float32 diff is
    reported too.

    Returns:
        (domain -> deploy generator config, domain -> deployed float32
        generator, dict(max_abs_diff=float32, max_abs_diff_float64=...))

    Raises:
        DeployError: a deployed generator differs by more than ``atol``.
    """
    cfgs, deployed, diffs = {}, {}, dict(max_abs_diff=0.,
                                         max_abs_diff_float64=0.)
    x = torch.randn(2, *model.input_shape,
                    generator=torch.Generator().manual_seed(0))
    for d in model.compress_domains:
        gen = model.compressed_generator(d).eval()
        gen64 = copy.deepcopy(gen).double()
        updates, state = gen64.export_deploy()
        cfgs[d] = dict(model.generator_cfgs[d], **updates)
        pruned64 = MODELS.build(copy.deepcopy(cfgs[d])).double().eval()
        pruned64.load_state_dict(state, strict=True)
        pruned = copy.deepcopy(pruned64).float()
        with torch.no_grad():
            diff64 = float((gen64(x.double()) - pruned64(x.double())).abs()
                           .max())
            diff = float((gen(x) - pruned(x)).abs().max())
        if not diff64 <= atol:
            raise DeployError(
                f'deployed generator {d!r} differs from the gated one: max '
                f'abs diff {diff64:.3g} > {atol} (float64); nothing written')
        deployed[d] = pruned
        diffs = dict(max_abs_diff=max(diffs['max_abs_diff'], diff),
                     max_abs_diff_float64=max(
                         diffs['max_abs_diff_float64'], diff64))
    return cfgs, deployed, diffs


@register_deploy_step('PaSCycleGAN')
def deploy_cyclegan(cfg: Config, checkpoint: str, out_dir: str,
                    atol: float = 1e-4, latency_runs: int = 10,
                    onnx: bool = False) -> dict:
    """Slice the compressed generators of a searched PaSCycleGAN and write
    ``deploy_config.py`` (a ``PaSCycleGAN`` without search whose
    ``domain_generators`` hold the pruned widths) and ``deploy.pth``
    (loading strictly into it), after the float64 check.

    Registered as the deploy step of ``PaSCycleGAN`` configs, which
    :func:`pas_mm.deploy.deploy` calls.

    Returns:
        dict: the report (keys as :func:`pas_mm.deploy.format_report` reads).

    Raises:
        DeployError: ``onnx`` (not supported), or the checkpoint cannot be
            deployed; nothing written.
    """
    if onnx:
        raise DeployError('--onnx is not supported for PaSCycleGAN '
                          'configs yet; deploy without it')
    init_default_scope(cfg.get('default_scope', 'mmagic'))
    model_cfg = copy.deepcopy(cfg.model)
    model = MODELS.build(model_cfg)
    if not isinstance(model, PaSCycleGAN):
        raise DeployError(f"config {cfg.filename}: model type "
                          f"{model_cfg.get('type')!r} is not PaSCycleGAN")
    load_gated_checkpoint(model, checkpoint)
    model.eval()
    if not model.searched:
        raise DeployError(
            f'checkpoint {checkpoint} has not been searched: its gates were '
            'never fixed (PaSSearchHook ends the search at search_iters). '
            'Deploy a checkpoint saved after the search ended.')
    gen_cfgs, deployed, diffs = export_generators(model, atol)

    deploy_model = dict(model_cfg, macs_loss=None, distill=None,
                        domain_generators=gen_cfgs)
    deploy_model.pop('subnet', None)
    state = {k: v for k, v in model.state_dict().items()
             if not k.startswith('teachers')}
    for d, gen in deployed.items():
        prefix = f'generators.{d}.'
        state = {k: v for k, v in state.items() if not k.startswith(prefix)}
        state.update({prefix + k: v for k, v in gen.state_dict().items()})
    MODELS.build(copy.deepcopy(deploy_model)).load_state_dict(state,
                                                              strict=True)

    one = torch.randn(1, *model.input_shape,
                      generator=torch.Generator().manual_seed(0))
    gated = [model.compressed_generator(d) for d in deployed]
    report = dict(
        **diffs,
        macs=dict(full=model.macs_full, searched=model.counter.kept_macs(),
                  deployed=sum(generator_macs(g, model.input_shape)
                               for g in deployed.values()),
                  target=model.macs_target),
        params=dict(gated=sum(count_params(g) for g in gated),
                    deployed=sum(count_params(g) for g in deployed.values())),
        latency_ms=dict(
            gated=measure_latency(lambda: [g(one) for g in gated],
                                  runs=latency_runs),
            deployed=measure_latency(
                lambda: [g(one) for g in deployed.values()],
                runs=latency_runs)),
        input_shape=list(model.input_shape),
        domains=list(deployed), widths={d: c['widths']
                                        for d, c in gen_cfgs.items()})

    write_deploy(out_dir, cfg, deploy_model, state, report, model.subnet())
    return report
