# The uncompressed CycleGAN that configs/pas_cyclegan.py searches from (and
# that its compressed generator is compared with): the same Mobile-ResNet
# generators without gates, no MACs loss, stock mmagic CycleGAN training.
_base_ = ['./pas_cyclegan.py']

pretrain_iters = 400
model = dict(generator=dict(gate_cfg=None), macs_loss=None)
load_from = None
train_cfg = dict(max_iters=pretrain_iters)
custom_hooks = []
default_hooks = dict(checkpoint=dict(interval=pretrain_iters))
