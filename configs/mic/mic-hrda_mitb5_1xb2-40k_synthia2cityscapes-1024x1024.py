# MIC(HRDA): HRDA (multi-resolution DAFormer, DACS with RCS, ImageNet
# feature distance on the context crop, valid_pseudo_mask, LR warmup) plus
# masked image consistency on colour-augmented target images (64 px
# blocks), synthia -> cityscapes at 1024x1024 crops. The masked image takes
# HRDA's multi-resolution path (context + detail crop, fusion).
_base_ = [
    '../hrda/hrda_mitb5_1xb2-40k_synthia2cityscapes-1024x1024.py',
    '../_base_/uda/mic.py',
]
model = dict(mic=_base_.mic)
