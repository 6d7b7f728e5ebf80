"""ClassMix (DACS): paste the pixels of half of the source classes onto the
target image."""
from typing import Optional

import torch
from torch import Tensor


def classmix_masks(labels: Tensor,
                   per_image: bool = False,
                   ignore_index: int = 255,
                   generator: Optional[torch.Generator] = None,
                   num_labels: int = 256) -> Tensor:
    """Binary masks of the source pixels to paste.

    For each image, ``ceil(n / 2)`` of its ``n`` candidate classes are chosen
    uniformly without replacement; the mask is 1 on the source pixels of the
    chosen classes.

    Computed for the whole batch at once on the labels' device, without a
    host-device sync (``torch.unique`` would need one to size its output): a
    ``(B, num_labels)`` table of the classes present, one random key per
    (image, class), and the classes whose key is among the ``ceil(n / 2)``
    smallest of the present ones are chosen (a uniform random subset).

    Args:
        labels: ``(B, 1, H, W)`` or ``(B, H, W)`` source labels (integer,
            values in ``[0, num_labels)``).
        per_image: candidate classes are each image's own labels without
            ``ignore_index``. ``False`` (default) reproduces the reference:
            the unique labels of the whole batch, ``ignore_index`` included.
        ignore_index: the ignore label.
        generator: generator of the random keys, on the labels' device or
            the CPU (the device's global RNG if None).
        num_labels: size of the label table (labels are ``uint8`` images:
            256).

    Returns:
        Tensor: ``(B, 1, H, W)`` float masks on the device of ``labels``.
    """
    if labels.dim() == 4:
        labels = labels[:, 0]
    b = labels.shape[0]
    flat = labels.reshape(b, -1).long()
    present = torch.zeros((b, num_labels), dtype=torch.bool,
                          device=labels.device)
    present.scatter_(1, flat, True)
    if per_image:
        if 0 <= ignore_index < num_labels:
            present[:, ignore_index] = False
    else:
        present = present.any(0, keepdim=True).expand(b, -1)
    key_device = labels.device if generator is None else generator.device
    keys = torch.rand((b, num_labels), generator=generator,
                      device=key_device).to(labels.device)
    keys = keys.masked_fill(~present, 2.0)  # absent classes sort last
    n_chosen = (present.sum(1, keepdim=True) + 1) // 2
    kth = keys.sort(1).values.gather(1, (n_chosen - 1).clamp(min=0))
    chosen = present & (keys <= kth) & (n_chosen > 0)
    return chosen.gather(1, flat).view_as(labels).unsqueeze(1).float()


def mix(mask: Tensor, source: Tensor, target: Tensor) -> Tensor:
    """``mask * source + (1 - mask) * target``, broadcasting ``mask``
    ``(B, 1, H, W)`` over channels; keeps the dtype of ``source``."""
    mask = mask.to(source.dtype) if source.is_floating_point() else mask
    out = mask * source + (1 - mask) * target
    return out.to(source.dtype)
