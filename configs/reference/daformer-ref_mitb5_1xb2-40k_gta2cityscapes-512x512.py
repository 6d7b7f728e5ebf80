# DAFormer (DACS) for continued training or teacher evaluation of a
# converted reference checkpoint (student, EMA teacher and ImageNet
# backbone):
#   python tools/model_converters/reference_uda2mmseg.py \
#       <run>/iter_40000.pth daformer_gta2cs_uda.pth --target uda
# `load_from` / tools/test.py with daformer_gta2cs_uda.pth. The reference
# MiT LayerNorm eps; otherwise the DAFormer experiment config.
_base_ = [
    '../daformer/daformer_mitb5_1xb2-40k_gta2cityscapes-512x512.py',
]
model = dict(
    segmentor=dict(
        backbone=dict(
            type='MixVisionTransformerRef',
            patch_norm_eps=1e-5,
            attn_norm_eps=1e-5,
            # the converted checkpoint holds every weight, the ImageNet
            # backbone included
            init_cfg=None)))
