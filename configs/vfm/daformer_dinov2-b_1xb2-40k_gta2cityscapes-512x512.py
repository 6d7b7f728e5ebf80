# DACS with the DAFormer head on a DINOv2 ViT-B/14 encoder (docs/vfm.md):
# DAFormer's recipe (RCS, EMA teacher, ClassMix, LR warmup, AdamW 6e-5 with
# head lr x10) with the MiT-B5 encoder swapped for DINOv2's intermediate
# blocks resampled to a 4-level pyramid, gta -> cityscapes at 512x512 crops.
# The ImageNet feature distance is OFF: VFM-UDA (Englert et al., CVPRW 2024)
# found that it hurts foundation-model encoders.
_base_ = [
    '../daformer/daformer-nofd_mitb5_1xb2-40k_gta2cityscapes-512x512.py',
    '../_base_/models/dinov2_vitb14.py',
]
custom_imports = dict(
    imports=['mmseg_uda', 'mmseg_uda.utils.require_mmpretrain'],
    allow_failed_imports=False)
model = dict(segmentor=_base_.dinov2_vitb14)
