# MIC(DAFormer): DAFormer (MiT-B5 + DAFormer head, DACS with RCS, ImageNet
# feature distance, LR warmup, top/bottom pseudo-label ignore rows) plus
# masked image consistency on colour-augmented target images,
# gta -> cityscapes at 512x512 crops.
_base_ = [
    '../daformer/daformer_mitb5_1xb2-40k_gta2cityscapes-512x512.py',
    '../_base_/uda/mic.py',
]
model = dict(mic=_base_.mic)
# DAFormer trains at half resolution: half the block size of MIC(HRDA).
model['mic']['mask_generator']['block_size'] = 32
