# PaS on real data: the small RepVGG on ELPV (2,624 electroluminescence
# images of solar cells, 4 defect-probability classes 0, 1/3, 2/3, 1;
# written to data/elpv at 32x32, what a 60-minute CPU benchmark affords, by
# `python tools/make_elpv.py` after `bash tools/install_benchmark.sh`;
# CC-BY-NC-SA-4.0, never commit them).
# Same recipe as configs/pas_repvgg_animals.py (pre-trained start, 2 epochs
# search, snap to the target, 3 fine-tune).
#   python tools/benchmark/train_one.py --method pretrain --epochs 10 \
#       --data-root data/elpv \
#       --work-dir work_dirs/repvgg_elpv_pretrain
_base_ = ['./pas_repvgg_animals.py']

data_root = 'data/elpv'
load_from = 'work_dirs/repvgg_elpv_pretrain/pretrained.pth'

data_preprocessor = dict(num_classes=4)
model = dict(architecture=dict(head=dict(num_classes=4)))
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = dict(dataset=dict(data_root=data_root))
