# HRDA (DACS with the HRDA segmentor) for continued training or teacher
# evaluation of a converted reference checkpoint (student, EMA teacher,
# ImageNet backbone):
#   python tools/model_converters/reference_uda2mmseg.py \
#       <run>/iter_40000.pth hrda_gta2cs_uda.pth --target uda
# The HRDA experiment config with the reference MiT LayerNorm eps.
_base_ = ['../hrda/hrda_mitb5_1xb2-40k_gta2cityscapes-1024x1024.py']
model = dict(
    segmentor=dict(
        backbone=dict(
            type='MixVisionTransformerRef',
            patch_norm_eps=1e-5,
            attn_norm_eps=1e-5,
            # the converted checkpoint holds every weight, the ImageNet
            # backbone included
            init_cfg=None)))
