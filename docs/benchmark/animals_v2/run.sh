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
# a fresh checkout starts from the committed runs (result.json, search
# record and every seed's pre-trained weights), so only what is missing runs
bash tools/benchmark/restore_runs.sh docs/benchmark/animals_v2 $OUT
$RUN --seeds 0 1 2 --targets 0.15 --methods unpruned-scratch scratch  # capacity
$RUN --seeds 0 1 2 --targets 0.15 --methods pas uniform tp-magnitude-res full pas-fast
$RUN --seeds 0 1 2 --targets 0.15 --methods uniform-fast tp-magnitude-res-fast
nice -n 5 python tools/benchmark/recipe_study.py --bench $OUT --targets 0.15 --seeds 0 --jobs 2
$RUN --seeds 3 4 --targets 0.15 --methods scratch pas uniform tp-magnitude-res full pas-fast uniform-fast tp-magnitude-res-fast
$RUN --seeds 0 1 2 --targets 0.15 --methods l1 slim tp-taylor-res
nice -n 5 python tools/benchmark/recipe_study.py --bench $OUT --targets 0.15 --seeds 0 --jobs 2  # + target annealing
$RUN --seeds 0 1 2 3 4 --targets 0.3 --methods pas pas-fast uniform-fast tp-magnitude-res-fast scratch
$RUN --seeds 0 1 2 --targets 0.3 --methods uniform tp-magnitude-res
# the official LR's two best knobs on val (search 4 epochs, loss weight 20),
# and both together, on 3 seeds
nice -n 5 python tools/benchmark/recipe_study.py --bench $OUT --targets 0.15 --seeds 0 1 2 --jobs 2 --variants search_4_epochs loss_weight_20 search_4_epochs__loss_weight_20
$RUN --seeds 0 1 2 3 4 --targets 0.1 --methods pas-fast uniform-fast tp-magnitude-res-fast scratch pas
# every row to 5 seeds
$RUN --seeds 3 4 --targets 0.15 --methods unpruned-scratch l1 slim tp-taylor-res
$RUN --seeds 3 4 --targets 0.3 --methods uniform tp-magnitude-res
# 2026-12-03: PaS with the snap by gate margin per MAC (now the default),
# then the 50% target
$RUN --seeds 0 1 2 3 4 --targets 0.15 --methods pas-cost pas-fast-cost
$RUN --seeds 0 1 2 3 4 --targets 0.3 0.1 --methods pas-cost pas-fast-cost
$RUN --seeds 0 1 2 3 4 --targets 0.5 --methods pas-fast-cost uniform-fast tp-magnitude-res-fast scratch pas-cost
$RUN --seeds 0 1 2 3 4 --targets 0.5 --methods pas-fast pas
python tools/benchmark/report.py --out $OUT
nice -n 5 python tools/benchmark/recipe_study.py --bench $OUT --targets 0.15 --seeds 0 1 2 --jobs 2 --variants search_4_epochs  # its table (nothing left to run)
# 2026-12-03: the pre-training length on val (the first plateau, 3 seeds),
# then the 15% and 10% core tables again from nets pre-trained that long (P = 20);
# the committed study and P = 20 runs (pretrain_length/p<P>/runs, with the
# P = 20 nets' weights) are copied in first
PRE=work_dirs/benchmark/animals_pretrain
mkdir -p $PRE && cp -rn docs/benchmark/animals_v2/pretrain_length/. $PRE/
nice -n 5 python tools/benchmark/pretrain_length.py --config configs/pas_repvgg_animals_small.py --data-root data/animals --out $PRE --lengths 10 20 30 40 --seeds 0 1 2 --jobs 2
RUN20="nice -n 5 python tools/benchmark/run_all.py --config configs/pas_repvgg_animals_small.py --data-root data/animals --out $PRE/p20 --pretrain-epochs 20 --search-epochs 2 --finetune-epochs 8 --jobs 2 --threads 1 --skip latency overhead ddp resume --seeds 0 1 2 3 4"
$RUN20 --targets 0.15 --methods pas-fast-cost pas-cost uniform-fast tp-magnitude-res-fast scratch unpruned-scratch full
$RUN20 --targets 0.1 --methods pas-fast-cost pas-cost uniform-fast tp-magnitude-res-fast scratch
# the fast recipe's variants chosen on val at P = 20 (15%, 3 seeds), then 50% and 30%
nice -n 5 python tools/benchmark/recipe_study.py --bench $PRE/p20 --targets 0.15 --seeds 0 1 2 --jobs 2 --baselines pas-fast-cost pas-cost --variants fast_recipe__snap_per_MAC__loss_weight_20 fast_recipe__snap_per_MAC__search_4_epochs
$RUN20 --targets 0.3 0.5 --methods pas-fast-cost uniform-fast tp-magnitude-res-fast scratch pas-cost
# 2026-12-06: 15% on seeds 5-9 too (10 seeds), and the official-LR pruners at P = 20
nice -n 5 python tools/benchmark/run_all.py --config configs/pas_repvgg_animals_small.py --data-root data/animals --out $PRE/p20 --pretrain-epochs 20 --search-epochs 2 --finetune-epochs 8 --jobs 2 --threads 1 --skip latency overhead ddp resume --seeds 5 6 7 8 9 --targets 0.15 --methods pas-fast-cost pas-cost uniform-fast tp-magnitude-res-fast scratch unpruned-scratch full
$RUN20 --targets 0.15 --methods l1 slim tp-taylor-res tp-magnitude-res uniform
nice -n 5 python tools/benchmark/run_all.py --config configs/pas_repvgg_animals_small.py --data-root data/animals --out $PRE/p20 --pretrain-epochs 20 --search-epochs 2 --finetune-epochs 8 --jobs 2 --threads 1 --skip latency overhead ddp resume --seeds 5 6 7 8 9 --targets 0.1 --methods pas-fast-cost pas-cost uniform-fast tp-magnitude-res-fast scratch
# 2026-12-07: seeds 10-19 at 15% and 10% (20 seeds each)
nice -n 5 python tools/benchmark/run_all.py --config configs/pas_repvgg_animals_small.py --data-root data/animals --out $PRE/p20 --pretrain-epochs 20 --search-epochs 2 --finetune-epochs 8 --jobs 2 --threads 1 --skip latency overhead ddp resume --seeds 10 11 12 13 14 15 16 17 18 19 --targets 0.15 0.1 --methods pas-fast-cost uniform-fast tp-magnitude-res-fast scratch pas-cost unpruned-scratch
# 2026-12-07: seeds 20-49 at 10% for PaS fast, uniform and Torch-Pruning (50 seeds)
nice -n 5 python tools/benchmark/run_all.py --config configs/pas_repvgg_animals_small.py --data-root data/animals --out $PRE/p20 --pretrain-epochs 20 --search-epochs 2 --finetune-epochs 8 --jobs 2 --threads 1 --skip latency overhead ddp resume --seeds $(seq 20 49) --targets 0.1 --methods pas-fast-cost uniform-fast tp-magnitude-res-fast
python tools/benchmark/report.py --out $PRE/p20
# 2026-12-07 (issue 35): the new search (value per cost, rising multiplier, floor,
# target annealed; the shipped defaults): its val study at 10% (3 seeds), the
# 10% and 15% tables over 20 seeds, and widths trained from scratch
# (docs/benchmark/animals_v2/value_per_cost.md)
nice -n 5 python tools/benchmark/recipe_study.py --bench $PRE/p20 --targets 0.1 --seeds 0 1 2 --jobs 2 --baselines pas-fast-cost --variants fast_recipe__snap_per_MAC__multiplier_lr_5__value_weighted fast_recipe__snap_per_MAC__multiplier_lr_5__value_weighted__floor_0_5 fast_recipe__snap_per_MAC__multiplier_lr_1__target_annealed_over_the_first_half_of_the_search__tol_0_5___value_weighted__floor_0_5 fast_recipe__snap_per_MAC__multiplier_lr_1__target_annealed_over_the_first_half_of_the_search__tol_0_5___floor_0_5
RUNVC="nice -n 5 python tools/benchmark/run_all.py --config configs/pas_repvgg_animals_small.py --data-root data/animals --out $PRE/p20 --pretrain-epochs 20 --search-epochs 2 --finetune-epochs 8 --jobs 2 --threads 1 --skip latency overhead ddp resume"
$RUNVC --seeds $(seq 0 19) --targets 0.1 --methods pas-fast-vc1
$RUNVC --seeds $(seq 0 19) --targets 0.15 --methods pas-fast-vc1
$RUNVC --seeds 0 1 2 --targets 0.1 --methods pas-fast-vc1 tp-magnitude-res-fast --widths-scratch-of pas-fast-vc1 tp-magnitude-res-fast
python tools/benchmark/report.py --out $PRE/p20
# 2026-12-07: PaS widths from random init, seeds 3-4 (5 in all)
$RUNVC --seeds 3 4 --targets 0.1 --methods pas-fast-vc1 --widths-scratch-of pas-fast-vc1
# 2026-12-08 (issue 35, landing.md): the shipped default restarts the budget
# multiplier when the averaged distance to the target changes sign; the
# first value-per-cost runs above are pas-fast-vc1 (renamed)
$RUNVC --seeds $(seq 0 19) --targets 0.1 0.15 --methods pas-fast-vc
python tools/benchmark/headline.py --landing --pas pas-fast-vc1,pas-fast-vc "Animal-MNIST=$PRE/p20@0.15,0.1"
# 2026-12-08: the shipped default's widths from random init (10% first, then
# 15%, seeds 0-4) and Torch-Pruning's widths on seeds 3-4 (5 in all)
$RUNVC --seeds 0 1 2 3 4 --targets 0.1 --methods pas-fast-vc --widths-scratch-of pas-fast-vc
$RUNVC --seeds 3 4 --targets 0.1 --methods tp-magnitude-res-fast --widths-scratch-of tp-magnitude-res-fast
$RUNVC --seeds 0 1 2 3 4 --targets 0.15 --methods pas-fast-vc --widths-scratch-of pas-fast-vc
python tools/benchmark/headline.py --landing --pas pas-fast-vc "Animal-MNIST=$PRE/p20@0.15,0.1"
# 2026-12-08: one knob of the shipped default at a time on val (10%, seeds
# 0-2): a search twice as long, floor 0.8, the official gradient
nice -n 5 python tools/benchmark/recipe_study.py --bench $PRE/p20 --targets 0.1 --seeds 0 1 2 --jobs 2 --baselines pas-fast-vc --variants shipped_default__search_4_epochs shipped_default__floor_0_8 shipped_default__official_gradient
# 2026-12-08: seeds 20-49 at 10% (50 seeds, as PaS fast, uniform and
# Torch-Pruning there)
$RUNVC --seeds $(seq 20 49) --targets 0.1 --methods pas-fast-vc
# 2026-12-08: its widths from random init at 10%, seeds 5-9 (10 in all)
$RUNVC --seeds 5 6 7 8 9 --targets 0.1 --methods pas-fast-vc --widths-scratch-of pas-fast-vc
# 2026-12-08: Torch-Pruning's widths from random init at 15% (seeds 0-4)
$RUNVC --seeds 0 1 2 3 4 --targets 0.15 --methods tp-magnitude-res-fast --widths-scratch-of tp-magnitude-res-fast
