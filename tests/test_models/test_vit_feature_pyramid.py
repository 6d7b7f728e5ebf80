"""ViTFeaturePyramid: the 4-level pyramid of a DINOv2-style ViT (shapes at
any crop size, alignment of the resampled maps, which blocks and norms
feed each level), and the DINOv2 release checkpoint converter."""
# ruff: noqa: I001  (mmseg_uda first: it installs the mmcv-lite shim)
import mmseg_uda  # noqa: F401
import math

import pytest
import torch
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

from mmseg_uda.converters.dinov2 import convert_dinov2
from mmseg_uda.models.backbones.vit_feature_pyramid import (
    resample_token_grid)
from tests.helpers import load_tool

WIDTH, HEADS, FFN, LAYERS = 24, 2, 40, 4


def tiny_vit(**kwargs):
    cfg = dict(
        arch=dict(embed_dims=WIDTH, num_layers=LAYERS, num_heads=HEADS,
                  feedforward_channels=FFN),
        img_size=56, patch_size=14, layer_scale_init_value=0.5)
    cfg.update(kwargs)
    return cfg


def build_pyramid(**kwargs):
    init_default_scope('mmseg')
    torch.manual_seed(0)
    cfg = dict(type='ViTFeaturePyramid', vit=tiny_vit(),
               out_indices=(0, 1, 2, 3))
    cfg.update(kwargs)
    model = MODELS.build(cfg)
    model.init_weights()
    return model.eval()


@pytest.mark.parametrize('size', [(56, 84), (64, 100), (30, 17), (28, 28)])
def test_pyramid_shapes_at_any_crop_size(size):
    """Strides 4, 8, 16, 32 of the input, rounded up (the size a stride-s
    network gives), at sizes that are multiples of the patch size 14 and
    sizes that are not, down to a 1x1 level. Rules out: the stride-14 token
    grid passed on, floor instead of ceil, sizes of the padded input."""
    model = build_pyramid()
    h, w = size
    with torch.no_grad():
        outs = model(torch.randn(2, 3, h, w))
    assert [tuple(o.shape) for o in outs] == [
        (2, WIDTH, math.ceil(h / s), math.ceil(w / s)) for s in (4, 8, 16, 32)
    ]


@pytest.mark.parametrize('stride', [4, 8, 16, 32])
def test_resampled_maps_stay_aligned_with_the_image(stride):
    """A token grid holding each token's centre x/y in input pixels, over a
    padded input (H=60, W=46: 5x4 tokens of 14 px); after resampling, every
    output cell holds its own centre ((i + 0.5) * stride) where it lies
    between token centres (bilinear interpolation is exact on a linear
    ramp). Rules out: resizing the grid to the output size (the padded
    extent squeezed onto the image), align_corners=True, a half-cell
    shift."""
    h, w, p = 60, 46, 14
    gh, gw = math.ceil(h / p), math.ceil(w / p)
    ys = (torch.arange(gh) + 0.5) * p
    xs = (torch.arange(gw) + 0.5) * p
    grid = torch.stack([ys[:, None].expand(gh, gw),
                        xs[None, :].expand(gh, gw)])[None]
    out = resample_token_grid(grid, p, stride,
                              (math.ceil(h / stride), math.ceil(w / stride)))
    assert out.shape[-2:] == (math.ceil(h / stride), math.ceil(w / stride))
    cy = (torch.arange(out.shape[-2]) + 0.5) * stride
    cx = (torch.arange(out.shape[-1]) + 0.5) * stride
    inside_y = (cy >= ys[0]) & (cy <= ys[-1])
    inside_x = (cx >= xs[0]) & (cx <= xs[-1])
    assert inside_y.any() and inside_x.any()
    torch.testing.assert_close(out[0, 0][inside_y][:, 0], cy[inside_y])
    torch.testing.assert_close(out[0, 1][:, inside_x][0], cx[inside_x])


def test_levels_are_the_named_blocks_after_the_final_norm():
    """Level k is block ``out_indices[k]``'s patch tokens (class token
    dropped) after the ViT's final LayerNorm, laid out (H, W): checked at
    stride 14 (the token grid itself) on a non-square input against
    mmpretrain's own ViT run with the same weights. Rules out: outputs in
    another order, the class token kept, a (W, H) reshape, intermediate
    blocks without the norm, the norm applied twice to the last block."""
    model = build_pyramid(out_indices=(0, 2, 3), strides=(14, 14, 14))
    x = torch.randn(2, 3, 42, 70)  # 3x5 tokens
    with torch.no_grad():
        outs = model(x)
        vit = model.vit
        tokens, _ = vit.patch_embed(x)
        tokens = torch.cat([vit.cls_token.expand(2, -1, -1), tokens], 1)
        tokens = tokens + vit.resize_pos_embed(
            vit.pos_embed, vit.patch_resolution, (3, 5),
            mode=vit.interpolate_mode, num_extra_tokens=1)
        expected = []
        for i, layer in enumerate(vit.layers):
            tokens = layer(tokens)
            if i in (0, 2, 3):
                grid = vit.ln1(tokens)[:, 1:].reshape(2, 3, 5, WIDTH)
                expected.append(grid.permute(0, 3, 1, 2))
    for got, want in zip(outs, expected):
        torch.testing.assert_close(got, want)
    plain = build_pyramid(out_indices=(0, 2, 3), strides=(14, 14, 14),
                          norm_intermediate=False)
    with torch.no_grad():
        raw = plain(x)
    assert not torch.allclose(raw[0], outs[0])
    torch.testing.assert_close(raw[-1], outs[-1])


def test_bad_out_indices_are_refused():
    with pytest.raises(ValueError, match='one entry per'):
        build_pyramid(out_indices=(0, 1, 2))
    with pytest.raises(ValueError, match='shallow to deep'):
        build_pyramid(out_indices=(3, 1, 2, 0))


def release_checkpoint(num_layers=LAYERS, grid=4, chunked=False, seed=0,
                       swiglu=False):
    """A DINOv2 release-layout state dict (key names of
    facebookresearch/dinov2's vision_transformer.py), random values, a
    ``grid`` x ``grid`` position embedding plus the class token; ``swiglu``:
    ViT-g's fused SwiGLU feed-forward (``mlp.w12``/``mlp.w3``, hidden width
    2/3 of FFN rounded up to a multiple of 8, as in the release's
    swiglu_ffn.py)."""
    g = torch.Generator().manual_seed(seed)

    def t(*shape):
        return torch.randn(*shape, generator=g)

    state = {
        'cls_token': t(1, 1, WIDTH),
        'pos_embed': t(1, grid * grid + 1, WIDTH),
        'mask_token': t(1, WIDTH),
        'patch_embed.proj.weight': t(WIDTH, 3, 14, 14),
        'patch_embed.proj.bias': t(WIDTH),
        'norm.weight': t(WIDTH),
        'norm.bias': t(WIDTH),
    }
    for i in range(num_layers):
        pre = f'blocks.0.{i}.' if chunked else f'blocks.{i}.'
        state.update({
            pre + 'norm1.weight': t(WIDTH), pre + 'norm1.bias': t(WIDTH),
            pre + 'attn.qkv.weight': t(3 * WIDTH, WIDTH),
            pre + 'attn.qkv.bias': t(3 * WIDTH),
            pre + 'attn.proj.weight': t(WIDTH, WIDTH),
            pre + 'attn.proj.bias': t(WIDTH),
            pre + 'ls1.gamma': t(WIDTH),
            pre + 'norm2.weight': t(WIDTH), pre + 'norm2.bias': t(WIDTH),
            pre + 'ls2.gamma': t(WIDTH),
        })
        if swiglu:
            hidden = (int(FFN * 2 / 3) + 7) // 8 * 8
            state.update({
                pre + 'mlp.w12.weight': t(2 * hidden, WIDTH),
                pre + 'mlp.w12.bias': t(2 * hidden),
                pre + 'mlp.w3.weight': t(WIDTH, hidden),
                pre + 'mlp.w3.bias': t(WIDTH),
            })
        else:
            state.update({
                pre + 'mlp.fc1.weight': t(FFN, WIDTH),
                pre + 'mlp.fc1.bias': t(FFN),
                pre + 'mlp.fc2.weight': t(WIDTH, FFN),
                pre + 'mlp.fc2.bias': t(WIDTH),
            })
    return state


@pytest.mark.parametrize('chunked', [False, True])
def test_converter_key_table_on_a_release_checkpoint(chunked):
    """Every encoder tensor of a release-layout checkpoint lands on the
    mmpretrain key of the table, value unchanged, and the result loads
    into the ViT with ``strict=True``; ``mask_token`` is dropped. Rules
    out: the two layer scales swapped (same shape: only the values tell),
    fc1/fc2 or norm1/norm2 swapped, the final norm left out, block chunks
    (``blocks.C.N``) misnumbered."""
    release = release_checkpoint(chunked=chunked)
    state, dropped = convert_dinov2(release)
    assert dropped == ['mask_token']
    for i in range(LAYERS):
        src = f'blocks.0.{i}.' if chunked else f'blocks.{i}.'
        assert torch.equal(state[f'layers.{i}.attn.gamma1.weight'],
                           release[src + 'ls1.gamma'])
        assert torch.equal(state[f'layers.{i}.ffn.gamma2.weight'],
                           release[src + 'ls2.gamma'])
        assert torch.equal(state[f'layers.{i}.ffn.layers.0.0.weight'],
                           release[src + 'mlp.fc1.weight'])
        assert torch.equal(state[f'layers.{i}.ln2.bias'],
                           release[src + 'norm2.bias'])
    assert torch.equal(state['ln1.weight'], release['norm.weight'])
    assert torch.equal(state['patch_embed.projection.weight'],
                       release['patch_embed.proj.weight'])
    assert len(state) == len(release) - 1
    model = build_pyramid()
    model.vit.load_state_dict(state, strict=True)


def test_converter_swiglu_checkpoint_loads_into_a_giant_style_vit():
    """ViT-g's SwiGLU feed-forward (``mlp.w12``/``mlp.w3``) lands on
    mmpretrain's ``swiglu_fused`` FFN keys and loads with ``strict=True``.
    Rules out: w12/w3 missing from the table or mapped onto the plain
    FFN's names."""
    release = release_checkpoint(swiglu=True)
    state, _ = convert_dinov2(release)
    assert torch.equal(state['layers.2.ffn.w3.weight'],
                       release['blocks.2.mlp.w3.weight'])
    model = build_pyramid(
        vit=tiny_vit(layer_cfgs=dict(ffn_type='swiglu_fused')))
    model.vit.load_state_dict(state, strict=True)


def test_converter_refuses_unknown_keys():
    """Register tokens (DINOv2 ``*_reg`` models) or a head are named in
    the error instead of being dropped silently."""
    release = release_checkpoint()
    release['register_tokens'] = torch.zeros(1, 4, WIDTH)
    with pytest.raises(KeyError, match='register_tokens'):
        convert_dinov2(release)
    with pytest.raises(KeyError, match='not a DINOv2'):
        convert_dinov2({'mask_token': torch.zeros(1)})


def test_converter_tool_output_initialises_the_pyramid(tmp_path):
    """tools/model_converters/dinov2_to_mmpretrain.py on a release file,
    then the ViT's ``init_cfg`` (as in configs/_base_/models/
    dinov2_vitb14.py) loads it: every weight is the release's, and the
    position embedding of a 4x4 pre-training grid is interpolated to the
    model's 5x5 grid (img_size 70). Rules out: a file the config's
    Pretrained init cannot read (wrong prefix or layout), weights left at
    their random initialisation."""
    release = release_checkpoint(grid=4, seed=3)
    src, dst = tmp_path / 'dinov2_release.pth', tmp_path / 'converted.pth'
    torch.save(release, src)
    load_tool('tools/model_converters/dinov2_to_mmpretrain.py').main(
        [str(src), str(dst)])
    model = build_pyramid(vit=tiny_vit(img_size=70, init_cfg=dict(
        type='Pretrained', checkpoint=str(dst))))
    vit_state = model.vit.state_dict()
    assert torch.equal(vit_state['layers.3.attn.gamma1.weight'],
                       release['blocks.3.ls1.gamma'])
    assert torch.equal(vit_state['ln1.bias'], release['norm.bias'])
    assert vit_state['pos_embed'].shape == (1, 5 * 5 + 1, WIDTH)
    # the class token's embedding is kept, the patch grid resized
    assert torch.equal(vit_state['pos_embed'][:, 0],
                       release['pos_embed'][:, 0])
