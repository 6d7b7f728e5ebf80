"""Tiny model configs shared by the model tests (CPU, a few ms per step)."""
import copy

import torch
import torch.nn.functional as F
from mmengine.config import Config, ConfigDict
from mmengine.structures import PixelData
from mmseg.models.decode_heads import FCNHead
from mmseg.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
from mmseg.structures import SegDataSample

from mmseg_uda.models.decode_heads import PixelWeightedLossMixin
from tests.test_models.mmseg_configs import CROP


@MODELS.register_module(name='TinyWeightedFCNHead', force=True)
class TinyWeightedFCNHead(PixelWeightedLossMixin, FCNHead):
    """mmseg's FCN head with per-pixel loss weights (test-only)."""


MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]
BN = dict(type='BN', requires_grad=True)
#: channels of the tiny MiT (embed_dims 8) stages
IN_CHANNELS = [8, 16, 40, 64]


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


def uda_batch(n=2, size=32, valid_mask=False, seed=0):
    g = torch.Generator().manual_seed(seed)

    def branch(labelled):
        inputs, samples = [], []
        for _ in range(n):
            inputs.append(torch.randint(0, 256, (3, size, size), generator=g,
                                        dtype=torch.uint8))
            s = SegDataSample(metainfo=dict(img_shape=(size, size),
                                            ori_shape=(size, size)))
            if labelled:
                lbl = torch.randint(0, 4, (1, size, size), generator=g)
                lbl[:, :2] = 255
                s.gt_sem_seg = PixelData(data=lbl)
            elif valid_mask:
                m = torch.ones(1, size, size, dtype=torch.uint8)
                m[:, :, :4] = 0
                s.valid_pseudo_mask = PixelData(data=m)
            samples.append(s)
        return dict(inputs=inputs, data_samples=samples)

    return dict(source=branch(True), target=branch(False))


def tiny_deeplabv2_segmentor(num_classes=4, crop=(32, 32), aux=False):
    """DeepLab-v2 on a narrow dilated ResNet-18 (channels 8..64, output
    stride 8), trainable BN; optional stage-4 auxiliary classifier."""
    cfg = dict(
        type='EncoderDecoder',
        data_preprocessor=dict(
            type='SegDataPreProcessor', mean=MEAN, std=STD, bgr_to_rgb=True,
            pad_val=0, seg_pad_val=255, size=crop),
        backbone=dict(
            type='ResNetV1c', depth=18, base_channels=8, stem_channels=8,
            num_stages=4, out_indices=(0, 1, 2, 3), strides=(1, 2, 1, 1),
            dilations=(1, 1, 2, 4), norm_cfg=dict(type='BN',
                                                  requires_grad=True),
            norm_eval=False, contract_dilation=True),
        decode_head=dict(
            type='DeepLabV2Head', in_channels=64, in_index=3,
            num_classes=num_classes, align_corners=False,
            loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
        train_cfg=dict(),
        test_cfg=dict(mode='whole'))
    if aux:
        cfg['auxiliary_head'] = dict(
            type='DeepLabV2Head', in_channels=32, in_index=2,
            num_classes=num_classes, align_corners=False,
            loss_decode=dict(type='CrossEntropyLoss', loss_weight=0.1))
    return ConfigDict(cfg)


def mic_cfg(**kwargs):
    cfg = dict(
        type='MaskedImageConsistency',
        mask_generator=dict(
            type='BlockMaskGenerator',
            mask_ratio=kwargs.pop('mask_ratio', 0.7),
            block_size=kwargs.pop('block_size', 8)))
    cfg.update(kwargs)
    return cfg


def tiny_hrda_cfg(**model_overrides):
    cfg = Config.fromfile(
        'configs/_base_/models/hrda_daformer_sepaspp_mitb5.py')
    cfg.model.backbone.update(
        embed_dims=8, num_layers=[1, 1, 1, 1], init_cfg=None)
    cfg.model.decode_head.update(
        in_channels=IN_CHANNELS,
        channels=16,
        norm_cfg=BN,
        num_classes=5,
        attention_embed_dim=8)
    cfg.model.decode_head.decoder_params.update(embed_dims=16)
    cfg.model.decode_head.decoder_params.fusion_cfg.norm_cfg = BN
    cfg.model.update(
        hr_crop_size=(32, 32),
        data_preprocessor=dict(size=(64, 64)),
        test_cfg=dict(crop_size=(64, 64), stride=(32, 32)))
    cfg.model.update(model_overrides)
    return cfg


def build_adversarial_model(type='AdaptSegNet', aux=False, **kwargs):
    torch.manual_seed(0)
    cfg = dict(type=type, segmentor=tiny_deeplabv2_segmentor(aux=aux))
    if aux:
        cfg['aux_discriminator'] = dict(type='FCDiscriminator')
    cfg.update(kwargs)
    model = MODELS.build(ConfigDict(cfg))
    model.init_weights()
    model.train()
    return model


def build_adversarial_optim(model, lr=0.01, d_lr=1e-3):
    cfg = dict(
        student=dict(type='OptimWrapper',
                     optimizer=dict(type='SGD', lr=lr, momentum=0.9),
                     paramwise_cfg=dict(
                         custom_keys=dict(head=dict(lr_mult=10.0)))))
    for name in model.discriminator_names:
        cfg[name] = dict(type='OptimWrapper', optimizer=dict(
            type='Adam', lr=d_lr, betas=(0.9, 0.99)))
    return OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type='MultiOptimWrapperConstructor', optim_wrapper_cfg=cfg))(model)


def build_dacs(segmentor, init=True, **kwargs):
    torch.manual_seed(0)
    cfg = dict(
        type='DACS', segmentor=segmentor,
        imnet_feature_dist=dict(type='FeatureDistanceLoss', classes=[1, 2],
                                num_classes=4, loss_weight=0.005))
    cfg.update(kwargs)
    model = MODELS.build(cfg)
    if init:
        model.init_weights()
    return model


def weighted_samples(n=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(n):
        s = SegDataSample(metainfo=dict(img_shape=(CROP, CROP),
                                        ori_shape=(CROP, CROP),
                                        pad_shape=(CROP, CROP)))
        label = torch.randint(0, 4, (1, CROP, CROP), generator=g)
        label[:, :3] = 255
        s.gt_sem_seg = PixelData(data=label)
        s.seg_weight = PixelData(
            data=torch.rand(1, CROP, CROP, generator=g))
        samples.append(s)
    inputs = torch.randn(n, 3, CROP, CROP, generator=g)
    return inputs, samples


def hand_weighted_ce(logits, samples, weight_scale=1.0, extra_weight=None):
    """mmseg's CE (``avg_non_ignore=False``: mean over all pixels) with each
    pixel multiplied by ``seg_weight``, written out by hand."""
    label = torch.stack([s.gt_sem_seg.data[0] for s in samples])
    weight = torch.stack([s.seg_weight.data[0] for s in samples])
    if extra_weight is not None:
        weight = weight * extra_weight
    logits = F.interpolate(logits, size=label.shape[1:], mode='bilinear',
                           align_corners=False)
    ce = F.cross_entropy(logits, label, reduction='none', ignore_index=255)
    return weight_scale * (ce * weight).mean()
