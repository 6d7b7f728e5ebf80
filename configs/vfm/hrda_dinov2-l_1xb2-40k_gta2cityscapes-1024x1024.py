# HRDA on a DINOv2 ViT-L/14 encoder, gta -> cityscapes; feature distance
# off.
_base_ = [
    './hrda_dinov2-b_1xb2-40k_gta2cityscapes-1024x1024.py',
    '../_base_/models/dinov2_vitl14.py',
]
model = dict(segmentor=_base_.dinov2_vitl14)
