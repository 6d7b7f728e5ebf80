# The DAFormer network with the reference MiT's LayerNorm eps: 1e-5 in the
# patch-embedding and attention spatial-reduction norms (mmseg's
# MixVisionTransformer uses 1e-6 everywhere), so checkpoints trained with
# the reference code give the reference outputs to float32 noise. Same keys
# and shapes as daformer_sepaspp_mitb5.py.
_base_ = ['./daformer_sepaspp_mitb5.py']
model = dict(
    backbone=dict(
        type='MixVisionTransformerRef', patch_norm_eps=1e-5,
        attn_norm_eps=1e-5))
