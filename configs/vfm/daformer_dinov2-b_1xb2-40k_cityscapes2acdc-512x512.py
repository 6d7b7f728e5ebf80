# DACS with the DAFormer head on a DINOv2 ViT-B/14 encoder, cityscapes ->
# acdc at 512x512 crops (the data of
# configs/daformer/daformer_mitb5_1xb2-40k_cityscapes2acdc-512x512.py);
# feature distance off (VFM-UDA).
_base_ = [
    '../daformer/daformer_mitb5_1xb2-40k_cityscapes2acdc-512x512.py',
    '../_base_/models/dinov2_vitb14.py',
]
custom_imports = dict(
    imports=['mmseg_uda', 'mmseg_uda.utils.require_mmpretrain'],
    allow_failed_imports=False)
model = dict(imnet_feature_dist=None, segmentor=_base_.dinov2_vitb14)
