"""DAFormer decode head (Hoyer et al., CVPR 2022) for mmseg 1.x.

Each selected backbone level is embedded to ``embed_dims`` channels by a
linear layer (no norm, no activation), upsampled to the resolution of the
first selected level (stride 4 for MiT), concatenated in ascending stride
order and fused:

* ``sepaspp`` (the DAFormer default): ASPP whose dilated branches are
  depthwise-separable 3x3 convolutions, the dilation-1 branch a 1x1
  convolution, no image-pooling branch, BN + ReLU everywhere, then a 3x3
  bottleneck to ``channels``;
* ``aspp``: the same with plain 3x3 convolutions;
* ``conv1`` (SegFormer-like, also HRDA's scale attention): one 1x1
  ConvModule.

Module names follow the reference implementation (``embed_layers.{i}.proj``,
``fuse_layer.aspp_modules.{k}``, ``fuse_layer.bottleneck``, ``fuse_layer.conv``
/ ``.bn``, ``conv_seg``) so reference checkpoints load with the identity
mapping below the ``decode_head.`` prefix.
"""
import copy
from typing import Dict, List, Sequence, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from torch import Tensor

from .pixel_weighted import PixelWeightedLossMixin

DEFAULT_FUSION = dict(type='sepaspp', dilations=(1, 6, 12, 18), pool=False)


class MLPEmbed(nn.Module):
    """Per-pixel linear embedding of a ``(B, C, H, W)`` map (the reference's
    ``MLP``: one ``nn.Linear`` named ``proj``, so its weight is ``[E, C]``)."""

    def __init__(self, in_channels: int, embed_dims: int):
        super().__init__()
        self.proj = nn.Linear(in_channels, embed_dims)

    def forward(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        x = self.proj(x.flatten(2).transpose(1, 2))
        return x.transpose(1, 2).reshape(b, -1, h, w)


class ASPPFusion(nn.Module):
    """ASPP over the concatenated embeddings, then a 3x3 bottleneck.

    Args:
        in_channels: channels of the concatenated embeddings.
        channels: channels of every branch and of the output.
        dilations: one branch per dilation; dilation 1 is a 1x1 conv.
        sep: depthwise-separable 3x3 convs for the dilated branches.
        pool: add an image-pooling branch (``image_pool``; off in DAFormer).
    """

    def __init__(self,
                 in_channels: int,
                 channels: int,
                 dilations: Sequence[int] = (1, 6, 12, 18),
                 sep: bool = True,
                 pool: bool = False,
                 conv_cfg=None,
                 norm_cfg=None,
                 act_cfg=None,
                 align_corners: bool = False):
        super().__init__()
        if act_cfg is None:
            act_cfg = dict(type='ReLU')
        self.align_corners = align_corners
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.image_pool = None
        if pool:
            self.image_pool = nn.Sequential(
                nn.AdaptiveAvgPool2d(1),
                ConvModule(in_channels, channels, 1, **common))
        branches = []
        for d in dilations:
            if d == 1:
                branches.append(ConvModule(in_channels, channels, 1, **common))
            elif sep:
                branches.append(
                    DepthwiseSeparableConvModule(
                        in_channels,
                        channels,
                        3,
                        dilation=d,
                        padding=d,
                        norm_cfg=norm_cfg,
                        act_cfg=act_cfg))
            else:
                branches.append(
                    ConvModule(
                        in_channels,
                        channels,
                        3,
                        dilation=d,
                        padding=d,
                        **common))
        self.aspp_modules = nn.ModuleList(branches)
        n_branches = len(dilations) + int(pool)
        self.bottleneck = ConvModule(
            n_branches * channels, channels, 3, padding=1, **common)

    def forward(self, x: Tensor) -> Tensor:
        outs = []
        if self.image_pool is not None:
            outs.append(
                resize(
                    self.image_pool(x),
                    size=x.shape[2:],
                    mode='bilinear',
                    align_corners=self.align_corners))
        outs.extend(branch(x) for branch in self.aspp_modules)
        return self.bottleneck(torch.cat(outs, dim=1))


def build_fusion(fusion_cfg: dict, in_channels: int, channels: int, *,
                 conv_cfg, norm_cfg, act_cfg, align_corners) -> nn.Module:
    """Fusion layer from ``fusion_cfg``.

    ``type``: ``'sepaspp'``, ``'aspp'`` (``sep`` selects depthwise-separable
    branches, default False; the reference writes DAFormer's fusion as
    ``type='aspp', sep=True``), ``'conv1'`` or ``'conv'`` (``kernel_size``,
    default 1). ``norm_cfg`` and ``act_cfg`` default to the head's.
    """
    cfg = dict(copy.deepcopy(fusion_cfg))
    kind = cfg.pop('type')
    norm_cfg = cfg.pop('norm_cfg', norm_cfg)
    act_cfg = cfg.pop('act_cfg', act_cfg)
    if kind in ('sepaspp', 'aspp'):
        layer = ASPPFusion(
            in_channels,
            channels,
            dilations=tuple(cfg.pop('dilations', (1, 6, 12, 18))),
            sep=cfg.pop('sep', kind == 'sepaspp'),
            pool=cfg.pop('pool', False),
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            align_corners=align_corners)
    elif kind in ('conv1', 'conv'):
        kernel_size = cfg.pop('kernel_size', 1)
        if kind == 'conv1' and kernel_size != 1:
            raise ValueError("fusion 'conv1' has kernel_size 1")
        layer = ConvModule(
            in_channels,
            channels,
            kernel_size,
            padding=kernel_size // 2,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)
    else:
        raise ValueError(f'unknown DAFormer fusion type {kind!r} (expected '
                         "'sepaspp', 'aspp', 'conv1' or 'conv')")
    if cfg:
        raise TypeError(f'unused keys in fusion_cfg of type {kind!r}: '
                        f'{sorted(cfg)}')
    return layer


def _check_embed_cfg(name: str, cfg) -> None:
    """The reference's ``embed_cfg``/``embed_neck_cfg``: only the linear
    ``mlp`` embedding (no norm, no activation) is implemented."""
    if cfg is None or cfg == 'same_as_embed_cfg':
        return
    if cfg.get('type', 'mlp') != 'mlp' or cfg.get('norm_cfg') or cfg.get(
            'act_cfg'):
        raise ValueError(f'decoder_params.{name}: only '
                         "dict(type='mlp', norm_cfg=None, act_cfg=None) is "
                         f'supported, got {cfg}')


@MODELS.register_module()
class DAFormerHead(PixelWeightedLossMixin, BaseDecodeHead):
    """DAFormer head over the levels ``in_index`` of a hierarchical encoder.

    Args:
        decoder_params (dict): ``embed_dims`` (int or one per level, default
            256), ``fusion_cfg`` (see :func:`build_fusion`, default
            ``sepaspp`` with dilations (1, 6, 12, 18) and no pooling);
            ``embed_cfg``/``embed_neck_cfg`` of reference configs are
            accepted when they describe the linear embedding.
        **kwargs: :class:`BaseDecodeHead` arguments; ``input_transform`` is
            ``'multiple_select'``.

    Supports per-pixel loss weights (``data_sample.seg_weight``).
    """

    def __init__(self, decoder_params: Union[Dict, None] = None, **kwargs):
        kwargs.setdefault('input_transform', 'multiple_select')
        if kwargs['input_transform'] != 'multiple_select':
            raise ValueError('DAFormerHead needs input_transform='
                             "'multiple_select'")
        super().__init__(**kwargs)
        params = dict(copy.deepcopy(decoder_params or {}))
        embed_dims = params.pop('embed_dims', 256)
        fusion_cfg = params.pop('fusion_cfg', DEFAULT_FUSION)
        _check_embed_cfg('embed_cfg', params.pop('embed_cfg', None))
        _check_embed_cfg('embed_neck_cfg', params.pop('embed_neck_cfg', None))
        if params:
            raise TypeError(f'unused keys in decoder_params: {sorted(params)}')

        n_levels = len(self.in_channels)
        if isinstance(embed_dims, int):
            embed_dims = [embed_dims] * n_levels
        if len(embed_dims) != n_levels:
            raise ValueError(f'{len(embed_dims)} embed_dims for {n_levels} '
                             'input levels')
        self.embed_dims: List[int] = list(embed_dims)
        self.embed_layers = nn.ModuleList(
            MLPEmbed(c, e) for c, e in zip(self.in_channels, embed_dims))
        self.fuse_layer = build_fusion(
            fusion_cfg,
            sum(embed_dims),
            self.channels,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg,
            align_corners=self.align_corners)

    def embed(self, inputs: Sequence[Tensor]) -> List[Tensor]:
        """Embedded levels, each resized to the first selected level."""
        feats = self._transform_inputs(inputs)
        size = feats[0].shape[2:]
        outs = []
        for layer, feat in zip(self.embed_layers, feats):
            out = layer(feat)
            if out.shape[2:] != size:
                out = resize(
                    out,
                    size=size,
                    mode='bilinear',
                    align_corners=self.align_corners)
            outs.append(out)
        return outs

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        # ascending stride order (stride 4 first), as the reference
        fused = self.fuse_layer(torch.cat(self.embed(inputs), dim=1))
        return self.cls_seg(fused)
