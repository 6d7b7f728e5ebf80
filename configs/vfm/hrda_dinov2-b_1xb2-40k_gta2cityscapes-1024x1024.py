# HRDA on a DINOv2 ViT-B/14 encoder (docs/vfm.md): HRDA's multi-resolution
# training (1024x1024 crops, 512x512 context at half resolution and detail
# crops, learned scale attention, fused sliding-window inference) with the
# DAFormer head on the DINOv2 pyramid, gta -> cityscapes. Feature distance
# off (VFM-UDA: it hurts foundation-model encoders).
_base_ = [
    '../hrda/hrda_mitb5_1xb2-40k_gta2cityscapes-1024x1024.py',
    '../_base_/models/dinov2_vitb14.py',
]
custom_imports = dict(
    imports=['mmseg_uda', 'mmseg_uda.utils.require_mmpretrain'],
    allow_failed_imports=False)
model = dict(imnet_feature_dist=None, segmentor=_base_.dinov2_vitb14)
