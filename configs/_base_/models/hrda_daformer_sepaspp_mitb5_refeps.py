# HRDA with the DAFormer network and the reference MiT's LayerNorm eps (see
# daformer_sepaspp_mitb5_refeps.py). Same keys and shapes as
# hrda_daformer_sepaspp_mitb5.py.
_base_ = ['./hrda_daformer_sepaspp_mitb5.py']
model = dict(
    backbone=dict(
        type='MixVisionTransformerRef', patch_norm_eps=1e-5,
        attn_norm_eps=1e-5))
