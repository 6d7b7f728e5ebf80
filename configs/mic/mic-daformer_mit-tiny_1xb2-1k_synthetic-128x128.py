# Quick-start MIC(DAFormer): the tiny DAFormer quick-start (tiny MiT, DACS +
# RCS + feature distance + warmup, on the generated synthetic GTA-style ->
# Cityscapes-style data, on CPU) plus masked image consistency. Compare its
# target mIoU with configs/quickstart/daformer_mit-tiny_1xb2-1k_synthetic-
# 128x128.py (same data, schedule and seed); see docs/mic.md.
_base_ = [
    '../quickstart/daformer_mit-tiny_1xb2-1k_synthetic-128x128.py',
    '../_base_/uda/mic.py',
]
model = dict(mic=_base_.mic)
# 128 px crops are a quarter of DAFormer's 512: a quarter of its 32 px blocks.
model['mic']['mask_generator']['block_size'] = 8
