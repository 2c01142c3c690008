#!/usr/bin/env bash
# On a GPU machine without network (Python 3.12 + torch, no OpenMMLab):
# install the wheels carried in .whl/ (tools/gpu/fetch_wheels.sh) into a
# private folder and run the CUDA tests, then the classification tests
# beside them. Extra arguments go to pytest (e.g. -k search).
#
#   PAS_NUMPY1=1  also install the carried numpy 1.26.4 (the stack's numpy<2)
#   OUT=DIR       also write the log to DIR/cuda_tests.log
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
SITE=${PAS_SITE:-/tmp/pas_site}
if ! ls .whl/*.whl >/dev/null 2>&1; then
  echo "run_cuda_tests: no wheels in .whl/; run bash tools/gpu/fetch_wheels.sh" \
    "where pip works, and carry .whl" >&2
  exit 2
fi
wheels=$(ls .whl/*.whl | grep -v '/numpy-')
if [ "${PAS_NUMPY1:-0}" = 1 ]; then wheels="$wheels $(ls .whl/numpy-*.whl)"; fi
# shellcheck disable=SC2086
$PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
  --upgrade --target "$SITE" $wheels
export PYTHONPATH=$SITE:$PWD PYTHONUNBUFFERED=1
LOG=${OUT:-/tmp}/cuda_tests.log
{
  $PY -c 'import torch, numpy, mmengine, mmcv, mmpretrain, pas_mm
print("torch", torch.__version__, "cuda", torch.version.cuda, "numpy",
      numpy.__version__, "mmengine", mmengine.__version__, "mmcv",
      mmcv.__version__, "mmpretrain", mmpretrain.__version__)
assert torch.cuda.is_available(), "torch sees no CUDA device"
print("device:", torch.cuda.get_device_name())'
  # both runs, even when the first fails: one GPU session gets both answers
  status=0
  $PY -m pytest -q -p no:cacheprovider -rs tests/test_cuda.py "$@" ||
    status=$?
  $PY -m pytest -q -p no:cacheprovider -rs tests/test_dbc_gate.py \
    tests/test_macs.py tests/test_deploy.py tests/test_search_runner.py \
    tests/test_latency.py tests/test_import_cycles.py "$@" || status=$?
  exit $status
} 2>&1 | tee "$LOG"
