"""DACS self-training (DAFormer's UDA method): source supervision, EMA
teacher pseudo-labels, ClassMix with strong augmentation, and the optional
ImageNet feature distance."""
import copy
import logging
from contextlib import contextmanager, nullcontext
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import ConfigType, OptConfigType, add_prefix
from torch import Tensor
from torch.profiler import record_function

from ..losses.pixel_weighted_loss import add_pixel_weights
from ..utils import (
    FirstCallCapture,
    StrongAugmentation,
    classmix_masks,
    finish_step,
    grad_sync,
    labelled_samples,
    mix,
    step_backward,
    unwrap,
)
from .base import UDABaseSegmentor


def pseudo_label_and_weight(logits: Tensor,
                            threshold: float) -> Tuple[Tensor, Tensor]:
    """Hard pseudo-labels and DACS's confidence weight.

    Args:
        logits: ``(B, C, H, W)`` teacher logits.
        threshold: confidence threshold (0.968).

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
        weight: ``(B, H, W)``; modified in place and returned.
        valid_mask: ``(B, H, W)`` 0/1 or None.
    """
    if top > 0:
        weight[:, :top, :] = 0
    if bottom > 0:
        weight[:, -bottom:, :] = 0
    if valid_mask is not None:
        weight *= valid_mask.to(weight.dtype)
    return weight


def _stack_field(samples: List[SegDataSample], name: str) -> Tensor:
    return torch.stack([getattr(s, name).data for s in samples])


@MODELS.register_module()
class DACS(UDABaseSegmentor):
    """DACS self-training with an EMA teacher (DAFormer, Hoyer et al.,
    CVPR 2022; reference ``mmseg/models/uda/dacs.py``).

    One training step (``train_step``): supervised loss on the source batch,
    optional ImageNet feature distance on the source features, teacher
    pseudo-labels on the target batch, ClassMix of source and target with
    strong augmentation, pixel-weighted loss on the mixed batch and, with
    ``mic``, MIC's loss on the block-masked target batch. Every loss
    is back-propagated as soon as it is computed (so the source and mixed
    graphs are never alive together; the feature distance shares the
    source's backward) and gradients are synchronised across
    ranks once, in the last backward; then one optimizer step.

    Args:
        segmentor: any mmseg segmentor config with per-pixel decode and
            auxiliary heads: their losses are made to apply
            ``data_sample.seg_weight`` (see
            ``models/losses/pixel_weighted_loss.py``).
        pseudo_threshold: confidence threshold of the pseudo-label weight.
        pseudo_weight_ignore_top, pseudo_weight_ignore_bottom: rows of the
            target crop whose pseudo-label weight is 0 (DAFormer: 15, 120).
        classmix_per_image: choose the mixed classes among each image's own
            labels; ``False`` reproduces the reference (batch-wide classes).
        color_jitter_strength, color_jitter_prob, blur: the strong
            augmentation of the mixed images.
        imnet_feature_dist: config of a ``FeatureDistanceLoss`` (or None to
            disable the ImageNet feature distance) on the backbone level
            ``feature_level`` of its config; builds a frozen copy of the
            segmentor's backbone with its pretrained weights.
        mic: config of a ``MaskedImageConsistency`` (or None): adds the
            masked image consistency loss as the last stage of the step
            (MIC, docs/mic.md), with the pseudo-labels of this method.
        **kwargs: see :class:`UDABaseSegmentor`.
    """

    def __init__(self,
                 segmentor: ConfigType,
                 pseudo_threshold: float = 0.968,
                 pseudo_weight_ignore_top: int = 0,
                 pseudo_weight_ignore_bottom: int = 0,
                 classmix_per_image: bool = False,
                 color_jitter_strength: float = 0.2,
                 color_jitter_prob: float = 0.8,
                 blur: bool = True,
                 imnet_feature_dist: OptConfigType = None,
                 mic: OptConfigType = None,
                 **kwargs):
        kwargs.setdefault('use_teacher', True)
        if not kwargs['use_teacher']:
            raise ValueError('DACS needs the EMA teacher (use_teacher=True)')
        super().__init__(segmentor=segmentor, **kwargs)
        if not 0.0 <= pseudo_threshold <= 1.0:
            raise ValueError('pseudo_threshold must be in [0, 1], got '
                             f'{pseudo_threshold}')
        # Every decode/auxiliary head of the student applies
        # data_sample.seg_weight (or the build fails naming the head).
        add_pixel_weights(unwrap(self.student))
        self.pseudo_threshold = pseudo_threshold
        self.ignore_top = pseudo_weight_ignore_top
        self.ignore_bottom = pseudo_weight_ignore_bottom
        self.classmix_per_image = classmix_per_image
        self.strong_aug = StrongAugmentation(
            color_jitter_strength=color_jitter_strength,
            color_jitter_prob=color_jitter_prob,
            blur=blur)
        self.feature_dist = None
        self.imnet_backbone = None
        if imnet_feature_dist is not None:
            self.feature_dist = MODELS.build(imnet_feature_dist)
            self.imnet_backbone = MODELS.build(
                imagenet_backbone_cfg(segmentor))
            self.imnet_backbone.requires_grad_(False)
        self.mic = MODELS.build(mic) if mic is not None else None
        # Filled by the last train_step when ``record_debug`` is set (by
        # ``UDAVisualizationHook``), for visualisation only.
        self.record_debug = False
        self.debug_output: Dict[str, Tensor] = {}

    def train(self, mode: bool = True):
        super().train(mode)
        if self.imnet_backbone is not None:
            self.imnet_backbone.eval()  # frozen ImageNet model, always eval
        return self

    @contextmanager
    def _stage(self, optim_wrapper: OptimWrapper, last: bool):
        """One forward+backward: gradient sync only in the ``last`` one,
        autocast as the optim wrapper says."""
        with grad_sync(self.student, enabled=last), \
                optim_wrapper.optim_context(self.student):
            yield

    def train_step(self, data: dict,
                   optim_wrapper: OptimWrapper) -> Dict[str, Tensor]:
        """Args:
            data: ``{'source': {'inputs', 'data_samples'}, 'target': {...}}``
                as collated from ``UDADataset``.

        Returns:
            dict: detached losses and statistics for logging.
        """
        with record_function('uda.preprocess'):
            data = self.data_preprocessor(data, True)
        src, tgt = data['source'], data['target']
        src_img, src_samples = src['inputs'], src['data_samples']
        tgt_img, tgt_samples = tgt['inputs'], tgt['data_samples']
        log_vars: Dict[str, Tensor] = {}

        # 1) source: supervised loss, plus the ImageNet feature distance on
        # the source features, back-propagated together: one backward
        # through the student instead of a second one over the retained
        # source graph (same gradients, summed before instead of after).
        src_label = _stack_field(src_samples, 'gt_sem_seg')
        capture = (FirstCallCapture(unwrap(self.student).backbone)
                   if self.feature_dist is not None else nullcontext())
        with record_function('uda.source'), \
                self._stage(optim_wrapper, last=False), capture:
            losses = self.student(src_img, src_samples, mode='loss')
            loss, logs = self.parse_losses(add_prefix(losses, 'src'))
            if self.feature_dist is not None:
                # 2) ImageNet feature distance on the source features.
                with record_function('uda.feature_distance'):
                    fd_loss = self._feature_distance(capture, src_label)
                log_vars['src.' + self.feature_dist.loss_name] = (
                    fd_loss.detach())
                loss = loss + fd_loss
                del fd_loss
            step_backward(optim_wrapper, loss)
        log_vars.update(_detached(logs))
        # Nothing may keep the source graph alive into the mixed stage.
        del losses, loss, logs
        if self.feature_dist is not None:
            capture.calls.clear()

        # 3) pseudo-labels of the EMA teacher on the target images.
        # under the optim wrapper's autocast too (mixed precision runs the
        # teacher in bf16/fp16 like the student)
        with torch.no_grad(), record_function('uda.teacher'), \
                optim_wrapper.optim_context(self.teacher):
            logits = self.teacher.encode_decode(
                tgt_img, [s.metainfo for s in tgt_samples])
        with torch.no_grad(), record_function('uda.pseudo_label'):
            pseudo_label, pseudo_weight = pseudo_label_and_weight(
                logits, self.pseudo_threshold)
            valid = (_stack_field(tgt_samples, 'valid_pseudo_mask')[:, 0]
                     if 'valid_pseudo_mask' in tgt_samples[0] else None)
            pseudo_weight = apply_ignore_regions(
                pseudo_weight, self.ignore_top, self.ignore_bottom, valid)
        log_vars['pseudo_weight'] = pseudo_weight.mean()

        # 4) ClassMix + strong augmentation, pixel-weighted mixed loss.
        with torch.no_grad(), record_function('uda.classmix'):
            mask = classmix_masks(
                src_label, per_image=self.classmix_per_image)
            mixed_img = mix(mask, src_img, tgt_img)
        with torch.no_grad(), record_function('uda.strong_aug'):
            mixed_img = self.strong_aug(mixed_img, self.data_preprocessor.mean,
                                        self.data_preprocessor.std)
        with torch.no_grad(), record_function('uda.classmix'):
            mixed_label = mix(mask, src_label, pseudo_label[:, None])
            mixed_weight = mix(mask, torch.ones_like(mask),
                               pseudo_weight[:, None])
        mixed_samples = labelled_samples(tgt_samples, mixed_label,
                                          mixed_weight)
        with record_function('uda.mixed'), \
                self._stage(optim_wrapper, last=self.mic is None):
            losses = self.student(mixed_img, mixed_samples, mode='loss')
            loss, logs = self.parse_losses(add_prefix(losses, 'mix'))
            step_backward(optim_wrapper, loss)
        log_vars.update(_detached(logs))

        # 5) MIC: the same pseudo-labels on the masked target images.
        mic_debug = {}
        if self.mic is not None:
            with record_function('uda.mic'), \
                    self._stage(optim_wrapper, last=True):
                losses, mic_debug = self.mic(
                    self.student, tgt_img, tgt_samples, pseudo_label,
                    pseudo_weight, self.data_preprocessor.mean,
                    self.data_preprocessor.std,
                    reweight=lambda threshold: self._pseudo_weight(
                        logits, threshold, valid),
                    source=(src_img, src_label, src_samples),
                    record=self.record_debug)
                loss, logs = self.parse_losses(add_prefix(losses, 'mic'))
                step_backward(optim_wrapper, loss)
            log_vars.update(_detached(logs))

        with record_function('uda.optimizer'):
            finish_step(optim_wrapper)

        if self.record_debug:
            self.debug_output = dict(
                source_image=src_img, source_label=src_label,
                target_image=tgt_img, pseudo_label=pseudo_label[:, None],
                pseudo_weight=pseudo_weight[:, None], mix_mask=mask,
                mixed_image=mixed_img, mixed_label=mixed_label)
            n = tgt_img.shape[0]  # MIC's target part (source may precede)
            self.debug_output.update(
                {k: v[-n:] for k, v in mic_debug.items()})
            self.debug_output = {
                k: v.detach() for k, v in self.debug_output.items()}
        log_vars.pop('loss', None)
        return {k: v.detach() for k, v in log_vars.items()}

    def _pseudo_weight(self, logits: Tensor, threshold: float,
                       valid: Optional[Tensor]) -> Tensor:
        """``(B, H, W)`` confidence weight of the teacher ``logits`` at
        ``threshold``, zero in this method's ignore regions (``valid``: the
        ``(B, H, W)`` valid pseudo-label mask or None)."""
        _, weight = pseudo_label_and_weight(logits, threshold)
        return apply_ignore_regions(weight, self.ignore_top,
                                    self.ignore_bottom, valid)

    def _feature_distance(self, capture: FirstCallCapture,
                          label: Tensor) -> Tensor:
        level = self.feature_dist.feature_level
        with torch.no_grad():
            imnet_feats = self.imnet_backbone(capture.input)
        return self.feature_dist(
            select_level(capture.output, level),
            select_level(imnet_feats, level), label)


def imagenet_backbone_cfg(segmentor: ConfigType) -> dict:
    """Config of the frozen ImageNet copy of the segmentor's backbone.

    mmseg configs give the ImageNet weights either in
    ``backbone.init_cfg`` (MiT, Swin, ConvNeXt) or as the segmentor's
    ``pretrained`` (ResNet's ``open-mmlab://resnet101_v1c``), which
    ``EncoderDecoder`` hands to the backbone as ``backbone.pretrained``; the
    copy gets them the same way.
    """
    cfg = copy.deepcopy(segmentor['backbone'])
    pretrained = segmentor.get('pretrained')
    if pretrained is not None:
        cfg['pretrained'] = pretrained
    init = cfg.get('init_cfg') or {}
    if pretrained is None and not cfg.get('pretrained') and (
            not isinstance(init, dict) or init.get('type') != 'Pretrained'):
        print_log(
            'imnet_feature_dist: the backbone '
            f'{cfg.get("type")} has no ImageNet weights (neither '
            'backbone.init_cfg=dict(type="Pretrained") nor pretrained), so '
            'the feature distance pulls towards a randomly initialised '
            'network', logger='current', level=logging.WARNING)
    return cfg


def select_level(feats, level: int) -> Tensor:
    """Level ``level`` of a backbone's outputs (a tensor is one level)."""
    if isinstance(feats, Tensor):
        if level not in (0, -1):
            raise IndexError(f'feature_level={level}: the backbone returns '
                             'one feature map')
        return feats
    try:
        return feats[level]
    except IndexError:
        raise IndexError(f'feature_level={level}: the backbone returns '
                         f'{len(feats)} feature levels') from None


def _detached(logs: dict) -> dict:
    # parse_losses' values are attached to the graph; logging them must not
    # keep a stage's activations alive into the next stage.
    return {k: v.detach() for k, v in logs.items()}


__all__ = ['DACS', 'apply_ignore_regions', 'pseudo_label_and_weight']
