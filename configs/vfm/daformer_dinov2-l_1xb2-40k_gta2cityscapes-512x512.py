# DACS with the DAFormer head on a DINOv2 ViT-L/14 encoder (blocks 6, 12, 18,
# 24; weights pretrained/dinov2_vitl14.pth from dinov2_vitl14_pretrain.pth,
# docs/vfm.md), gta -> cityscapes at 512x512 crops; feature distance off.
_base_ = [
    './daformer_dinov2-b_1xb2-40k_gta2cityscapes-512x512.py',
    '../_base_/models/dinov2_vitl14.py',
]
model = dict(segmentor=_base_.dinov2_vitl14)
