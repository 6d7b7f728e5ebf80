"""DAFormer head: shapes, reference layout, concat order, fusion structure,
pixel-weighted loss, build from the base config."""
# ruff: noqa: I001  (mmseg_uda first: it installs the mmcv-lite shim)
import mmseg_uda  # noqa: F401
import copy

import pytest
import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS

from mmseg_uda.models.decode_heads import DAFormerHead
from mmseg_uda.models.decode_heads.daformer_head import ASPPFusion
from tests.helpers import seg_samples

IN_CHANNELS = [8, 16, 40, 64]
BN = dict(type='BN', requires_grad=True)


def tiny_head(fusion=None, embed_dims=16, channels=16, num_classes=5,
              **kwargs):
    fusion = fusion or dict(type='sepaspp', dilations=(1, 6, 12, 18),
                            pool=False)
    return DAFormerHead(
        in_channels=IN_CHANNELS,
        in_index=[0, 1, 2, 3],
        channels=channels,
        num_classes=num_classes,
        norm_cfg=BN,
        decoder_params=dict(embed_dims=embed_dims, fusion_cfg=fusion),
        **kwargs)


def features(batch=2, size=32):
    return [
        torch.randn(batch, c, size // s, size // s)
        for c, s in zip(IN_CHANNELS, (4, 8, 16, 32))
    ]


def test_registered_and_output_shape():
    assert MODELS.get('DAFormerHead') is DAFormerHead
    head = tiny_head()
    out = head(features(batch=2, size=64))
    assert out.shape == (2, 5, 16, 16)
    head.eval()
    out = head(features(batch=1, size=64))
    assert out.shape == (1, 5, 16, 16)


def test_reference_key_layout_and_sizes():
    head = DAFormerHead(
        in_channels=[64, 128, 320, 512],
        in_index=[0, 1, 2, 3],
        channels=256,
        num_classes=19,
        norm_cfg=BN,
        decoder_params=dict(
            embed_dims=256,
            embed_cfg=dict(type='mlp', act_cfg=None, norm_cfg=None),
            embed_neck_cfg=dict(type='mlp', act_cfg=None, norm_cfg=None),
            fusion_cfg=dict(type='aspp', sep=True, dilations=(1, 6, 12, 18),
                            pool=False)))
    sd = head.state_dict()
    # reference_checkpoints.md section 2.2
    assert len(sd) == 58
    assert sum(p.numel() for p in head.parameters()) == 3712275
    assert sum(b.numel() for b in head.buffers()) == 8712
    assert sd['embed_layers.0.proj.weight'].shape == (256, 64)
    assert sd['embed_layers.3.proj.weight'].shape == (256, 512)
    assert sd['fuse_layer.aspp_modules.0.conv.weight'].shape == (256, 1024,
                                                                 1, 1)
    assert sd['fuse_layer.aspp_modules.2.depthwise_conv.conv.weight'].shape \
        == (1024, 1, 3, 3)
    assert sd['fuse_layer.aspp_modules.3.pointwise_conv.bn.running_var'] \
        .shape == (256,)
    assert sd['fuse_layer.bottleneck.conv.weight'].shape == (256, 1024, 3, 3)
    assert sd['conv_seg.weight'].shape == (19, 256, 1, 1)
    assert not any('image_pool' in k for k in sd)


def test_concat_order_is_ascending():
    head = tiny_head(embed_dims=16).eval()
    captured = {}

    def hook(module, args, output):
        captured['x'] = args[0]

    head.fuse_layer.register_forward_hook(hook)
    for k in range(4):
        captured.clear()
        with torch.no_grad():
            layer = head.embed_layers[k].proj
            saved = copy.deepcopy(layer.state_dict())
            layer.weight.zero_()
            layer.bias.zero_()
            feats = features(batch=1, size=64)
            head(feats)
            layer.load_state_dict(saved)
        x = captured['x']
        assert x.shape == (1, 64, 16, 16)
        for j in range(4):
            block = x[:, 16 * j:16 * (j + 1)]
            assert (block.abs().max() == 0) == (j == k), (k, j)
    # the stride-4 level comes first, at its own resolution
    captured.clear()
    feats = features(batch=1, size=64)
    with torch.no_grad():
        head(feats)
        expected = head.embed_layers[0](feats[0])
    torch.testing.assert_close(captured['x'][:, :16], expected)


def test_sepaspp_structure():
    head = tiny_head(channels=16, embed_dims=16)
    fuse = head.fuse_layer
    assert isinstance(fuse, ASPPFusion)
    assert fuse.image_pool is None
    branches = list(fuse.aspp_modules)
    assert len(branches) == 4
    assert isinstance(branches[0], ConvModule)
    assert branches[0].conv.kernel_size == (1, 1)
    assert branches[0].conv.dilation == (1, 1)
    for branch, d in zip(branches[1:], (6, 12, 18)):
        assert isinstance(branch, DepthwiseSeparableConvModule)
        dw = branch.depthwise_conv.conv
        assert dw.kernel_size == (3, 3)
        assert dw.dilation == (d, d) and dw.padding == (d, d)
        assert dw.groups == 64 and dw.in_channels == 64
        assert branch.depthwise_conv.with_norm
        assert branch.pointwise_conv.conv.kernel_size == (1, 1)
    for m in (branches[0], branches[1].depthwise_conv,
              branches[1].pointwise_conv, fuse.bottleneck):
        assert isinstance(m.bn, torch.nn.BatchNorm2d)
        assert isinstance(m.activate, torch.nn.ReLU)
        assert m.conv.bias is None
    assert fuse.bottleneck.conv.kernel_size == (3, 3)
    assert fuse.bottleneck.conv.in_channels == 4 * 16
    assert isinstance(head.dropout, torch.nn.Dropout2d)
    assert head.dropout.p == 0.1
    # the embedding is linear only: no norm, no activation
    assert [type(m) for m in head.embed_layers[0].modules()][1:] == [
        torch.nn.Linear
    ]


def test_conv1_fusion_and_errors():
    head = tiny_head(fusion=dict(type='conv1'))
    assert isinstance(head.fuse_layer, ConvModule)
    assert head.fuse_layer.conv.kernel_size == (1, 1)
    assert set(head.fuse_layer.state_dict()) == {
        'conv.weight', 'bn.weight', 'bn.bias', 'bn.running_mean',
        'bn.running_var', 'bn.num_batches_tracked'
    }
    assert head(features()).shape == (2, 5, 8, 8)
    # the reference's spelling of the same fusion
    ref = tiny_head(fusion=dict(type='conv', kernel_size=1))
    assert isinstance(ref.fuse_layer, ConvModule)
    with pytest.raises(ValueError):
        tiny_head(fusion=dict(type='mlp'))
    with pytest.raises(TypeError):
        tiny_head(fusion=dict(type='sepaspp', dilation=(1, 2)))
    with pytest.raises(ValueError):
        DAFormerHead(
            in_channels=IN_CHANNELS,
            in_index=[0, 1, 2, 3],
            channels=8,
            num_classes=3,
            decoder_params=dict(embed_cfg=dict(type='conv')))


def test_pixel_weighted_loss_matches_hand_computation():
    torch.manual_seed(0)
    head = tiny_head(num_classes=4)
    logits = torch.randn(2, 4, 8, 8)
    labels = torch.randint(0, 4, (2, 8, 8))
    labels[0, :2] = 255
    weights = torch.rand(2, 8, 8)
    loss = head.loss_by_feat(logits, seg_samples(labels, weights))['loss_ce']
    ce = F.cross_entropy(logits, labels, ignore_index=255, reduction='none')
    # mean over ALL pixels, ignored ones included with loss 0
    expected = (ce * weights).sum() / labels.numel()
    torch.testing.assert_close(loss, expected)
    # without seg_weight: exactly mmseg's unweighted loss
    unweighted = head.loss_by_feat(logits, seg_samples(labels))
    mmseg_loss = BaseDecodeHead.loss_by_feat(head, logits, seg_samples(labels))
    torch.testing.assert_close(unweighted['loss_ce'], mmseg_loss['loss_ce'])
    torch.testing.assert_close(unweighted['loss_ce'],
                               ce.sum() / labels.numel())
    # logits at a lower resolution are upsampled to the labels first
    small = head.loss_by_feat(logits[:, :, ::2, ::2],
                              seg_samples(labels, weights))
    assert torch.isfinite(small['loss_ce'])


def tiny_model_cfg(name='daformer_sepaspp_mitb5'):
    cfg = Config.fromfile(f'configs/_base_/models/{name}.py')
    cfg.model.backbone.update(
        embed_dims=8, num_layers=[1, 1, 1, 1], init_cfg=None)
    cfg.model.decode_head.update(
        in_channels=IN_CHANNELS, channels=16, norm_cfg=BN)
    cfg.model.decode_head.decoder_params.update(embed_dims=16)
    cfg.model.decode_head.decoder_params.fusion_cfg.norm_cfg = BN
    cfg.model.data_preprocessor.size = (64, 64)
    return cfg


@pytest.mark.parametrize('name', ['daformer_sepaspp_mitb5',
                                  'daformer_conv1_mitb5'])
def test_build_from_base_config(name):
    init_default_scope('mmseg')
    cfg = tiny_model_cfg(name)
    full = Config.fromfile(f'configs/_base_/models/{name}.py').model
    assert full.backbone.num_layers == [3, 6, 40, 3]
    assert full.backbone.init_cfg.checkpoint == 'pretrained/mit_b5.pth'
    assert full.decode_head.in_channels == [64, 128, 320, 512]
    assert full.decode_head.loss_decode.avg_non_ignore is False
    model = MODELS.build(cfg.model)
    assert isinstance(model.decode_head, DAFormerHead)
    expected = ASPPFusion if 'sepaspp' in name else ConvModule
    assert isinstance(model.decode_head.fuse_layer, expected)
    data = dict(
        inputs=[torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8)] * 2,
        data_samples=seg_samples(torch.randint(0, 19, (2, 64, 64)),
                             torch.ones(2, 64, 64)))
    data = model.data_preprocessor(data, training=True)
    losses = model(**data, mode='loss')
    assert torch.isfinite(losses['decode.loss_ce'])
    losses['decode.loss_ce'].backward()
    model.eval()
    with torch.no_grad():
        preds = model(**data, mode='predict')
    assert preds[0].seg_logits.data.shape == (19, 64, 64)
