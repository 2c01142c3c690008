# PaS-A: RepVGG-B1 searched down to 2.10 GMACs, the MACs of the smaller
# subnet the official PaS code released (configs/pas_repvgg_b1/released/).
# Recipe: pas-b_repvgg-b1_8xb32_in1k.py.
_base_ = ['./pas-b_repvgg-b1_8xb32_in1k.py']
model = dict(macs_loss=dict(target='2.10G'))
