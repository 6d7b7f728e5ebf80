"""Pseudo-labels of self-training: the EMA teacher's hard labels on the
target batch and their per-pixel loss weights (DACS's confidence weight,
zero in the ignore regions)."""
from dataclasses import dataclass
from typing import Optional, Tuple, Union

import torch
from torch import Tensor, nn


def pseudo_label_and_weight(logits: Tensor,
                            threshold: Union[float, Tensor]
                            ) -> Tuple[Tensor, Tensor]:
    """Hard pseudo-labels and DACS's confidence weight.

    Args:
        logits (Tensor): ``(B, C, H, W)`` teacher logits.
        threshold (float | Tensor): confidence threshold (DAFormer: 0.968),
            or a ``(C,)`` tensor of per-class thresholds (a pixel counts as
            confident when its max probability reaches the threshold of its
            label; :class:`ClasswiseThresholds`).

    Returns:
        tuple: ``(B, H, W)`` long labels and ``(B, H, W)`` float weights, all
        equal to the fraction of the batch's pixels whose max probability is
        ``>= threshold`` (one scalar per batch, as the reference).
    """
    # float32 softmax: a bf16/fp16 teacher's logits would round the
    # probabilities near the threshold
    max_prob, label = torch.softmax(
        logits.detach().float(), dim=1).max(dim=1)
    if isinstance(threshold, Tensor):
        threshold = threshold.to(max_prob)[label]
    confident = (max_prob >= threshold).float().mean()
    return label, confident.expand_as(max_prob).clone()


class ClasswiseThresholds(nn.Module):
    """Class-wise adaptive pseudo-label thresholds (DACS
    ``pseudo_threshold_mode='classwise'``): for each class, an exponential
    moving average of the teacher's mean max probability on the pixels it
    labels with the class, capped at the fixed threshold, so that a teacher
    that is still unsure (tiny or scratch models, many classes, hard shifts)
    gets pseudo-labels with a non-zero weight, and the bar rises to the
    fixed threshold as it becomes confident. Self-adaptive thresholds as in
    FreeMatch (Wang et al., ICLR 2023), class-wise as in class-balanced
    self-training (Zou et al., ECCV 2018).

    The averages live on the device (a buffer, saved in checkpoints and
    resumed) and are updated without a host sync; under DDP each rank keeps
    the averages of its own target batches.

    Args:
        num_classes (int): number of classes.
        cap (float): the fixed threshold, the upper bound.
        momentum (float): EMA momentum. Defaults to 0.99.
    """

    def __init__(self, num_classes: int, cap: float, momentum: float = 0.99):
        super().__init__()
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f'momentum must be in [0, 1), got {momentum}')
        self.cap = cap
        self.momentum = momentum
        # start at chance level (1 / C), as FreeMatch
        self.register_buffer('confidence',
                             torch.full((num_classes, ), 1.0 / num_classes))

    @torch.no_grad()
    def update(self, logits: Tensor) -> Tensor:
        """Fold the batch ``logits`` (``(B, C, H, W)``) into the averages;
        returns the ``(C,)`` thresholds. A class that no pixel of the batch
        is labelled with keeps its average."""
        max_prob, label = torch.softmax(logits.float(), dim=1).max(dim=1)
        num = self.confidence.numel()
        label = label.flatten()
        sums = torch.zeros(num, device=label.device).scatter_add_(
            0, label, max_prob.flatten())
        counts = torch.bincount(label, minlength=num).float()
        mean = sums / counts.clamp_min(1)
        ema = self.momentum * self.confidence + (1 - self.momentum) * mean
        self.confidence.copy_(torch.where(counts > 0, ema, self.confidence))
        return self.confidence.clamp(max=self.cap)


def apply_ignore_regions(weight: Tensor,
                         top: int = 0,
                         bottom: int = 0,
                         valid_mask: Optional[Tensor] = None) -> Tensor:
    """Zero the pseudo-label weight on the top/bottom rows (DAFormer) and
    outside ``valid_mask`` (HRDA/MIC's ``valid_pseudo_mask``).

    Args:
        weight (Tensor): ``(B, H, W)``; modified in place and returned.
        top (int): rows at the top with weight 0. Defaults to 0.
        bottom (int): rows at the bottom with weight 0. Defaults to 0.
        valid_mask (Tensor, optional): ``(B, H, W)`` 0/1. Defaults to None.
    """
    if top > 0:
        weight[:, :top, :] = 0
    if bottom > 0:
        weight[:, -bottom:, :] = 0
    if valid_mask is not None:
        weight *= valid_mask.to(weight.dtype)
    return weight


@dataclass
class PseudoLabels:
    """The pseudo-labels of one target batch, what the stages after the
    teacher's (mixed, MIC) train on.

    Args:
        label (Tensor): ``(B, H, W)`` long hard labels.
        weight (Tensor): ``(B, H, W)`` float per-pixel loss weights, zero in
            the ignore regions.
        logits (Tensor, optional): ``(B, C, H, W)`` teacher logits they were
            computed from (re-weighting at another threshold needs them).
            Defaults to None.
        valid_mask (Tensor, optional): ``(B, H, W)`` 0/1 valid pseudo-label
            mask of the target samples. Defaults to None.
        ignore_top (int): top rows with weight 0. Defaults to 0.
        ignore_bottom (int): bottom rows with weight 0. Defaults to 0.
    """
    label: Tensor
    weight: Tensor
    logits: Optional[Tensor] = None
    valid_mask: Optional[Tensor] = None
    ignore_top: int = 0
    ignore_bottom: int = 0

    @classmethod
    def from_logits(cls,
                    logits: Tensor,
                    threshold: Union[float, Tensor],
                    ignore_top: int = 0,
                    ignore_bottom: int = 0,
                    valid_mask: Optional[Tensor] = None) -> 'PseudoLabels':
        """DACS's pseudo-labels of the teacher ``logits``: argmax labels,
        the batch's confident share as weight, zero in the ignore regions
        (see :func:`pseudo_label_and_weight`, :func:`apply_ignore_regions`).
        """
        label, weight = pseudo_label_and_weight(logits, threshold)
        weight = apply_ignore_regions(weight, ignore_top, ignore_bottom,
                                      valid_mask)
        return cls(label, weight, logits, valid_mask, ignore_top,
                   ignore_bottom)

    def weight_at(self, threshold: float) -> Tensor:
        """``(B, H, W)`` weight of the same teacher prediction at another
        confidence ``threshold``, zero in the same ignore regions."""
        if self.logits is None:
            raise ValueError('PseudoLabels.weight_at needs the teacher '
                             'logits (PseudoLabels.from_logits keeps them)')
        return type(self).from_logits(self.logits, threshold,
                                      self.ignore_top, self.ignore_bottom,
                                      self.valid_mask).weight


__all__ = [
    'ClasswiseThresholds', 'PseudoLabels', 'apply_ignore_regions',
    'pseudo_label_and_weight'
]
