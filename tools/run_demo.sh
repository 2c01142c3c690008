#!/usr/bin/env bash
# The main job on embedded data: install (if needed), write the data,
# search -> fine-tune (tools/train.py), deploy (fuse + prune + verify),
# evaluate gated and deployed models (tools/test.py), print the result table.
#
#   bash tools/run_demo.sh                 # RepVGG on 32x32 digits (default)
#   bash tools/run_demo.sh yolact          # YOLACT-R50 on the COCO-format shapes
#   bash tools/run_demo.sh yolact_repvgg   # YOLACT with a RepVGG-A0 backbone
#   bash tools/run_demo.sh yolact_neck_head  # YOLACT-R50, FPN + heads gated too
#   bash tools/run_demo.sh rtmdet_ins      # RTMDet-Ins-tiny, gates='auto'
#   bash tools/run_demo.sh cyclegan        # CycleGAN, ELPV mono <-> poly cells
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO=${1:-digits}
if [ "$DEMO" = cyclegan ]; then
  # pretrain the uncompressed CycleGAN -> search -> fine-tune -> deploy ->
  # SWD / PSNR / SSIM / latency of the compressed vs the full generator
  bash tools/install.sh --with-mmagic
  bash tools/install_benchmark.sh
  python3 tools/make_cyclegan_elpv.py --out data/elpv_cyclegan
  WORK=${WORK:-work_dirs/pas_cyclegan}
  PRE=work_dirs/pas_cyclegan_pretrain
  python3 tools/train.py configs/pas_cyclegan_pretrain.py --work-dir "$PRE"
  python3 tools/train.py configs/pas_cyclegan.py --work-dir "$WORK" \
    --cfg-options load_from="$(cat "$PRE/last_checkpoint")"
  CKPT=$(cat "$WORK/last_checkpoint")
  python3 tools/deploy_reparam.py configs/pas_cyclegan.py "$CKPT" \
    --out "$WORK/deploy" --force | tee "$WORK/deploy_table.txt"
  python3 tools/eval_cyclegan.py configs/pas_cyclegan_pretrain.py \
    "$(cat "$PRE/last_checkpoint")" "$WORK/deploy/deploy_config.py" \
    "$WORK/deploy/deploy.pth" --out "$WORK/eval" | tee "$WORK/eval.txt"
  echo
  echo "== PaS result on embedded data (configs/pas_cyclegan.py) =="
  sed -n "/gated (train form)/,/max abs diff/p" "$WORK/deploy_table.txt"
  grep -- "->" "$WORK/eval.txt"
  echo "grid (input / full / compressed): $WORK/eval/grid_*.png"
  exit 0
fi
bash tools/install.sh
case "$DEMO" in
  digits)
    CONFIG=configs/pas_repvgg_digits.py
    METRICS="accuracy/top1"
    python3 tools/make_digits.py --out data/digits ;;
  yolact|yolact_repvgg|yolact_neck_head|rtmdet_ins)
    CONFIG=configs/pas_$DEMO.py
    METRICS="coco/bbox_mAP coco/segm_mAP"
    python3 tools/make_coco_demo.py --out data/coco_demo ;;
  *) echo "unknown demo '$DEMO' (digits, yolact, yolact_repvgg, yolact_neck_head, rtmdet_ins, cyclegan)" >&2; exit 2 ;;
esac
WORK=${WORK:-work_dirs/$(basename "$CONFIG" .py)}
python3 tools/train.py "$CONFIG" --work-dir "$WORK"
CKPT=$(cat "$WORK/last_checkpoint")
python3 tools/deploy_reparam.py "$CONFIG" "$CKPT" --out "$WORK/deploy" --force | tee "$WORK/deploy_table.txt"
evaluate() {
  python3 tools/test.py "$1" "$2" --work-dir "$WORK/test" 2>/dev/null | tail -1 |
    python3 -c "import ast, sys; m = ast.literal_eval(sys.stdin.read()); print(' '.join('%s %.4g' % (k, m[k]) for k in sys.argv[1:]))" $METRICS
}
GATED=$(evaluate "$CONFIG" "$CKPT")
DEPLOYED=$(evaluate "$WORK/deploy/deploy_config.py" "$WORK/deploy/deploy.pth")
echo
echo "== PaS result on embedded data ($CONFIG) =="
sed -n "/gated (train form)/,/max abs diff/p" "$WORK/deploy_table.txt"
echo "gated    : $GATED"
echo "deployed : $DEPLOYED"
echo "searched widths    : $WORK/pas_subnet.json"
echo "deploy config+ckpt : $WORK/deploy/deploy_config.py $WORK/deploy/deploy.pth"
