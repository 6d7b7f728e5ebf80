"""DeepLab-v2 decode head: the ASPP classifier of AdaptSegNet/PFR.

Gap: mmseg 1.x ships DeepLab-v3 (``ASPPHead``: concatenated branches, a
bottleneck, BN) but not DeepLab-v2, whose classifier is the *sum* of four
dilated 3x3 convolutions that map the backbone features straight to class
logits.
"""
from typing import List, Sequence

import torch.nn as nn
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from torch import Tensor

from .pixel_weighted import PixelWeightedLossMixin


@MODELS.register_module()
class DeepLabV2Head(PixelWeightedLossMixin, BaseDecodeHead):
    """DeepLab-v2 ASPP classifier: ``sum_d Conv3x3_d(x)`` over the dilations
    ``d`` (6, 12, 18, 24), each conv with a bias and ``out_channels``
    (= ``num_classes``) outputs; no bottleneck, no norm, no activation, no
    dropout by default.

    ``BaseDecodeHead`` builds a 1x1 classifier ``conv_seg`` on ``channels``;
    this head has no such layer: ``conv_seg`` is set to ``None`` (no
    parameters) and ``channels`` is ignored (it defaults to ``num_classes``,
    it need not be given). Per-pixel loss weights (``seg_weight``) are
    supported, so the head also works with DACS.

    Args:
        in_channels: channels of the selected backbone level (2048 for
            ResNet-101 stage 5, 1024 for the auxiliary stage-4 classifier).
        dilations: dilation (= padding) of each 3x3 branch.
        init_cfg: default: weights ~ N(0, 0.01) as the reference,
            biases 0.
        **kwargs: as ``BaseDecodeHead`` (``num_classes``, ``in_index``,
            ``loss_decode``, ``align_corners``, ...).
    """

    def __init__(self,
                 in_channels: int,
                 dilations: Sequence[int] = (6, 12, 18, 24),
                 channels: int = None,
                 dropout_ratio: float = 0.0,
                 init_cfg=None,
                 **kwargs):
        if init_cfg is None:
            init_cfg = dict(
                type='Normal', std=0.01, bias=0, override=dict(name='aspp'))
        if 'input_transform' in kwargs and kwargs['input_transform']:
            raise ValueError('DeepLabV2Head takes one feature level '
                             '(input_transform must be None)')
        if not dilations:
            raise ValueError('dilations must not be empty')
        num_classes = kwargs.get('num_classes')
        super().__init__(
            in_channels,
            channels if channels is not None else num_classes,
            dropout_ratio=dropout_ratio,
            init_cfg=init_cfg,
            **kwargs)
        self.dilations = tuple(int(d) for d in dilations)
        self.conv_seg = None  # unused: the ASPP branches are the classifier
        self.aspp = nn.ModuleList([
            nn.Conv2d(
                self.in_channels,
                self.out_channels,
                kernel_size=3,
                padding=d,
                dilation=d,
                bias=True) for d in self.dilations
        ])

    def forward(self, inputs: List[Tensor]) -> Tensor:
        """``(B, out_channels, h, w)`` logits at the feature resolution."""
        x = self._transform_inputs(inputs)
        if self.dropout is not None:
            x = self.dropout(x)
        out = self.aspp[0](x)
        for conv in self.aspp[1:]:
            out = out + conv(x)
        return out

    def cls_seg(self, feat: Tensor) -> Tensor:
        raise NotImplementedError(
            'DeepLabV2Head has no conv_seg: its ASPP branches are the '
            'classifier (use forward)')
