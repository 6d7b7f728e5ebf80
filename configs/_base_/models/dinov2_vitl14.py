# DINOv2 ViT-L/14 (width 1024, 24 blocks; the pyramid takes blocks 6, 12,
# 18, 24), the lines of mmpretrain's
# configs/dinov2/vit-large-p14_dinov2-pre_headless.py. Weights:
# `pretrained/dinov2_vitl14.pth`, converted from dinov2_vitl14_pretrain.pth
# (docs/vfm.md). A change of a ViT-B/14 config of configs/vfm/:
#   _base_ = ['./<method>_dinov2-b_<...>.py',
#             '../_base_/models/dinov2_vitl14.py']
#   model = dict(segmentor=_base_.dinov2_vitl14)
dinov2_vitl14 = dict(
    backbone=dict(
        vit=dict(
            arch='large',
            init_cfg=dict(checkpoint='pretrained/dinov2_vitl14.pth')),
        out_indices=(5, 11, 17, 23)),
    decode_head=dict(in_channels=[1024] * 4))
