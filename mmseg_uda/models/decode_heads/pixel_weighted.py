"""Per-pixel loss weights for decode heads, carried by the data samples.

Gap: mmseg 1.x's ``BaseDecodeHead.loss_by_feat`` takes its pixel weights only
from an OHEM-style ``sampler``; self-training needs externally computed
weights (pseudo-label confidence, ClassMix source/target weights). Heads that
mix in :class:`PixelWeightedLossMixin` multiply the loss of each pixel by
``data_sample.seg_weight`` (``PixelData``, data of shape ``(1, H, W)``) when
every sample of the batch has one, and behave exactly like mmseg's heads
otherwise. The plugin's heads use it (``HRDAHead`` must: it crops the weight
with the label for its detail loss); any other mmseg head gets the weights
from the UDA model, see ``models/losses/pixel_weighted_loss.py``.
"""
from typing import List, Optional

import torch
import torch.nn as nn
from mmseg.models.utils import resize
from torch import Tensor


def pixel_accuracy(seg_logits: Tensor, seg_label: Tensor,
                   ignore_index: int) -> Tensor:
    """mmseg's top-1 ``accuracy`` (percent of the non-ignored pixels, shape
    ``(1,)``) without its boolean indexing, which syncs with a GPU to size
    the selection.

    Args:
        seg_logits: ``(B, C, H, W)``; seg_label: ``(B, H, W)``.
    """
    eps = torch.finfo(torch.float32).eps
    valid = seg_label != ignore_index
    correct = (seg_logits.argmax(dim=1) == seg_label) & valid
    return ((correct.sum().float() + eps) *
            (100.0 / (valid.sum().float() + eps))).reshape(1)


def stack_seg_weight(batch_data_samples: List) -> Optional[Tensor]:
    """``(B, H, W)`` float weights of a batch, or ``None`` if no sample has
    ``seg_weight``. Raises if only some samples have one (a mixed batch would
    silently train part of it unweighted)."""
    has = ['seg_weight' in s for s in batch_data_samples]
    if not any(has):
        return None
    if not all(has):
        raise ValueError('seg_weight is set on only some data samples of the '
                         f'batch ({sum(has)} of {len(has)})')
    return torch.stack(
        [s.seg_weight.data.float() for s in batch_data_samples]).squeeze(1)


class PixelWeightedLossMixin:
    """Mix into a ``BaseDecodeHead`` subclass (before it in the bases)."""

    supports_seg_weight = True

    def loss_by_feat(self, seg_logits: Tensor,
                     batch_data_samples: List) -> dict:
        """Args:
            seg_logits: ``(B, C, h, w)`` logits of the head.
            batch_data_samples: samples with ``gt_sem_seg`` ``(1, H, W)`` and
                optionally ``seg_weight`` ``(1, H, W)``.

        Returns:
            dict: the head's losses and ``acc_seg``.
        """
        seg_label = self._stack_batch_gt(batch_data_samples)
        seg_logits = resize(
            input=seg_logits,
            size=seg_label.shape[2:],
            mode='bilinear',
            align_corners=self.align_corners)
        seg_weight = stack_seg_weight(batch_data_samples)
        if seg_weight is not None and seg_weight.shape != seg_label.shape[
                0:1] + seg_label.shape[2:]:
            raise ValueError(
                f'seg_weight shape {tuple(seg_weight.shape)} does not match '
                f'gt_sem_seg shape {tuple(seg_label.shape)}')
        if self.sampler is not None:
            sampled = self.sampler.sample(seg_logits, seg_label)
            seg_weight = (sampled if seg_weight is None else
                          seg_weight * sampled)
        seg_label = seg_label.squeeze(1)

        losses_decode = self.loss_decode if isinstance(
            self.loss_decode, nn.ModuleList) else [self.loss_decode]
        loss = dict()
        for loss_decode in losses_decode:
            value = loss_decode(
                seg_logits,
                seg_label,
                weight=seg_weight,
                ignore_index=self.ignore_index)
            name = loss_decode.loss_name
            loss[name] = loss[name] + value if name in loss else value
        loss['acc_seg'] = pixel_accuracy(seg_logits, seg_label,
                                         self.ignore_index)
        return loss
