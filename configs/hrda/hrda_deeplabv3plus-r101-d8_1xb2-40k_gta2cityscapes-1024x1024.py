# HRDA around mmseg's DeepLabV3+ (ResNet-101-D8) head: multi-resolution
# training (1024x1024 crops at full resolution, 512x512 context and detail
# crops, learned scale attention) with DACS as configured by HRDA,
# gta -> cityscapes.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/hrda_mmseg_deeplabv3plus_r101-d8.py',
    '../_base_/datasets/uda_gta_to_cityscapes_1024x1024.py',
    '../_base_/uda/dacs_hrda.py',
    '../_base_/schedules/adamw_warmup_poly_40k.py',
]
model = dict(_delete_=True, segmentor=_base_.model, **_base_.uda)
