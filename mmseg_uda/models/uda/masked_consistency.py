"""MIC: masked image consistency (Hoyer et al., CVPR 2023; reference
``mmseg/models/uda/masking_consistency_module.py``).

A stage of a self-training UDA method, not a loss: it builds its own batch
and runs the student's forward on it, so it lives next to the method
(``DACS(mic=dict(type='MaskedImageConsistency', ...))``)."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import OptConfigType
from torch import Tensor
from torch.profiler import record_function

from ..utils import DomainBatch, StrongAugmentation, labelled_samples, unwrap
from .pseudo_labels import PseudoLabels


@MODELS.register_module()
class MaskedImageConsistency(nn.Module):
    """The MIC stage of a self-training UDA method.

    The student predicts on a randomly block-masked (optionally colour
    jittered and blurred) copy of the target batch and is trained with the
    pseudo-labels and per-pixel weights that the EMA teacher produced on the
    unmasked images: ``loss_weight * q * CE(f(M * aug(x_T)), p)``. The host
    method (``DACS(mic=dict(...))``) hands over the target batch and its
    :obj:`PseudoLabels` (``p``, ``q`` and the teacher logits to re-weight
    ``p`` at another threshold), and the source batch; this module builds
    its batch from them (its own threshold, source masking) and puts
    ``p``/``q`` in ``gt_sem_seg``/``seg_weight`` of its data samples, so
    the loss is the segmentor's own
    (pixel-weighted) decode loss and any segmentor works:
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
            a float recomputes the confidence weight with this threshold
            from the same teacher prediction (``PseudoLabels.weight_at``; 0.0:
            weight 1 everywhere outside the ignore regions, i.e. no
            confidence weighting).
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

    @torch.no_grad()
    def build_batch(self,
                    target: DomainBatch,
                    pseudo: PseudoLabels,
                    source: Optional[DomainBatch] = None
                    ) -> Tuple[Tensor, List[SegDataSample]]:
        """Images and labelled samples of the MIC stage (before masking).

        Args:
            target (:obj:`DomainBatch`): the preprocessed target batch.
            pseudo (:obj:`PseudoLabels`): the host's pseudo-labels of it;
                with ``pseudo_threshold`` their teacher logits are
                re-weighted at that threshold (same ignore regions).
            source (:obj:`DomainBatch`, optional): the source batch, needed
                with ``mask_source`` (it precedes the target batch, with its
                labels and weight 1). Defaults to None.

        Returns:
            tuple: images and samples with ``gt_sem_seg``/``seg_weight``.
        """
        weight = (pseudo.weight if self.pseudo_threshold is None else
                  pseudo.weight_at(self.pseudo_threshold))
        img, samples = target.inputs, list(target.data_samples)
        label, weight = pseudo.label[:, None], weight[:, None]
        if self.mask_source:
            if source is None:
                raise ValueError('MaskedImageConsistency(mask_source=True) '
                                 'needs the source batch')
            img = torch.cat([source.inputs, img])
            samples = list(source.data_samples) + samples
            label = torch.cat([source.label, label])
            weight = torch.cat(
                [torch.ones_like(source.label, dtype=weight.dtype), weight])
        return img, labelled_samples(samples, label, weight)

    def forward(self,
                segmentor: nn.Module,
                target: DomainBatch,
                pseudo: PseudoLabels,
                mean: Tensor,
                std: Tensor,
                source: Optional[DomainBatch] = None,
                record: bool = False
                ) -> Tuple[Dict[str, Tensor], Dict[str, Tensor]]:
        """Build the batch (:meth:`build_batch`), mask it and compute the
        student's loss on it.

        Args:
            segmentor (nn.Module): the student (possibly DDP-wrapped; it is
                called, so the call syncs gradients when the caller allows
                it).
            target (:obj:`DomainBatch`): see :meth:`build_batch`.
            pseudo (:obj:`PseudoLabels`): see :meth:`build_batch`.
            mean (Tensor): the preprocessor's mean, ``(3, 1, 1)``.
            std (Tensor): the preprocessor's std, ``(3, 1, 1)``.
            source (:obj:`DomainBatch`, optional): see :meth:`build_batch`.
                Defaults to None.
            record (bool): also return the student's prediction on the
                masked images (a separate no-grad forward in eval mode, so
                the training forward and its random draws are untouched).
                Defaults to False.

        Returns:
            tuple: the weighted losses (segmentor's keys) and a dict with
            ``masked_image``, ``mic_mask`` and, if ``record``,
            ``masked_pred`` (``(B, 1, H, W)`` argmax labels).
        """
        img, samples = self.build_batch(target, pseudo, source)
        masked_img, mask = self.masked_inputs(img, mean, std)
        losses = segmentor(masked_img, samples, mode='loss')
        if self.loss_weight != 1.0:
            losses = {
                k: v * self.loss_weight if 'loss' in k else v
                for k, v in losses.items()
            }
        extra = dict(masked_image=masked_img, mic_mask=mask)
        if record:
            extra['masked_pred'] = predict_labels(
                unwrap(segmentor), masked_img, [s.metainfo for s in samples])
        return losses, extra

    def extra_repr(self) -> str:
        return (f'mask_generator={self.mask_generator!r}, '
                f'loss_weight={self.loss_weight}, augment={self.augment}, '
                f'pseudo_threshold={self.pseudo_threshold}, '
                f'mask_source={self.mask_source}')


@torch.no_grad()
def predict_labels(segmentor: nn.Module, img: Tensor,
                   batch_img_metas: List[dict]) -> Tensor:
    """``(B, 1, H, W)`` argmax labels of ``segmentor.encode_decode`` on
    ``img``, in eval mode (no dropout or drop-path draws, no BN statistics
    update); the training mode is restored afterwards."""
    training = segmentor.training
    segmentor.eval()
    try:
        logits = segmentor.encode_decode(img, batch_img_metas)
    finally:
        segmentor.train(training)
    return logits.argmax(dim=1, keepdim=True)


__all__ = ['MaskedImageConsistency', 'predict_labels']
