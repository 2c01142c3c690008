from .export import build_deployed, export_deploy
from .verify import count_params, flatten_outputs, max_abs_diff, measure_latency

__all__ = ['build_deployed', 'export_deploy', 'count_params',
           'flatten_outputs', 'max_abs_diff', 'measure_latency']
from .pipeline import DeployError, deploy, format_report  # noqa: E402

__all__ += ['DeployError', 'deploy', 'format_report']
