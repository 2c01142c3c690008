# PaS-C: RepVGG-B1 searched down to 4.04 GMACs, the MACs of the larger
# subnet the official PaS code released (configs/pas_repvgg_b1/released/).
# Recipe: pas-b_repvgg-b1_8xb32_in1k.py.
_base_ = ['./pas-b_repvgg-b1_8xb32_in1k.py']
model = dict(macs_loss=dict(target='4.04G'))
