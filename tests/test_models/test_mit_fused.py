"""MixVisionTransformerFused: mmseg's MiT with the attention computed by
F.scaled_dot_product_attention. Same keys, same seeded initialisation, same
outputs and gradients as mmseg's class within float tolerance."""
import torch
from mmseg.registry import MODELS

import mmseg_uda  # noqa: F401
from mmseg_uda.models.backbones import FusedEfficientMultiheadAttention


def mit_cfg(type_, **kwargs):
    return dict(
        type=type_, in_channels=3, embed_dims=8, num_stages=4,
        num_layers=[1, 2, 1, 1], num_heads=[1, 2, 4, 8],
        patch_sizes=[7, 3, 3, 3], strides=[4, 2, 2, 2],
        sr_ratios=[8, 4, 2, 1], mlp_ratio=4, qkv_bias=True, drop_rate=0.0,
        attn_drop_rate=0.0, drop_path_rate=0.0, **kwargs)


def build_pair():
    torch.manual_seed(0)
    plain = MODELS.build(mit_cfg('MixVisionTransformer'))
    after_plain = torch.rand(3)
    torch.manual_seed(0)
    fused = MODELS.build(mit_cfg('MixVisionTransformerFused'))
    after_fused = torch.rand(3)
    return plain, fused, after_plain, after_fused


def test_same_keys_init_and_rng():
    # Rules out: a fused module with its own parameter names (checkpoints
    # would not load), or one whose construction consumes the global RNG
    # (a seeded run would get other weights in every later module).
    plain, fused, after_plain, after_fused = build_pair()
    sd_p, sd_f = plain.state_dict(), fused.state_dict()
    assert list(sd_p) == list(sd_f)
    assert all(torch.equal(sd_p[k], sd_f[k]) for k in sd_p)
    assert torch.equal(after_plain, after_fused)
    attns = [m for m in fused.modules()
             if type(m).__name__.endswith('EfficientMultiheadAttention')]
    assert len(attns) == 5
    assert all(isinstance(m, FusedEfficientMultiheadAttention) for m in attns)
    # the switch off is mmseg's class unchanged
    off = MODELS.build(
        mit_cfg('MixVisionTransformerFused', fused_attention=False))
    assert not any(isinstance(m, FusedEfficientMultiheadAttention)
                   for m in off.modules())


def test_outputs_and_gradients_match_mmseg():
    # Rules out: wrong q/k/v split of the packed projection, wrong head
    # layout or scale, a missing output projection or spatial reduction
    # (each changes the outputs far beyond 1e-5).
    plain, fused, _, _ = build_pair()
    with torch.no_grad():  # non-trivial weights (init_weights is random)
        for p in plain.parameters():
            p.normal_(0, 0.2)
    fused.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 64, 64)
    outs_p, outs_f = plain(x), fused(x)
    for a, b in zip(outs_p, outs_f):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)
    sum(o.square().sum() for o in outs_p).backward()
    sum(o.square().sum() for o in outs_f).backward()
    grads_p = dict(plain.named_parameters())
    for name, p in fused.named_parameters():
        torch.testing.assert_close(p.grad, grads_p[name].grad, rtol=1e-4,
                                   atol=1e-5, msg=name)


def test_reference_eps_variant_is_fused_and_keeps_eps():
    # Rules out: rebuilding the attention dropping the reference eps.
    ref = MODELS.build(mit_cfg('MixVisionTransformerRef'))
    attn = ref.layers[0][1][0].attn
    assert isinstance(attn, FusedEfficientMultiheadAttention)
    assert attn.norm.eps == 1e-5
