#!/usr/bin/env bash
# Install the pinned pas-mm stack into the current Python (idempotent: a
# complete install is detected and skipped in about a second).
#
#   torch 2.13.0 + torchvision 0.28.0 (PyPI builds; "===" avoids the local
#   CPU-only torch file, which breaks torchvision), mmengine 0.10.7,
#   mmcv 2.1.0 built from source with ops (needs setuptools >=77,<81 for
#   pkg_resources; pip caches the built wheel), mmdet 3.3.0, mmpretrain 1.2.0,
#   torch-pruning 1.6.1 (pure Python, --no-deps; the channel groups of
#   PaSModel(gates='auto')).
#   numpy is held below 2: mmcv 2.1.0 / mmdet 3.3.0 predate numpy 2.
#
#   --with-mmagic: also the optional mmagic 1.2.0 extra (CycleGAN,
#   configs/pas_cyclegan.py), pinned to the stack: diffusers 0.24.0,
#   transformers 4.36.2, huggingface-hub <0.26, tokenizers <0.19 (today's
#   diffusers breaks `import mmagic.models`) and albumentations 1.3.1
#   (`mmagic.datasets` imports it); a constraints file holds torch, mmcv,
#   mmengine, numpy <2 and every OpenCV wheel (mmagic's mediapipe pulls
#   opencv-contrib-python) at the core stack's versions.
set -euo pipefail
PY=${PYTHON:-python3}
cd "$(dirname "$0")/.."
WITH_MMAGIC=0
for arg in "$@"; do
  case "$arg" in
    --with-mmagic) WITH_MMAGIC=1 ;;
    *) echo "install.sh: unknown option $arg (--with-mmagic)" >&2; exit 2 ;;
  esac
done

install_mmagic() {
  if $PY -I -c 'import importlib.metadata as md
assert md.version("mmagic") == "1.2.0"
import mmagic.models, mmagic.datasets  # noqa' 2>/dev/null; then
    echo "[install] mmagic extra already present"
    return
  fi
  local constraints
  constraints=$(mktemp)
  printf '%s\n' "torch===2.13.0" "torchvision==0.28.0" "mmcv==2.1.0" \
    "mmengine==0.10.7" "numpy<2" "opencv-python<4.11" \
    "opencv-python-headless<4.11" "opencv-contrib-python<4.11" > "$constraints"
  $PY -m pip install --progress-bar off -c "$constraints" "mmagic==1.2.0" \
    "diffusers==0.24.0" "transformers==4.36.2" "huggingface-hub<0.26" \
    "tokenizers<0.19" "albumentations==1.3.1"
  rm -f "$constraints"
  echo "[install] mmagic extra done"
}

if $PY -I - <<'PYCHK' 2>/dev/null; then
import importlib.metadata as md
want = {'torch': '2.13.0', 'torchvision': '0.28.0', 'mmengine': '0.10.7',
        'mmcv': '2.1.0', 'mmdet': '3.3.0', 'mmpretrain': '1.2.0',
        'torch-pruning': '1.6.1'}
for name, ver in want.items():
    assert md.version(name).split('+')[0] == ver, name
import os
import torchvision, mmcv.ops, mmdet.models, mmpretrain.models, pycocotools, matplotlib, sklearn, pytest, torch_pruning, pas_mm  # noqa
# pas_mm must be this checkout's (editable install), not another clone's
assert os.path.dirname(pas_mm.__file__) == os.path.abspath('pas_mm')
PYCHK
  echo "[install] pinned stack already present"
  if [ "$WITH_MMAGIC" = 1 ]; then install_mmagic; fi
  exit 0
fi

PIP="$PY -m pip install --progress-bar off"
$PIP "setuptools>=77,<81" wheel "numpy<2"
$PIP "torch===2.13.0" "torchvision==0.28.0" "numpy<2"
$PIP "mmengine==0.10.7" "opencv-python<4.11" "numpy<2"
MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} $PIP --no-build-isolation "mmcv==2.1.0"
$PIP "mmdet==3.3.0" "mmpretrain==1.2.0" pycocotools matplotlib scikit-learn pytest "numpy<2" "opencv-python<4.11"
# pure Python; gates='auto' takes its channel groups (no deps: keeps the stack)
$PIP --no-deps "torch-pruning==1.6.1"
$PIP --no-build-isolation --no-deps -e .
if [ "$WITH_MMAGIC" = 1 ]; then install_mmagic; fi
echo "[install] done"
