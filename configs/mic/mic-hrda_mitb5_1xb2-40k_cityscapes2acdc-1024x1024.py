# MIC(HRDA): HRDA (multi-resolution DAFormer, DACS with RCS, ImageNet
# feature distance on the context crop, LR warmup) plus masked image
# consistency, cityscapes -> acdc at 1024x1024 crops. As the reference for
# clear -> adverse targets: no colour augmentation before masking, the
# source batch is masked too, and no pseudo-label ignore region (the
# target has no rectification border).
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/hrda_daformer_sepaspp_mitb5.py',
    '../_base_/datasets/uda_cityscapes_to_acdc_1024x1024.py',
    '../_base_/uda/dacs_mic.py',
    '../_base_/schedules/adamw_warmup_poly_40k.py',
]
model = dict(_delete_=True, segmentor=_base_.model, **_base_.uda)
model.update(pseudo_weight_ignore_top=0, pseudo_weight_ignore_bottom=0)
model['mic'].update(augment=False, mask_source=True)
