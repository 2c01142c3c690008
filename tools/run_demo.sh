#!/usr/bin/env bash
# The main job on the embedded default: install (if needed), write the digits
# data, search -> fine-tune (tools/train.py), deploy (fuse + prune + verify),
# evaluate gated and deployed models, print the result table.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
CONFIG=${CONFIG:-configs/pas_repvgg_digits.py}
WORK=${WORK:-work_dirs/pas_repvgg_digits}
python3 tools/make_digits.py --out data/digits
python3 tools/train.py "$CONFIG" --work-dir "$WORK"
CKPT=$(cat "$WORK/last_checkpoint")
python3 tools/deploy_reparam.py "$CONFIG" "$CKPT" --out "$WORK/deploy" | tee "$WORK/deploy_table.txt"
acc() { python3 tools/test.py "$@" --work-dir "$WORK/test" 2>/dev/null | tail -1 | python3 -c "import ast,sys; print('%.2f' % ast.literal_eval(sys.stdin.read())['accuracy/top1'])"; }
ACC_GATED=$(acc "$CONFIG" "$CKPT")
ACC_DEPLOY=$(acc "$WORK/deploy/deploy_config.py" "$WORK/deploy/deploy.pth")
echo
echo "== PaS result on the embedded digits data ($CONFIG) =="
cat "$WORK/deploy_table.txt" | head -5
echo "val top-1 (%)      | gated: $ACC_GATED | deployed: $ACC_DEPLOY"
echo "searched widths    : $WORK/pas_subnet.json"
echo "deploy config+ckpt : $WORK/deploy/deploy_config.py $WORK/deploy/deploy.pth"
