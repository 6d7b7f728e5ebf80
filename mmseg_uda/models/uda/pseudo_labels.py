"""Pseudo-labels of self-training: the EMA teacher's hard labels on the
target batch and their per-pixel loss weights (DACS's confidence weight,
zero in the ignore regions)."""
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
from torch import Tensor


def pseudo_label_and_weight(logits: Tensor,
                            threshold: float) -> Tuple[Tensor, Tensor]:
    """Hard pseudo-labels and DACS's confidence weight.

    Args:
        logits (Tensor): ``(B, C, H, W)`` teacher logits.
        threshold (float): confidence threshold (DAFormer: 0.968).

    Returns:
        tuple: ``(B, H, W)`` long labels and ``(B, H, W)`` float weights, all
        equal to the fraction of the batch's pixels whose max probability is
        ``>= threshold`` (one scalar per batch, as the reference).
    """
    # float32 softmax: a bf16/fp16 teacher's logits would round the
    # probabilities near the threshold
    max_prob, label = torch.softmax(
        logits.detach().float(), dim=1).max(dim=1)
    confident = (max_prob >= threshold).float().mean()
    return label, confident.expand_as(max_prob).clone()


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
                    threshold: float,
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


__all__ = ['PseudoLabels', 'apply_ignore_regions', 'pseudo_label_and_weight']
