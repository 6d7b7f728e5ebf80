"""Tiny model configs shared by the model tests (CPU, a few ms per step)."""
import copy

from mmengine.config import ConfigDict
from mmseg.models.decode_heads import FCNHead
from mmseg.registry import MODELS

from mmseg_uda.models.decode_heads import PixelWeightedLossMixin


@MODELS.register_module(name='TinyWeightedFCNHead', force=True)
class TinyWeightedFCNHead(PixelWeightedLossMixin, FCNHead):
    """mmseg's FCN head with per-pixel loss weights (test-only)."""


MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]


def tiny_mit_segmentor(num_classes=4, crop=(32, 32),
                       head='TinyWeightedFCNHead'):
    return ConfigDict(
        type='EncoderDecoder',
        data_preprocessor=dict(
            type='SegDataPreProcessor', mean=MEAN, std=STD, bgr_to_rgb=True,
            pad_val=0, seg_pad_val=255, size=crop),
        backbone=dict(
            type='MixVisionTransformer', in_channels=3, embed_dims=8,
            num_stages=4, num_layers=[1, 1, 1, 1], num_heads=[1, 2, 4, 8],
            patch_sizes=[7, 3, 3, 3], sr_ratios=[8, 4, 2, 1],
            out_indices=(0, 1, 2, 3), mlp_ratio=2, qkv_bias=True,
            drop_rate=0.0, attn_drop_rate=0.0, drop_path_rate=0.1),
        decode_head=dict(
            type=head, in_channels=64, in_index=3, channels=8,
            num_convs=1, concat_input=False, dropout_ratio=0.1,
            num_classes=num_classes, norm_cfg=dict(type='BN'),
            align_corners=False,
            loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
        train_cfg=dict(),
        test_cfg=dict(mode='whole'))


def tiny_dacs(**kwargs):
    cfg = dict(
        type='DACS', segmentor=tiny_mit_segmentor(),
        imnet_feature_dist=dict(type='FeatureDistanceLoss', classes=[2, 3],
                                num_classes=4, loss_weight=0.005))
    cfg.update(kwargs)
    return ConfigDict(copy.deepcopy(cfg))
