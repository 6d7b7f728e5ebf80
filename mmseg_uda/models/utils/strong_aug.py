"""The strong augmentation of DACS on device tensors: colour jitter and
gaussian blur, applied in [0, 1] RGB space to normalised images.

The per-image random factors are drawn on the images' device (or from the
given generator), never copied from the host: a host-to-device copy of
pageable memory waits for the device, so it would stall every step."""
import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor


def denormalize(img: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """``(B, 3, H, W)`` normalised -> [0, 1] (mean/std in 0..255 units,
    shape ``(3, 1, 1)``)."""
    return (img * std + mean) / 255.0


def normalize(img: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    return (img * 255.0 - mean) / std


def _gray(img: Tensor) -> Tensor:
    r, g, b = img.unbind(1)
    return (0.299 * r + 0.587 * g + 0.114 * b).unsqueeze(1)


def _rgb_to_hsv(img: Tensor):
    r, g, b = img.unbind(1)
    maxc, _ = img.max(1)
    minc, _ = img.min(1)
    delta = maxc - minc
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    h = torch.where(
        maxc == r, ((g - b) / safe) % 6,
        torch.where(maxc == g, (b - r) / safe + 2, (r - g) / safe + 4))
    h = torch.where(delta > 0, h / 6.0, torch.zeros_like(h))
    s = torch.where(maxc > 0, delta / torch.where(maxc > 0, maxc,
                                                   torch.ones_like(maxc)),
                    torch.zeros_like(maxc))
    return h, s, maxc


def _hsv_to_rgb(h: Tensor, s: Tensor, v: Tensor) -> Tensor:
    # f(n) = v - v*s*max(0, min(k, 4-k, 1)), k = (n + 6h) mod 6
    def f(n):
        k = (n + h * 6.0) % 6
        return v - v * s * torch.clamp(torch.minimum(k, 4 - k), 0, 1)

    return torch.stack([f(5.0), f(3.0), f(1.0)], dim=1)


def color_jitter(img: Tensor,
                 strength: float,
                 generator: Optional[torch.Generator] = None) -> Tensor:
    """Per-image random brightness, contrast, saturation (factors in
    ``[1 - s, 1 + s]``) and hue (shift in ``[-s, s]`` of a full turn, as
    kornia's ``ColorJitter``), in that order, on ``[0, 1]`` RGB.

    Args:
        img: ``(B, 3, H, W)`` in [0, 1].
        strength: ``s`` (0.2 in DAFormer).
    """
    b = img.shape[0]

    def factors(low, high):
        u = _rand(b, img, generator)
        return (low + (high - low) * u).view(b, 1, 1, 1)

    s = strength
    img = (img * factors(max(0., 1 - s), 1 + s)).clamp(0, 1)
    mean = _gray(img).mean(dim=(2, 3), keepdim=True)
    img = (mean + factors(max(0., 1 - s), 1 + s) * (img - mean)).clamp(0, 1)
    gray = _gray(img)
    img = (gray + factors(max(0., 1 - s), 1 + s) * (img - gray)).clamp(0, 1)
    h, sat, v = _rgb_to_hsv(img)
    shift = factors(-s, s).view(b, 1, 1)
    img = _hsv_to_rgb((h + shift) % 1.0, sat, v)
    return img.clamp(0, 1)


def _rand(n: int, like: Tensor,
          generator: Optional[torch.Generator] = None) -> Tensor:
    """``n`` draws of ``U(0, 1)`` on ``like``'s device and dtype, from
    ``generator`` (drawn on its device) or the device's global RNG."""
    device = like.device if generator is None else generator.device
    return torch.rand(n, generator=generator, device=device).to(like)


def blur_kernel_size(size: int) -> int:
    """The reference's kernel size for an image side: the largest odd number
    not above ``ceil(0.1 * size)``."""
    c = math.ceil(0.1 * size)
    return int(math.floor(c - 0.5 + c % 2))


def gaussian_blur(img: Tensor, sigma: Tensor) -> Tensor:
    """Separable gaussian blur with per-image ``sigma`` ``(B,)`` and the
    reference's kernel size, reflect padding (as kornia's default)."""
    b, c, h, w = img.shape
    out = img
    for dim, size in ((2, h), (3, w)):
        k = blur_kernel_size(size)
        if k < 3:
            continue
        x = torch.arange(k, device=img.device, dtype=img.dtype) - k // 2
        kernel = torch.exp(-x[None] ** 2 / (2 * sigma.to(img)[:, None] ** 2))
        kernel = kernel / kernel.sum(1, keepdim=True)  # (B, k)
        pad = k // 2
        # (B, k) -> (B * C, k), image-major as the channels of the batch
        # (expand, not repeat_interleave: that one syncs to size its output)
        kernel = kernel[:, None].expand(b, c, k).reshape(b * c, k)
        if dim == 2:
            weight = kernel.view(b * c, 1, k, 1)
            padded = F.pad(out.reshape(1, b * c, h, w), (0, 0, pad, pad),
                           mode='reflect')
        else:
            weight = kernel.view(b * c, 1, 1, k)
            padded = F.pad(out.reshape(1, b * c, h, w), (pad, pad, 0, 0),
                           mode='reflect')
        out = F.conv2d(padded, weight, groups=b * c).view(b, c, h, w)
    return out


class StrongAugmentation:
    """Colour jitter and gaussian blur of normalised images, as DACS's
    strong transform of the mixed image.

    Args:
        mean, std: the data preprocessor's normalisation, ``(3, 1, 1)``
            tensors in 0..255 units (RGB order as the normalised images).
        color_jitter_strength: ``s`` of the jitter (0.2).
        color_jitter_prob: probability to apply the jitter (0.8: the
            reference applies it when ``U(0, 1) > 0.2``).
        blur: whether to apply the blur (with probability 0.5,
            ``sigma ~ U(0.15, 1.15)`` per image).

    The apply/skip decisions are drawn once per call (shared by the batch),
    the jitter factors and blur sigma per image, as in the reference.
    """

    def __init__(self,
                 color_jitter_strength: float = 0.2,
                 color_jitter_prob: float = 0.8,
                 blur: bool = True):
        self.strength = color_jitter_strength
        self.jitter_prob = color_jitter_prob
        self.blur = blur

    def __call__(self,
                 img: Tensor,
                 mean: Tensor,
                 std: Tensor,
                 generator: Optional[torch.Generator] = None) -> Tensor:
        """Args:
            img: ``(B, 3, H, W)`` normalised images.

        Returns:
            Tensor: augmented, normalised ``(B, 3, H, W)``.
        """
        # host-side decisions (a CPU draw: no device sync), so a skipped
        # transform costs nothing
        cpu_gen = (generator if generator is None
                   or generator.device.type == 'cpu' else None)
        u_jitter, u_blur = torch.rand(2, generator=cpu_gen).tolist()
        apply_jitter = self.strength > 0 and u_jitter < self.jitter_prob
        apply_blur = self.blur and u_blur > 0.5
        if not (apply_jitter or apply_blur):
            return img
        mean, std = mean.to(img), std.to(img)
        out = denormalize(img, mean, std)
        if apply_jitter:
            out = color_jitter(out, self.strength, generator)
        if apply_blur:
            sigma = 0.15 + _rand(img.shape[0], img, generator)
            out = gaussian_blur(out, sigma)
        return normalize(out, mean, std)
