# MIC(HRDA): HRDA (multi-resolution DAFormer, DACS with RCS, ImageNet
# feature distance on the context crop, LR warmup, no pseudo-label ignore
# region) plus masked image consistency (64 px blocks), cityscapes -> darkzurich
# at 1024x1024 crops. As the reference for clear -> adverse targets: no
# colour augmentation before masking, and the source batch is masked too
# (with its labels).
_base_ = [
    '../hrda/hrda_mitb5_1xb2-40k_cityscapes2darkzurich-1024x1024.py',
    '../_base_/uda/mic.py',
]
model = dict(mic=_base_.mic)
model['mic'].update(augment=False, mask_source=True)
