# HRDA (MiT-B5 + DAFormer head, multi-resolution training: 1024x1024 crops
# at full resolution, 512x512 context = crop / 2 and a random 512x512 detail
# crop, learned scale attention) with DACS as in HRDA: RCS (min_crop_ratio
# 2.0), ImageNet feature distance on the context features, EMA teacher
# alpha 0.999, AdamW with warmup + poly, synthia -> cityscapes.
# Pseudo-label weights are cut by the target's valid_pseudo_mask (the
# rectification border of Cityscapes) instead of DAFormer's fixed rows.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/hrda_daformer_sepaspp_mitb5.py',
    '../_base_/datasets/uda_synthia_to_cityscapes_1024x1024.py',
    '../_base_/uda/dacs_hrda.py',
    '../_base_/schedules/adamw_warmup_poly_40k.py',
]
model = dict(_delete_=True, segmentor=_base_.model, **_base_.uda)
