# DINOv2 ViT-B/14 (Oquab et al., 2023) as a four-level pyramid encoder
# (ViTFeaturePyramid: blocks 3, 6, 9, 12 after the final LayerNorm, resampled
# to strides 4, 8, 16, 32; any crop size; docs/vfm.md). The ViT is
# mmpretrain's VisionTransformer with the lines of mmpretrain's
# configs/dinov2/vit-base-p14_dinov2-pre_headless.py (needs mmpretrain:
# pip install -e ".[vfm]").
#
# Weights: `pretrained/dinov2_vitb14.pth` (relative to the working
# directory), converted from the DINOv2 release file by
#   python tools/model_converters/dinov2_to_mmpretrain.py \
#       dinov2_vitb14_pretrain.pth pretrained/dinov2_vitb14.pth
# (mmpretrain's own converted checkpoint also loads: set
# `init_cfg.prefix='backbone.'`). The 37x37 position embedding of the 518 px
# pre-training grid is interpolated to every input's token grid.
#
# A piece for the DAFormer-head segmentors of configs/vfm/ (the MiT-B5
# encoder replaced, the head's inputs widened):
#   model = dict(segmentor=_base_.dinov2_vitb14)
dinov2_vitb14 = dict(
    backbone=dict(
        _delete_=True,
        type='ViTFeaturePyramid',
        vit=dict(
            type='mmpretrain.VisionTransformer',
            arch='base',
            img_size=518,
            patch_size=14,
            layer_scale_init_value=1e-5,
            drop_path_rate=0.1,
            init_cfg=dict(
                type='Pretrained',
                checkpoint='pretrained/dinov2_vitb14.pth')),
        out_indices=(2, 5, 8, 11),
        strides=(4, 8, 16, 32)),
    decode_head=dict(in_channels=[768] * 4))
