# MIC(HRDA) (DACS + masked image consistency, HRDA segmentor) for continued
# training or teacher evaluation of a converted reference checkpoint
# (student, EMA teacher, ImageNet backbone; MIC's own module holds no
# weights in the released configuration):
#   python tools/model_converters/reference_uda2mmseg.py \
#       <run>/iter_40000.pth mic_gta2cs_uda.pth --target uda
# The MIC experiment config with the reference MiT LayerNorm eps.
_base_ = ['../mic/mic-hrda_mitb5_1xb2-40k_gta2cityscapes-1024x1024.py']
model = dict(
    segmentor=dict(
        backbone=dict(
            type='MixVisionTransformerRef',
            patch_norm_eps=1e-5,
            attn_norm_eps=1e-5,
            init_cfg=None)))
