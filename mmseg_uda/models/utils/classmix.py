"""ClassMix (DACS): paste the pixels of half of the source classes onto the
target image."""
from typing import Optional

import torch
from torch import Tensor


def classmix_masks(labels: Tensor,
                   per_image: bool = False,
                   ignore_index: int = 255,
                   generator: Optional[torch.Generator] = None) -> Tensor:
    """Binary masks of the source pixels to paste.

    For each image, ``ceil(n / 2)`` of its ``n`` candidate classes are chosen
    uniformly without replacement; the mask is 1 on the source pixels of the
    chosen classes.

    Args:
        labels: ``(B, 1, H, W)`` or ``(B, H, W)`` source labels (long).
        per_image: candidate classes are each image's own labels without
            ``ignore_index``. ``False`` (default) reproduces the reference:
            the unique labels of the whole batch, ``ignore_index`` included.
        ignore_index: the ignore label.
        generator: CPU generator for the class choice (global RNG if None).

    Returns:
        Tensor: ``(B, 1, H, W)`` float masks on the device of ``labels``.
    """
    if labels.dim() == 4:
        labels = labels[:, 0]
    batch_classes = None if per_image else torch.unique(labels)
    masks = []
    for label in labels:
        if per_image:
            classes = torch.unique(label)
            classes = classes[classes != ignore_index]
        else:
            classes = batch_classes
        n = classes.numel()
        choice = torch.randperm(n, generator=generator)[:(n + 1) // 2]
        chosen = classes[choice.to(classes.device)]
        masks.append(torch.isin(label, chosen))
    return torch.stack(masks).unsqueeze(1).float()


def mix(mask: Tensor, source: Tensor, target: Tensor) -> Tensor:
    """``mask * source + (1 - mask) * target``, broadcasting ``mask``
    ``(B, 1, H, W)`` over channels; keeps the dtype of ``source``."""
    mask = mask.to(source.dtype) if source.is_floating_point() else mask
    out = mask * source + (1 - mask) * target
    return out.to(source.dtype)
