# MIC(DAFormer) on a DINOv2 ViT-B/14 encoder: the DACS config of this folder
# plus masked image consistency (70 % of 32 px blocks masked at DAFormer's
# half resolution), gta -> cityscapes at 512x512 crops; feature distance off
# (VFM-UDA, a MIC-style method on DINOv2, trains without it).
_base_ = [
    './daformer_dinov2-b_1xb2-40k_gta2cityscapes-512x512.py',
    '../_base_/uda/mic.py',
]
model = dict(mic=_base_.mic)
model['mic']['mask_generator']['block_size'] = 32
