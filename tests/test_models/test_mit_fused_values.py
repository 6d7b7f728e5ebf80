"""The fused MiT attention against mmseg's ``EfficientMultiheadAttention``
on what the whole-backbone test does not vary: a given ``identity``, no
q/k/v bias, attention dropout in training mode, and the settings ``like``
must carry over."""
import pytest
import torch
from mmseg.models.backbones.mit import EfficientMultiheadAttention

from mmseg_uda.models.backbones.mit_fused import (
    FusedEfficientMultiheadAttention,
    MixVisionTransformerFused,
)

HW = (4, 6)  # 24 tokens, sides not equal


def _pair(**kwargs):
    torch.manual_seed(0)
    cfg = dict(embed_dims=8, num_heads=2, batch_first=True, qkv_bias=False,
               sr_ratio=2)
    cfg.update(kwargs)
    ref = EfficientMultiheadAttention(**cfg)
    if ref.attn.out_proj.bias is not None:
        with torch.no_grad():  # a non-zero output bias, visible below
            ref.attn.out_proj.bias.uniform_(-1, 1)
    return ref, FusedEfficientMultiheadAttention.like(ref)


@pytest.mark.parametrize('sr_ratio', [1, 2])
def test_no_qkv_bias_and_a_given_identity_match_mmseg(sr_ratio):
    """``qkv_bias=False`` and an explicit ``identity`` (not the input):
    same output as mmseg's attention. Rules out the identity ignored
    (``x`` added instead) and the bias-free split going wrong."""
    ref, fused = _pair(sr_ratio=sr_ratio)
    ref.eval(), fused.eval()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, HW[0] * HW[1], 8, generator=g)
    identity = torch.randn(2, HW[0] * HW[1], 8, generator=g)
    torch.testing.assert_close(fused(x, HW, identity=identity),
                               ref(x, HW, identity=identity))
    torch.testing.assert_close(fused(x, HW), ref(x, HW))


def test_attention_dropout_applies_in_training_only():
    """``attn_drop=1.0``: in training mode every attention weight is
    dropped, so both give ``identity + out_proj.bias``; in eval mode none
    is, so both give the attention output. Rules out dropout applied in
    eval mode or never."""
    ref, fused = _pair(attn_drop=1.0, qkv_bias=True)
    x = torch.randn(2, HW[0] * HW[1], 8,
                    generator=torch.Generator().manual_seed(2))
    ref.train(), fused.train()
    out = fused(x, HW)
    torch.testing.assert_close(out, ref(x, HW))
    torch.testing.assert_close(out, x + ref.attn.out_proj.bias)
    ref.eval(), fused.eval()
    out = fused(x, HW)
    torch.testing.assert_close(out, ref(x, HW))
    assert not torch.allclose(out, x + ref.attn.out_proj.bias)


def test_like_carries_every_setting_over():
    """Drop path, projection and attention dropout, the norm's eps, the
    mode (eval) and the absence of a q/k/v bias are those of the original.
    Rules out a setting rebuilt from its default."""
    ref, _ = _pair(attn_drop=0.3, proj_drop=0.2,
                   dropout_layer=dict(type='DropPath', drop_prob=0.1),
                   norm_cfg=dict(type='LN', eps=1e-5))
    ref.eval()
    fused = FusedEfficientMultiheadAttention.like(ref)
    assert fused.attn.dropout == 0.3 and fused.proj_drop.p == 0.2
    assert fused.dropout_layer.drop_prob == 0.1
    assert fused.norm.eps == 1e-5 and fused.attn.in_proj_bias is None
    assert not fused.training


def test_fused_attention_false_is_mmsegs_backbone():
    """``fused_attention=False``: every block keeps mmseg's attention
    class. Rules out the flag ignored."""
    kwargs = dict(embed_dims=8, num_stages=2, num_layers=[1, 1],
                  num_heads=[1, 2], patch_sizes=[7, 3], strides=[4, 2],
                  sr_ratios=[2, 1], out_indices=(0, 1))
    off = MixVisionTransformerFused(fused_attention=False, **kwargs)
    on = MixVisionTransformerFused(**kwargs)
    kinds = [{type(b.attn) for _, blocks, _ in m.layers for b in blocks}
             for m in (off, on)]
    assert kinds == [{EfficientMultiheadAttention},
                     {FusedEfficientMultiheadAttention}]
