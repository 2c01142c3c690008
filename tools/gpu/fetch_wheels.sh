#!/usr/bin/env bash
# Download the wheels of tools/gpu/wheels.txt into .whl/ (git-ignored), for
# a GPU machine without network that has Python 3.12 and torch but no
# OpenMMLab. Run here, where pip reaches PyPI; then carry .whl to that
# machine and run `bash tools/gpu/run_cuda_tests.sh` there.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
$PY -m pip download --quiet --no-deps --only-binary=:all: \
  --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .whl -r tools/gpu/wheels.txt
ls .whl
du -ch .whl/*.whl | tail -1
