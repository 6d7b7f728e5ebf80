# MIC(HRDA): HRDA (multi-resolution DAFormer, DACS with RCS, ImageNet
# feature distance on the context crop, LR warmup) plus masked image
# consistency on colour-augmented target images, gta -> cityscapes at
# 1024x1024 crops. Pseudo-label weights are cut by the dataset's
# valid_pseudo_mask instead of DAFormer's fixed top/bottom rows.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/hrda_daformer_sepaspp_mitb5.py',
    '../_base_/datasets/uda_gta_to_cityscapes_1024x1024.py',
    '../_base_/uda/dacs_mic.py',
    '../_base_/schedules/adamw_warmup_poly_40k.py',
]
model = dict(_delete_=True, segmentor=_base_.model, **_base_.uda)
model.update(pseudo_weight_ignore_top=0, pseudo_weight_ignore_bottom=0)
