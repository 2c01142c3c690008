# The PaS-B search at CPU scale: RepVGG-B1's shape (4/6/16/1 blocks, the
# last layer unpruned) at a quarter of its widths (base_channels=16), on
# Animal-MNIST at 32x32, searched down to the MACs of RepVGG-B0 at the same
# scale and input (15.6M of 61.6M, 25.3%; at 224x224 B0 is 25.9% of B1). It starts from a trained
# network like the ImageNet recipe; train that first (5 epochs, the same
# model without gates):
#   python tools/make_animals.py       # after bash tools/install_benchmark.sh
#   python tools/train.py configs/pas_repvgg_b1/pas-b_repvgg-b1-quarter_animals_pretrain.py
#   python tools/train.py configs/pas_repvgg_b1/pas-b_repvgg-b1-quarter_animals.py
#   python tools/plot_widths.py work_dirs/pas-b_repvgg-b1-quarter_animals/pas_subnet.json \
#       --compare mmpretrain::repvgg/repvgg-B0_8xb32_in1k.py mmpretrain::repvgg/repvgg-B1_8xb32_in1k.py \
#       --compare-options model.backbone.base_channels=16 --out widths.png
_base_ = ['../pas_repvgg_animals.py']

load_from = ('work_dirs/pas-b_repvgg-b1-quarter_animals_pretrain/'
             'epoch_5.pth')
model = dict(
    backbone=dict(
        arch='B1',
        base_channels=16,
        gate_cfg=dict(min_keep=2),
        unpruned_layers=['stage_4.0']),
    architecture=dict(head=dict(in_channels=512)),
    macs_loss=dict(target='15.6M', loss_weight=14.0))
