# Quick-start: HRDA (tiny MiT + DAFormer heads, multi-resolution training
# with 128x128 context and detail crops of 256x256 crops, DACS as in HRDA:
# RCS, feature distance on the context crop, valid_pseudo_mask, warmup) on
# the generated synthetic GTA-style -> Cityscapes-style data, on CPU.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/hrda_daformer_sepaspp_mit-tiny.py',
    '../_base_/datasets/synthetic_uda_hrda.py',
    '../_base_/uda/dacs_hrda.py',
    '../_base_/schedules/adamw_warmup_poly_1k.py',
]
model = dict(_delete_=True, segmentor=_base_.model, **_base_.uda)
