"""MIC: masked image consistency (Hoyer et al., CVPR 2023; reference
``mmseg/models/uda/masking_consistency_module.py``)."""
from contextlib import contextmanager
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from mmseg.utils import OptConfigType
from torch import Tensor
from torch.profiler import record_function

from ..utils.ddp import unwrap
from ..utils.strong_aug import StrongAugmentation


@contextmanager
def capture_head_logits(head: nn.Module, store: List[Tensor]):
    """Record the logits of every ``head.forward`` call in the context.

    mmseg's decode heads call ``self.forward`` directly from ``loss``, so a
    forward hook would not fire; the bound method is shadowed by an instance
    attribute for the duration of the context instead. A tuple output (the
    HRDA head's ``(fused, lr, hr)``) records its first element.
    """
    original = head.forward

    def forward(*args, **kwargs):
        out = original(*args, **kwargs)
        first = out[0] if isinstance(out, (tuple, list)) else out
        store.append(first.detach())
        return out

    head.forward = forward
    try:
        yield store
    finally:
        del head.forward


@MODELS.register_module()
class MaskedImageConsistency(nn.Module):
    """The MIC loss of a self-training UDA method.

    The student predicts on a randomly block-masked (optionally colour
    jittered and blurred) copy of the target batch and is trained with the
    pseudo-labels and per-pixel weights that the EMA teacher produced on the
    unmasked images: ``loss_weight * q * CE(f(M * aug(x_T)), p)``. The host
    method (``DACS(mic=dict(...))``) computes ``p`` and ``q`` and passes them
    as ``gt_sem_seg``/``seg_weight`` of the data samples, so the loss is the
    segmentor's own (pixel-weighted) decode loss and any segmentor works:
    with ``HRDAEncoderDecoder`` the masked image takes the multi-resolution
    path (context, detail crop, fusion).

    Args:
        mask_generator: config of the mask generator
            (``BlockMaskGenerator``; default ``mask_ratio=0.7,
            block_size=64``).
        loss_weight: ``lambda`` of the MIC loss (1); multiplies every loss
            term of the segmentor (fused and detail losses of HRDA alike).
        augment: colour jitter and blur the images before masking (GTA and
            Synthia sources: True; Cityscapes -> ACDC/Dark Zurich: False).
        color_jitter_strength, color_jitter_prob, blur: that augmentation,
            as DACS's strong augmentation (own random draws).
        pseudo_threshold: ``None`` shares the host's pseudo-label weight;
            a float makes the host recompute the confidence weight with this
            threshold from the same teacher prediction (0.0: weight 1
            everywhere outside the ignore regions, i.e. no confidence
            weighting).
        mask_source: also mask the source batch (with its labels, weight 1)
            and train on source and target together, the reference's
            ``separate`` mode used for Cityscapes -> ACDC/Dark Zurich.

    An own EMA rate for the MIC teacher is not offered; see ``docs/mic.md``.
    """

    def __init__(self,
                 mask_generator: OptConfigType = None,
                 loss_weight: float = 1.0,
                 augment: bool = True,
                 color_jitter_strength: float = 0.2,
                 color_jitter_prob: float = 0.8,
                 blur: bool = True,
                 pseudo_threshold: Optional[float] = None,
                 mask_source: bool = False):
        super().__init__()
        if mask_generator is None:
            mask_generator = dict(
                type='BlockMaskGenerator', mask_ratio=0.7, block_size=64)
        self.mask_generator = MODELS.build(mask_generator)
        if loss_weight < 0:
            raise ValueError(f'loss_weight must be >= 0, got {loss_weight}')
        if pseudo_threshold is not None and not 0.0 <= pseudo_threshold <= 1:
            raise ValueError('pseudo_threshold must be None or in [0, 1], got '
                             f'{pseudo_threshold}')
        self.loss_weight = float(loss_weight)
        self.augment = augment
        self.strong_aug = StrongAugmentation(
            color_jitter_strength=color_jitter_strength,
            color_jitter_prob=color_jitter_prob,
            blur=blur)
        self.pseudo_threshold = pseudo_threshold
        self.mask_source = mask_source

    @torch.no_grad()
    def masked_inputs(self, img: Tensor, mean: Tensor,
                      std: Tensor) -> Tuple[Tensor, Tensor]:
        """Augment (if ``augment``) then mask normalised images.

        Args:
            img: ``(B, 3, H, W)`` normalised images.
            mean, std: the preprocessor's normalisation, ``(3, 1, 1)``.

        Returns:
            tuple: masked images (masked pixels exactly 0) and the
            ``(B, 1, H, W)`` mask (1 = kept).
        """
        with record_function('uda.mic_augment_mask'):
            if self.augment:
                img = self.strong_aug(img, mean, std)
            return self.mask_generator.mask_image(img)

    def forward(self,
                segmentor: nn.Module,
                img: Tensor,
                data_samples: list,
                mean: Tensor,
                std: Tensor,
                record: bool = False
                ) -> Tuple[Dict[str, Tensor], Dict[str, Tensor]]:
        """Mask ``img`` and compute the student's loss on it.

        Args:
            segmentor: the student (possibly DDP-wrapped; it is called, so
                the call syncs gradients when the caller allows it).
            img: ``(B, 3, H, W)`` normalised images.
            data_samples: samples with ``gt_sem_seg`` (pseudo-labels) and
                ``seg_weight`` (their weights) at the image size.
            mean, std: the preprocessor's normalisation.
            record: also return the prediction on the masked images.

        Returns:
            tuple: the weighted losses (segmentor's keys) and a dict with
            ``masked_image``, ``mic_mask`` and, if ``record``,
            ``masked_pred`` (``(B, 1, H, W)`` argmax labels).
        """
        masked_img, mask = self.masked_inputs(img, mean, std)
        logits: List[Tensor] = []
        if record:
            with capture_head_logits(unwrap(segmentor).decode_head, logits):
                losses = segmentor(masked_img, data_samples, mode='loss')
        else:
            losses = segmentor(masked_img, data_samples, mode='loss')
        if self.loss_weight != 1.0:
            losses = {
                k: v * self.loss_weight if 'loss' in k else v
                for k, v in losses.items()
            }
        extra = dict(masked_image=masked_img, mic_mask=mask)
        if record and logits:
            pred = logits[0].argmax(dim=1, keepdim=True).float()
            extra['masked_pred'] = F.interpolate(
                pred, size=img.shape[2:], mode='nearest').long()
        return losses, extra

    def extra_repr(self) -> str:
        return (f'mask_generator={self.mask_generator!r}, '
                f'loss_weight={self.loss_weight}, augment={self.augment}, '
                f'pseudo_threshold={self.pseudo_threshold}, '
                f'mask_source={self.mask_source}')


__all__ = ['MaskedImageConsistency', 'capture_head_logits']
