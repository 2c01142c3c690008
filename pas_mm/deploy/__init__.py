from .export import build_deployed, export_deploy
from .verify import (count_macs, count_params, flatten_outputs, max_abs_diff,
                     measure_latency)

__all__ = ['build_deployed', 'export_deploy', 'count_macs', 'count_params',
           'flatten_outputs', 'max_abs_diff', 'measure_latency']
from .onnx_export import ONNX_INSTALL, OnnxError, RawForward, export_onnx  # noqa: E402,E501
from .output import OutDirError  # noqa: E402
from .pipeline import (DeployError, build_pas_model, deploy,  # noqa: E402
                       export_verified, format_report)

__all__ += ['ONNX_INSTALL', 'OnnxError', 'RawForward', 'export_onnx',
            'DeployError', 'OutDirError', 'build_pas_model', 'deploy',
            'export_verified', 'format_report']
