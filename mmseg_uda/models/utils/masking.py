"""Random block masks of MIC (masked image consistency, Hoyer et al.,
CVPR 2023; reference ``mmseg/models/utils/masking_transforms.py``)."""
import math
from typing import Optional, Sequence, Tuple

import torch
from mmseg.registry import MODELS
from torch import Tensor


def block_mask(shape: Sequence[int],
               block_size: int,
               mask_ratio: float,
               device=None,
               generator: Optional[torch.Generator] = None) -> Tensor:
    """A random block mask ``M = [v > r]`` (1 = keep, 0 = masked).

    One ``v ~ U(0, 1]`` per ``block_size x block_size`` block, each block
    masked with probability exactly ``mask_ratio`` (``v`` is drawn from
    ``(0, 1]`` so that ``mask_ratio=0`` keeps every pixel). Blocks are
    anchored at the top-left corner; when a side is not a multiple of
    ``block_size`` the last row/column of blocks is cut off.

    Args:
        shape: ``(B, H, W)`` or ``(B, C, H, W)`` (only ``B, H, W`` used).
        block_size: side of a block in pixels.
        mask_ratio: ``r`` in ``[0, 1]``.
        device: device of the mask.
        generator: a CPU generator for the draws (global RNG if None).

    Returns:
        Tensor: ``(B, 1, H, W)`` float mask of 0/1.
    """
    b, h, w = shape[0], shape[-2], shape[-1]
    gh, gw = math.ceil(h / block_size), math.ceil(w / block_size)
    # Drawn where the mask is used (a host-to-device copy would wait for
    # the device), or on the generator's device.
    draw_device = device if generator is None else generator.device
    v = 1.0 - torch.rand((b, 1, gh, gw), generator=generator,
                         device=draw_device)
    keep = (v > mask_ratio).float()
    # each cell -> a block_size x block_size block (expand, not
    # repeat_interleave: that one syncs to size its output)
    keep = keep[:, :, :, None, :, None].expand(
        b, 1, gh, block_size, gw, block_size).reshape(
            b, 1, gh * block_size, gw * block_size)[:, :, :h, :w]
    return keep.to(device) if device is not None else keep


@MODELS.register_module()
class BlockMaskGenerator:
    """Random patch masking of MIC: each ``block_size`` block of the image is
    set to 0 (in normalised space, i.e. the dataset mean colour) with
    probability ``mask_ratio``.

    Args:
        mask_ratio: fraction of masked blocks ``r`` (0.7).
        block_size: block side ``b`` in pixels of the network input (64 at
            HRDA's 1024 crops, 32 at DAFormer's 512 crops).

    Note:
        The reference draws the block grid with ``round(H / b)`` cells and
        nearest-upsamples it, which makes blocks uneven when ``b`` does not
        divide the crop; here every block is exactly ``b x b`` (the last
        ones cut off). Identical for the published crop/block sizes.
    """

    def __init__(self, mask_ratio: float = 0.7, block_size: int = 64):
        if not 0.0 <= mask_ratio <= 1.0:
            raise ValueError(f'mask_ratio must be in [0, 1], got {mask_ratio}')
        if int(block_size) != block_size or block_size < 1:
            raise ValueError(
                f'block_size must be a positive integer, got {block_size}')
        self.mask_ratio = float(mask_ratio)
        self.block_size = int(block_size)

    def generate_mask(self,
                      imgs: Tensor,
                      generator: Optional[torch.Generator] = None) -> Tensor:
        """``(B, 1, H, W)`` 0/1 mask (1 = keep) for ``(B, C, H, W)``
        images, of their dtype and device."""
        return block_mask(imgs.shape, self.block_size, self.mask_ratio,
                          device=imgs.device, generator=generator).to(imgs)

    @torch.no_grad()
    def mask_image(
            self,
            imgs: Tensor,
            generator: Optional[torch.Generator] = None
    ) -> Tuple[Tensor, Tensor]:
        """Masked normalised images (masked pixels 0) and the mask.

        Returns:
            tuple: ``(B, C, H, W)`` masked images and ``(B, 1, H, W)`` mask.
        """
        mask = self.generate_mask(imgs, generator)
        return imgs * mask, mask

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(mask_ratio={self.mask_ratio}, '
                f'block_size={self.block_size})')


__all__ = ['BlockMaskGenerator', 'block_mask']
