# DACS as configured by DAFormer (EMA teacher, ClassMix, RCS, ImageNet
# feature distance, LR warmup) on mmseg's DeepLabV3+ (ResNet-101-D8, with its FCN auxiliary head),
# gta -> cityscapes at 512x512 crops. The model is mmseg's own config.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/mmseg_deeplabv3plus_r101-d8.py',
    '../_base_/datasets/uda_gta_to_cityscapes_512x512.py',
    '../_base_/uda/dacs.py',
    '../_base_/schedules/adamw_warmup_poly_40k.py',
]
model = dict(_delete_=True, segmentor=_base_.model, **_base_.uda)
