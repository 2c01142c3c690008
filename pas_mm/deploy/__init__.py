from .export import build_deployed, export_deploy
from .verify import (count_macs, count_params, flatten_outputs, max_abs_diff,
                     measure_latency)

__all__ = ['build_deployed', 'export_deploy', 'count_macs', 'count_params',
           'flatten_outputs', 'max_abs_diff', 'measure_latency']
from .pipeline import (DeployError, deploy, export_verified,  # noqa: E402
                       format_report)

__all__ += ['DeployError', 'deploy', 'export_verified', 'format_report']
