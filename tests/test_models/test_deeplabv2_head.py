"""DeepLab-v2 head and the dilated ResNet model config."""
import pytest
import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_uda  # noqa: F401
from mmseg_uda.models.decode_heads import DeepLabV2Head
from tests.test_models.tiny_models import tiny_deeplabv2_segmentor

MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]


def test_head_is_sum_of_dilated_convs():
    torch.manual_seed(0)
    head = DeepLabV2Head(in_channels=6, num_classes=3, in_index=1)
    head.init_weights()
    assert head.conv_seg is None and head.dropout is None
    assert [c.dilation for c in head.aspp] == [(6, 6), (12, 12), (18, 18),
                                               (24, 24)]
    for conv in head.aspp:
        assert conv.kernel_size == (3, 3) and conv.padding == conv.dilation
        assert conv.bias is not None and torch.all(conv.bias == 0)
        assert conv.out_channels == 3
        assert 0.005 < conv.weight.std().item() < 0.02  # N(0, 0.01)
    # parameters: 4 x (3*6*9 weights + 3 biases), no conv_seg
    assert sum(p.numel() for p in head.parameters()) == 4 * (3 * 6 * 9 + 3)
    x = torch.randn(2, 6, 30, 30)
    with torch.no_grad():
        for conv in head.aspp:
            conv.bias.normal_()
        out = head([torch.randn(2, 5, 3, 3), x])
        expected = sum(
            torch.nn.functional.conv2d(
                x, c.weight, c.bias, padding=d, dilation=d)
            for c, d in zip(head.aspp, (6, 12, 18, 24)))
    assert out.shape == (2, 3, 30, 30)
    torch.testing.assert_close(out, expected)
    with pytest.raises(NotImplementedError):
        head.cls_seg(x)


def test_head_options_and_pixel_weights():
    head = DeepLabV2Head(in_channels=4, num_classes=2, out_channels=2,
                         dilations=(1, 2), dropout_ratio=0.5)
    assert len(head.aspp) == 2 and head.dropout is not None
    with pytest.raises(ValueError, match='dilations'):
        DeepLabV2Head(in_channels=4, num_classes=2, dilations=())
    with pytest.raises(ValueError, match='input_transform'):
        DeepLabV2Head(in_channels=[4, 4], num_classes=2, in_index=[0, 1],
                      input_transform='resize_concat')
    # seg_weight (DACS's pseudo-label weights) is honoured.
    head = DeepLabV2Head(in_channels=4, num_classes=3, dilations=(1, ))
    assert head.supports_seg_weight
    logits = torch.randn(1, 3, 4, 4)
    sample = SegDataSample()
    sample.gt_sem_seg = PixelData(data=torch.randint(0, 3, (1, 4, 4)))
    plain = head.loss_by_feat(logits, [sample])['loss_ce']
    sample.seg_weight = PixelData(data=torch.full((1, 4, 4), 0.5))
    weighted = head.loss_by_feat(logits, [sample])['loss_ce']
    torch.testing.assert_close(weighted, 0.5 * plain)


def test_tiny_segmentor_output_stride_8():
    model = MODELS.build(tiny_deeplabv2_segmentor(aux=True))
    model.init_weights()
    model.eval()
    with torch.no_grad():
        feats = model.extract_feat(torch.randn(1, 3, 64, 64))
        logits = model._forward(torch.randn(1, 3, 64, 64))
    assert [f.shape[1:] for f in feats] == [(8, 16, 16), (16, 8, 8),
                                            (32, 8, 8), (64, 8, 8)]
    assert logits.shape == (1, 4, 8, 8)


def test_deeplabv2_r101_config():
    cfg = Config.fromfile('configs/_base_/models/deeplabv2_r101.py')
    bb = cfg.model.backbone
    assert (bb.type, bb.depth, bb.strides, bb.dilations,
            bb.out_indices) == ('ResNetV1c', 101, (1, 2, 1, 1),
                                (1, 1, 2, 4), (0, 1, 2, 3))
    head = cfg.model.decode_head
    assert (head.type, head.in_channels, head.in_index,
            head.dilations) == ('DeepLabV2Head', 2048, 3, (6, 12, 18, 24))
    assert bb.init_cfg.checkpoint == 'pretrained/resnet101_v1c.pth'
    # Build it without the (absent) pretrained file: shapes of ResNet-101.
    bb = dict(bb, init_cfg=None)
    backbone = MODELS.build(bb)
    n_blocks = [len(getattr(backbone, name)) for name in backbone.res_layers]
    assert n_blocks == [3, 4, 23, 3]
    head = MODELS.build(head)
    assert sum(p.numel() for p in head.parameters()) == 4 * (
        19 * 2048 * 9 + 19)
