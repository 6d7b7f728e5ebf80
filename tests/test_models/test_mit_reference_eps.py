"""MixVisionTransformerRef: the reference MiT's LayerNorm eps (1e-5 in the
patch-embedding and spatial-reduction norms, 1e-6 elsewhere), compared with a
hand-written reference computation from reference-layout weights."""
import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

import mmseg_uda  # noqa: F401
from mmseg_uda.converters.reference_checkpoint import convert_mit

WIDTH0, HEADS, DEPTHS, SRS = 8, [1, 2, 4, 8], [1, 2, 1, 1], [8, 4, 2, 1]
PATCH = [(7, 4), (3, 2), (3, 2), (3, 2)]  # (kernel, stride)


def mit_cfg(type_='MixVisionTransformerRef', **kwargs):
    return dict(
        type=type_, in_channels=3, embed_dims=WIDTH0, num_stages=4,
        num_layers=DEPTHS, num_heads=HEADS, patch_sizes=[7, 3, 3, 3],
        strides=[4, 2, 2, 2], sr_ratios=SRS, mlp_ratio=4, qkv_bias=True,
        drop_rate=0.0, attn_drop_rate=0.0, drop_path_rate=0.1, **kwargs)


def reference_weights(seed=0):
    """Random weights in the reference (SegFormer) names. The spatial-
    reduction and patch-projection weights are small, so the normalised
    variances are ~1e-4 and the eps visibly matters."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=0.2):
        return torch.randn(*shape, generator=g) * scale

    w, cin = {}, 3
    for s in range(1, 5):
        c, (k, _) = WIDTH0 * HEADS[s - 1], PATCH[s - 1]
        w[f'patch_embed{s}.proj.weight'] = rnd(c, cin, k, k, scale=0.01)
        w[f'patch_embed{s}.proj.bias'] = rnd(c, scale=0.01)
        w[f'patch_embed{s}.norm.weight'] = 1 + rnd(c)
        w[f'patch_embed{s}.norm.bias'] = rnd(c)
        for i in range(DEPTHS[s - 1]):
            p = f'block{s}.{i}.'
            for n in ('norm1', 'norm2'):
                w[p + n + '.weight'] = 1 + rnd(c)
                w[p + n + '.bias'] = rnd(c)
            w[p + 'attn.q.weight'], w[p + 'attn.q.bias'] = rnd(c, c), rnd(c)
            w[p + 'attn.kv.weight'] = rnd(2 * c, c)
            w[p + 'attn.kv.bias'] = rnd(2 * c)
            w[p + 'attn.proj.weight'] = rnd(c, c)
            w[p + 'attn.proj.bias'] = rnd(c)
            sr = SRS[s - 1]
            if sr > 1:
                w[p + 'attn.sr.weight'] = rnd(c, c, sr, sr, scale=0.002)
                w[p + 'attn.sr.bias'] = rnd(c, scale=0.002)
                w[p + 'attn.norm.weight'] = 1 + rnd(c)
                w[p + 'attn.norm.bias'] = rnd(c)
            w[p + 'mlp.fc1.weight'], w[p + 'mlp.fc1.bias'] = rnd(
                4 * c, c), rnd(4 * c)
            w[p + 'mlp.dwconv.dwconv.weight'] = rnd(4 * c, 1, 3, 3)
            w[p + 'mlp.dwconv.dwconv.bias'] = rnd(4 * c)
            w[p + 'mlp.fc2.weight'], w[p + 'mlp.fc2.bias'] = rnd(
                c, 4 * c), rnd(c)
        w[f'norm{s}.weight'], w[f'norm{s}.bias'] = 1 + rnd(c), rnd(c)
        cin = c
    return w


# -- the reference computation, written out ---------------------------------
def ref_patch_embed(x, w, s):
    k, stride = PATCH[s - 1]
    p = f'patch_embed{s}.'
    x = F.conv2d(x, w[p + 'proj.weight'], w[p + 'proj.bias'], stride=stride,
                 padding=k // 2)
    _, c, h, wd = x.shape
    x = x.flatten(2).transpose(1, 2)
    x = F.layer_norm(x, (c, ), w[p + 'norm.weight'], w[p + 'norm.bias'],
                     eps=1e-5)
    return x, h, wd


def ref_block(x, h, wd, w, s, i):
    p = f'block{s}.{i}.'
    b, n, c = x.shape
    nh, sr = HEADS[s - 1], SRS[s - 1]
    # attention: q from all tokens, k/v from the spatially reduced tokens
    y = F.layer_norm(x, (c, ), w[p + 'norm1.weight'], w[p + 'norm1.bias'],
                     eps=1e-6)
    q = F.linear(y, w[p + 'attn.q.weight'], w[p + 'attn.q.bias'])
    q = q.reshape(b, n, nh, c // nh).permute(0, 2, 1, 3)
    if sr > 1:
        r = y.transpose(1, 2).reshape(b, c, h, wd)
        r = F.conv2d(r, w[p + 'attn.sr.weight'], w[p + 'attn.sr.bias'],
                     stride=sr)
        r = r.reshape(b, c, -1).transpose(1, 2)
        r = F.layer_norm(r, (c, ), w[p + 'attn.norm.weight'],
                         w[p + 'attn.norm.bias'], eps=1e-5)
    else:
        r = y
    kv = F.linear(r, w[p + 'attn.kv.weight'], w[p + 'attn.kv.bias'])
    kv = kv.reshape(b, -1, 2, nh, c // nh).permute(2, 0, 3, 1, 4)
    k, v = kv[0], kv[1]
    attn = (q @ k.transpose(-2, -1)) * (c // nh)**-0.5
    out = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, n, c)
    x = x + F.linear(out, w[p + 'attn.proj.weight'], w[p + 'attn.proj.bias'])
    # Mix-FFN: linear, depthwise 3x3, exact GELU, linear
    y = F.layer_norm(x, (c, ), w[p + 'norm2.weight'], w[p + 'norm2.bias'],
                     eps=1e-6)
    y = F.linear(y, w[p + 'mlp.fc1.weight'], w[p + 'mlp.fc1.bias'])
    y = y.transpose(1, 2).reshape(b, 4 * c, h, wd)
    y = F.conv2d(y, w[p + 'mlp.dwconv.dwconv.weight'],
                 w[p + 'mlp.dwconv.dwconv.bias'], padding=1, groups=4 * c)
    y = F.gelu(y.flatten(2).transpose(1, 2))
    return x + F.linear(y, w[p + 'mlp.fc2.weight'], w[p + 'mlp.fc2.bias'])


def ref_mit(img, w):
    outs, x = [], img
    for s in range(1, 5):
        x, h, wd = ref_patch_embed(x, w, s)
        for i in range(DEPTHS[s - 1]):
            x = ref_block(x, h, wd, w, s, i)
        c = x.shape[-1]
        x = F.layer_norm(x, (c, ), w[f'norm{s}.weight'], w[f'norm{s}.bias'],
                         eps=1e-6)
        x = x.transpose(1, 2).reshape(-1, c, h, wd)
        outs.append(x)
    return outs


@pytest.fixture(scope='module')
def weights():
    return reference_weights()


def build(type_='MixVisionTransformerRef', weights=None, **kwargs):
    model = MODELS.build(mit_cfg(type_, **kwargs))
    if weights is not None:
        state, _, _ = convert_mit(weights)
        model.load_state_dict(state, strict=True)
    return model.eval()


def test_eps_of_every_norm():
    model = build()
    for patch_embed, blocks, norm in model.layers:
        assert patch_embed.norm.eps == 1e-5
        assert norm.eps == 1e-6
        for block in blocks:
            assert block.norm1.eps == block.norm2.eps == 1e-6
            if block.attn.sr_ratio > 1:
                assert block.attn.norm.eps == 1e-5
    # None keeps norm_cfg's eps: mmseg's MixVisionTransformer exactly
    plain = build(patch_norm_eps=None, attn_norm_eps=None)
    assert plain.layers[0][0].norm.eps == 1e-6
    assert plain.layers[0][1][0].attn.norm.eps == 1e-6
    assert list(plain.state_dict()) == list(
        build('MixVisionTransformer').state_dict())


@pytest.mark.parametrize('stage,index', [(1, 0), (2, 1), (3, 0), (4, 0)])
def test_block_matches_reference_computation(weights, stage, index):
    """In float64, so that the only possible difference is the formula
    (float32 rounding alone reaches ~2e-6 on these magnitudes)."""
    weights = {k: v.double() for k, v in weights.items()}
    torch.manual_seed(1)
    h, wd = 16, 12
    c = WIDTH0 * HEADS[stage - 1]
    x = torch.randn(2, h * wd, c, dtype=torch.float64)
    model = build(weights=weights).double()
    plain = build('MixVisionTransformer', weights=weights).double()
    with torch.no_grad():
        expected = ref_block(x, h, wd, weights, stage, index)
        got = model.layers[stage - 1][1][index](x, (h, wd))
        got_plain = plain.layers[stage - 1][1][index](x, (h, wd))
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    if SRS[stage - 1] > 1:  # the eps switch is what makes them equal
        assert (got_plain - expected).abs().max() > 1e-4


def test_patch_embed_matches_reference_computation(weights):
    weights = {k: v.double() for k, v in weights.items()}
    img = torch.randn(2, 3, 64, 48, dtype=torch.float64)
    with torch.no_grad():
        expected, h, wd = ref_patch_embed(img, weights, 1)
        got, hw = build(weights=weights).double().layers[0][0](img)
        got_plain, _ = build('MixVisionTransformer',
                             weights=weights).double().layers[0][0](img)
    assert hw == (h, wd)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    assert (got_plain - expected).abs().max() > 1e-4


def test_backbone_matches_reference_computation(weights):
    """The whole MiT in float32: equal to float32 noise, unlike mmseg's
    MixVisionTransformer with the same weights."""
    img = torch.randn(1, 3, 96, 64)
    with torch.no_grad():
        expected = ref_mit(img, weights)
        got = build(weights=weights)(img)
        got_plain = build('MixVisionTransformer', weights=weights)(img)
    assert len(got) == 4
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=0, atol=2e-5)
    assert max((g - e).abs().max()
               for g, e in zip(got_plain, expected)) > 1e-3
