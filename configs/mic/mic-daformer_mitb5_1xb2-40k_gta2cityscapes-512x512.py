# MIC(DAFormer): DAFormer (MiT-B5 + DAFormer head, DACS with RCS, ImageNet
# feature distance, LR warmup) plus masked image consistency on colour-
# augmented target images, gta -> cityscapes at 512x512 crops.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/daformer_sepaspp_mitb5.py',
    '../_base_/datasets/uda_gta_to_cityscapes_512x512.py',
    '../_base_/uda/dacs_mic.py',
    '../_base_/schedules/adamw_warmup_poly_40k.py',
]
model = dict(_delete_=True, segmentor=_base_.model, **_base_.uda)
# DAFormer trains at half resolution: half the block size of MIC(HRDA).
model['mic']['mask_generator']['block_size'] = 32
