"""Fully convolutional output-space discriminator of AdaptSegNet."""
from typing import Sequence

import torch.nn as nn
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class FCDiscriminator(BaseModule):
    """Convolutions with kernel 4, stride 2, padding 1 and LeakyReLU between
    them; the last conv outputs one channel of domain logits (no sigmoid:
    the adversarial loss takes logits).

    With the defaults (channels 64, 128, 256, 512, then 1) an ``H x W``
    input gives an ``(B, 1, ~H/32, ~W/32)`` map (each conv halves the size,
    rounding down).

    Args:
        in_channels: channels of the input, the number of classes of the
            segmentation output (softmax probabilities).
        channels: output channels of the hidden convs.
        negative_slope: slope of the LeakyReLU.
        init_cfg: weight initialisation (PyTorch's default when None, as
            the reference).
    """

    def __init__(self,
                 in_channels: int,
                 channels: Sequence[int] = (64, 128, 256, 512),
                 negative_slope: float = 0.2,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if in_channels is None or in_channels < 1:
            raise ValueError(f'in_channels must be >= 1, got {in_channels}')
        self.in_channels = in_channels
        layers = []
        prev = in_channels
        for ch in channels:
            layers += [
                nn.Conv2d(prev, ch, kernel_size=4, stride=2, padding=1),
                nn.LeakyReLU(negative_slope=negative_slope, inplace=True)
            ]
            prev = ch
        layers.append(nn.Conv2d(prev, 1, kernel_size=4, stride=2, padding=1))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, in_channels, H, W)`` -> ``(B, 1, h, w)`` domain logits."""
        return self.layers(x)
