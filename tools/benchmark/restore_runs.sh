#!/bin/bash
# Copy a benchmark's committed runs into its work folder, so a rerun only
# trains what is missing: every finished run's *.json (result, search
# record) and every pre-training with its weights (a new method on an old
# seed must start from the very same net to be paired; CPU training is not
# bit-reproducible across machines). Runs already there are left alone.
#   bash tools/benchmark/restore_runs.sh docs/benchmark/NAME work_dirs/benchmark/NAME
set -e
SRC=$1; OUT=$2
for part in runs recipe_study; do
  for d in "$SRC/$part"/*/; do
    [ -d "$d" ] || continue
    n=$(basename "$d")
    case $n in pretrain-*) [ -e "$d/pretrained.pth" ] || continue ;; esac
    [ -e "$OUT/$part/$n/result.json" ] && continue
    mkdir -p "$OUT/$part/$n"
    cp "$d"*.json "$OUT/$part/$n/"
    cp "$d"*.pth "$OUT/$part/$n/" 2>/dev/null || true
  done
done
