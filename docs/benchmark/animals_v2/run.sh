#!/bin/bash
# Benchmark v2 on Animal-MNIST (results.md here), stage by stage, most
# telling first. Resumable: finished runs (OUT/runs/<run>/result.json) are
# skipped, so rerunning continues where it stopped.
#   bash docs/benchmark/animals_v2/run.sh        (from the repository root)
set -e
export PYTHONPATH=$PWD
[ -d data/animals ] || python tools/make_animals.py --out data/animals
OUT=work_dirs/benchmark/animals_v2
COMMON="--config configs/pas_repvgg_animals_small.py --data-root data/animals --out $OUT --pretrain-epochs 10 --search-epochs 2 --finetune-epochs 8 --jobs 2 --threads 1 --skip latency overhead ddp resume"
RUN="nice -n 5 python tools/benchmark/run_all.py $COMMON"
# a fresh checkout starts from the committed runs (their result.json and
# search record), so only what is missing runs; pre-training reruns (its
# weights are not committed) when a new target or seed needs it
for d in docs/benchmark/animals_v2/runs/*/; do
  n=$(basename "$d")
  case $n in pretrain-*) continue ;; esac
  [ -e "$OUT/runs/$n/result.json" ] || { mkdir -p "$OUT/runs/$n"; cp "$d"*.json "$OUT/runs/$n/"; }
done
for d in docs/benchmark/animals_v2/recipe_study/*/; do
  n=$(basename "$d")
  [ -e "$OUT/recipe_study/$n/result.json" ] || { mkdir -p "$OUT/recipe_study/$n"; cp "$d"*.json "$OUT/recipe_study/$n/"; }
done
$RUN --seeds 0 1 2 --targets 0.15 --methods unpruned-scratch scratch  # capacity
$RUN --seeds 0 1 2 --targets 0.15 --methods pas uniform tp-magnitude-res full pas-fast
$RUN --seeds 0 1 2 --targets 0.15 --methods uniform-fast tp-magnitude-res-fast
nice -n 5 python tools/benchmark/recipe_study.py --bench $OUT --targets 0.15 --seeds 0 --jobs 2
$RUN --seeds 3 4 --targets 0.15 --methods scratch pas uniform tp-magnitude-res full pas-fast uniform-fast tp-magnitude-res-fast
$RUN --seeds 0 1 2 --targets 0.15 --methods l1 slim tp-taylor-res
nice -n 5 python tools/benchmark/recipe_study.py --bench $OUT --targets 0.15 --seeds 0 --jobs 2  # + target annealing
$RUN --seeds 0 1 2 3 4 --targets 0.3 --methods pas pas-fast uniform-fast tp-magnitude-res-fast scratch
$RUN --seeds 0 1 2 --targets 0.3 --methods uniform tp-magnitude-res
python tools/benchmark/report.py --out $OUT
