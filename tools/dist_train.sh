#!/usr/bin/env bash
# Distributed training on one machine, as in OpenMMLab repos:
#   bash tools/dist_train.sh CONFIG GPUS [train.py options]
# Several machines: set NNODES, NODE_RANK, MASTER_ADDR, PORT on each.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: bash tools/dist_train.sh CONFIG GPUS [train.py options]" >&2; exit 2
fi
CONFIG=$1
GPUS=$2
torchrun --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
  --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
  --nproc_per_node="$GPUS" "$(dirname "$0")/train.py" "$CONFIG" \
  --launcher pytorch "${@:3}"
