"""DACS self-training (DAFormer's UDA method): source supervision, EMA
teacher pseudo-labels, ClassMix with strong augmentation, and the optional
ImageNet feature distance."""
import copy
import logging
from contextlib import contextmanager, nullcontext
from typing import Dict, Tuple

import torch
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, add_prefix
from torch import Tensor
from torch.profiler import record_function

from ..losses.pixel_weighted_loss import add_pixel_weights
from ..utils import (
    DomainBatch,
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
from .pseudo_labels import ClasswiseThresholds, PseudoLabels


@MODELS.register_module()
class DACS(UDABaseSegmentor):
    """DACS self-training with an EMA teacher (DAFormer, Hoyer et al.,
    CVPR 2022; reference ``mmseg/models/uda/dacs.py``).

    One training step (``train_step``) runs four named stages, each a
    method with named inputs and outputs (as mmdet's ``SemiBaseDetector``):

    1. :meth:`source_stage`: supervised loss on the source batch plus the
       optional ImageNet feature distance on its features;
    2. :meth:`pseudo_label_stage`: the EMA teacher's :obj:`PseudoLabels` of
       the target batch;
    3. :meth:`mixed_stage`: ClassMix of source and target with strong
       augmentation, pixel-weighted loss on the mixed batch;
    4. :meth:`mic_stage` (with ``mic``): MIC's loss on the block-masked
       target batch.

    Every loss is back-propagated as soon as it is computed (so the source
    and mixed graphs are never alive together; the feature distance shares
    the source's backward) and gradients are synchronised across ranks
    once, in the last backward; then one optimizer step.

    Args:
        segmentor: any mmseg segmentor config with per-pixel decode and
            auxiliary heads: their losses are made to apply
            ``data_sample.seg_weight`` (see
            ``models/losses/pixel_weighted_loss.py``).
        pseudo_threshold: confidence threshold of the pseudo-label weight.
        pseudo_threshold_mode: ``'fixed'`` (the reference) or
            ``'classwise'``: class-wise adaptive thresholds capped at
            ``pseudo_threshold`` (:class:`ClasswiseThresholds`; for a teacher
            too unsure to reach the fixed threshold, docs/model_selection.md).
        classwise_momentum: EMA momentum of the class-wise thresholds.
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
                 pseudo_threshold_mode: str = 'fixed',
                 classwise_momentum: float = 0.99,
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
        if pseudo_threshold_mode not in ('fixed', 'classwise'):
            raise ValueError("pseudo_threshold_mode must be 'fixed' or "
                             f"'classwise', got {pseudo_threshold_mode!r}")
        # only with the option: the reference's state_dict keys stay as
        # they are
        self.classwise_thresholds = ClasswiseThresholds(
            self.num_classes, pseudo_threshold, classwise_momentum) if \
            pseudo_threshold_mode == 'classwise' else None
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
        """One DACS step: the stages below in order (each back-propagates
        its own loss), then one optimizer step.

        Args:
            data (dict): ``{'source': {'inputs', 'data_samples'},
                'target': {...}}`` as collated from ``UDADataset``.
            optim_wrapper (OptimWrapper): the student's optim wrapper.

        Returns:
            dict: detached losses and statistics for logging.
        """
        with record_function('uda.preprocess'):
            data = self.data_preprocessor(data, True)
        source = DomainBatch(data['source']['inputs'],
                             data['source']['data_samples'])
        target = DomainBatch(data['target']['inputs'],
                             data['target']['data_samples'])
        log_vars = self.source_stage(source, optim_wrapper)
        pseudo = self.pseudo_label_stage(target, optim_wrapper)
        log_vars['pseudo_weight'] = pseudo.weight.mean()
        mix_logs, debug = self.mixed_stage(source, target, pseudo,
                                           optim_wrapper)
        log_vars.update(mix_logs)
        mic_debug = {}
        if self.mic is not None:
            mic_logs, mic_debug = self.mic_stage(source, target, pseudo,
                                                 optim_wrapper)
            log_vars.update(mic_logs)
        with record_function('uda.optimizer'):
            finish_step(optim_wrapper)
        if self.record_debug:
            self._record_debug(source, target, pseudo, debug, mic_debug)
        log_vars.pop('loss', None)
        return {k: v.detach() for k, v in log_vars.items()}

    def source_stage(self, source: DomainBatch,
                     optim_wrapper: OptimWrapper) -> Dict[str, Tensor]:
        """Supervised loss on the source batch plus the ImageNet feature
        distance on its features, back-propagated together: one backward
        through the student instead of a second one over the retained source
        graph (same gradients, summed before instead of after).

        Returns:
            dict: the stage's detached logs (``src.*``).
        """
        log_vars: Dict[str, Tensor] = {}
        capture = (FirstCallCapture(unwrap(self.student).backbone)
                   if self.feature_dist is not None else nullcontext())
        with record_function('uda.source'), \
                self._stage(optim_wrapper, last=False), capture:
            losses = self.student(source.inputs, source.data_samples,
                                  mode='loss')
            loss, logs = self.parse_losses(add_prefix(losses, 'src'))
            if self.feature_dist is not None:
                with record_function('uda.feature_distance'):
                    fd_loss = self._feature_distance(capture, source.label)
                log_vars['src.' + self.feature_dist.loss_name] = (
                    fd_loss.detach())
                loss = loss + fd_loss
            step_backward(optim_wrapper, loss)
        # Nothing may keep the source graph alive into the next stages: the
        # logs are detached, the capture and losses die with this frame.
        log_vars.update(_detached(logs))
        return log_vars

    @torch.no_grad()
    def pseudo_label_stage(self, target: DomainBatch,
                           optim_wrapper: OptimWrapper) -> PseudoLabels:
        """The EMA teacher's pseudo-labels of the target images, under the
        optim wrapper's autocast (mixed precision runs the teacher in
        bf16/fp16 like the student)."""
        with record_function('uda.teacher'), \
                optim_wrapper.optim_context(self.teacher):
            logits = self.teacher.encode_decode(target.inputs,
                                                target.img_metas)
        with record_function('uda.pseudo_label'):
            threshold = self.pseudo_threshold
            if self.classwise_thresholds is not None:
                threshold = self.classwise_thresholds.update(logits)
            return PseudoLabels.from_logits(
                logits, threshold, self.ignore_top,
                self.ignore_bottom, target.valid_mask)

    def mixed_stage(self, source: DomainBatch, target: DomainBatch,
                    pseudo: PseudoLabels, optim_wrapper: OptimWrapper
                    ) -> Tuple[Dict[str, Tensor], Dict[str, Tensor]]:
        """ClassMix of source and target with strong augmentation, and the
        pixel-weighted loss on the mixed batch (source pixels: their labels,
        weight 1; target pixels: the pseudo-labels and their weight).

        Returns:
            tuple: the stage's detached logs (``mix.*``) and its images
            (``mix_mask``, ``mixed_image``, ``mixed_label``) for debugging.
        """
        with torch.no_grad(), record_function('uda.classmix'):
            mask = classmix_masks(source.label,
                                  per_image=self.classmix_per_image)
            mixed_img = mix(mask, source.inputs, target.inputs)
        with torch.no_grad(), record_function('uda.strong_aug'):
            mixed_img = self.strong_aug(mixed_img, self.data_preprocessor.mean,
                                        self.data_preprocessor.std)
        with torch.no_grad(), record_function('uda.classmix'):
            mixed_label = mix(mask, source.label, pseudo.label[:, None])
            mixed_weight = mix(mask, torch.ones_like(mask),
                               pseudo.weight[:, None])
        samples = labelled_samples(target.data_samples, mixed_label,
                                   mixed_weight)
        with record_function('uda.mixed'), \
                self._stage(optim_wrapper, last=self.mic is None):
            losses = self.student(mixed_img, samples, mode='loss')
            loss, logs = self.parse_losses(add_prefix(losses, 'mix'))
            step_backward(optim_wrapper, loss)
        return _detached(logs), dict(mix_mask=mask, mixed_image=mixed_img,
                                     mixed_label=mixed_label)

    def mic_stage(self, source: DomainBatch, target: DomainBatch,
                  pseudo: PseudoLabels, optim_wrapper: OptimWrapper
                  ) -> Tuple[Dict[str, Tensor], Dict[str, Tensor]]:
        """MIC: the pseudo-labels on the block-masked target images (the
        step's last backward, so the one that synchronises gradients).

        Returns:
            tuple: the stage's detached logs (``mic.*``) and MIC's images
            (``masked_image``, ``mic_mask``, ``masked_pred``) for debugging.
        """
        with record_function('uda.mic'), \
                self._stage(optim_wrapper, last=True):
            losses, debug = self.mic(
                self.student, target, pseudo,
                mean=self.data_preprocessor.mean,
                std=self.data_preprocessor.std,
                source=source, record=self.record_debug)
            loss, logs = self.parse_losses(add_prefix(losses, 'mic'))
            step_backward(optim_wrapper, loss)
        return _detached(logs), debug

    def _record_debug(self, source: DomainBatch, target: DomainBatch,
                      pseudo: PseudoLabels, mixed: Dict[str, Tensor],
                      mic: Dict[str, Tensor]) -> None:
        """Keep the step's images (detached) in ``debug_output`` for
        ``UDAVisualizationHook``."""
        out = dict(
            source_image=source.inputs, source_label=source.label,
            target_image=target.inputs, pseudo_label=pseudo.label[:, None],
            pseudo_weight=pseudo.weight[:, None], **mixed)
        n = target.inputs.shape[0]  # MIC's target part (source may precede)
        out.update({k: v[-n:] for k, v in mic.items()})
        self.debug_output = {k: v.detach() for k, v in out.items()}

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


__all__ = ['DACS', 'imagenet_backbone_cfg', 'select_level']
