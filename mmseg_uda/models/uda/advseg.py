"""Output-space adversarial training (AdaptSegNet, Tsai et al. 2018).

A segmentation network and a discriminator on its softmax output, trained
alternately with their own optimizers: the generator step trains the
segmentation network on labelled source images and to make its target
output look like source output to the (frozen) discriminator; the
discriminator step trains the discriminator to tell detached source output
(label 0) from detached target output (label 1).
"""
import copy
from contextlib import ExitStack, contextmanager
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, SampleList, add_prefix
from torch import Tensor

from ..losses.adversarial_loss import AdversarialLoss
from ..utils import (
    FirstCallCapture,
    finish_step,
    grad_sync,
    step_backward,
    unwrap,
)
from .base import UDABaseSegmentor

# Levels of the output space: (name of the discriminator child, name used
# in the logs).
_MAIN, _AUX = 'discriminator', 'aux_discriminator'


@MODELS.register_module()
class AdaptSegNet(UDABaseSegmentor):
    """Output-space adversarial UDA (AdaptSegNet, Tsai et al., CVPR 2018;
    docs/adversarial.md), single- or multi-level.

    ``train_step(data, optim_wrapper)`` expects an ``OptimWrapperDict`` with
    the keys ``student``, ``discriminator`` and, for the multi-level
    variant, ``aux_discriminator`` (build it with
    ``optim_wrapper=dict(constructor='MultiOptimWrapperConstructor',
    student=..., discriminator=...)``). One step:

    1. Generator step, discriminators frozen (``requires_grad=False``):
       the student's logits on the target batch are upsampled (bilinear) to
       the input size, turned into probabilities by softmax and fed to the
       discriminator; ``lambda_adv * L_gan(D(p_t), source_label)`` (plus
       ``lambda_adv_aux`` times the same on the auxiliary head's output) is
       back-propagated into the student. Then the supervised loss on the
       source batch (decode head + auxiliary head, as the segmentor's
       ``loss``) is back-propagated.
    2. Discriminator step, discriminators trainable: ``L_gan(D(p_s),
       source_label) / 2`` and ``L_gan(D(p_t), target_label) / 2`` on the
       detached probabilities of step 1.
    3. Every optimizer steps once.

    Under DDP (``UDADistributedDataParallel``: student and discriminators
    each in their own DDP) every module's gradients are all-reduced exactly
    once per step: every forward+backward but the last one touching a
    module runs inside ``grad_sync(module, enabled=False)``; the generator
    step calls the discriminators unwrapped (their parameters get no
    gradient there), and the last student forward (the source one, which
    reaches every parameter, auxiliary head included) goes through the DDP
    wrapper.

    The student must be an ``EncoderDecoder``-like segmentor
    (``backbone``, optional ``neck``, ``decode_head``, optional
    ``auxiliary_head``) whose ``forward(mode='tensor')`` returns the decode
    head's logits.

    Args:
        segmentor: the segmentation network config (e.g. DeepLab-v2).
        discriminator: config of the output-space discriminator
            (default ``FCDiscriminator``); ``in_channels`` defaults to the
            decode head's ``out_channels``.
        aux_discriminator: config of the discriminator of the auxiliary
            head's output (multi-level AdaptSegNet) or None; needs a single
            ``auxiliary_head`` in the segmentor.
        gan_loss: ``'bce'`` (BCE with logits, the reference) or ``'lsgan'``
            (least squares).
        lambda_adv: weight of the adversarial loss of the main output
            (0.001).
        lambda_adv_aux: weight of the auxiliary level's (0.0002).
        source_label, target_label: domain labels of the discriminator.
        **kwargs: see :class:`UDABaseSegmentor` (no teacher).
    """

    #: Back-propagate the target adversarial loss together with the source
    #: losses (one student backward) instead of in its own backward.
    joint_generator_backward = False

    def __init__(self,
                 segmentor: ConfigType,
                 discriminator: OptConfigType = None,
                 aux_discriminator: OptConfigType = None,
                 gan_loss: str = 'bce',
                 lambda_adv: float = 0.001,
                 lambda_adv_aux: float = 0.0002,
                 source_label: float = 0.0,
                 target_label: float = 1.0,
                 **kwargs):
        kwargs.setdefault('use_teacher', False)
        if kwargs['use_teacher']:
            raise ValueError(f'{type(self).__name__} has no teacher '
                             '(use_teacher=False)')
        super().__init__(segmentor=segmentor, **kwargs)
        student = unwrap(self.student)
        for attr in ('backbone', 'decode_head'):
            if not hasattr(student, attr):
                raise TypeError(f'{type(self).__name__} needs an '
                                'EncoderDecoder-like segmentor with '
                                f'{attr!r}, got {type(student).__name__}')
        num_classes = student.decode_head.out_channels
        if discriminator is None:
            discriminator = dict(type='FCDiscriminator')
        self.discriminator = MODELS.build(
            _with_in_channels(discriminator, num_classes))
        self.aux_discriminator = None
        if aux_discriminator is not None:
            aux_head = getattr(student, 'auxiliary_head', None)
            if aux_head is None or isinstance(aux_head, nn.ModuleList):
                raise ValueError('aux_discriminator needs exactly one '
                                 'auxiliary_head in the segmentor')
            self.aux_discriminator = MODELS.build(
                _with_in_channels(aux_discriminator, aux_head.out_channels))
        self.adv_loss = AdversarialLoss(gan_loss)
        self.lambda_adv = lambda_adv
        self.lambda_adv_aux = lambda_adv_aux
        self.source_label = float(source_label)
        self.target_label = float(target_label)

    # -- helpers -----------------------------------------------------------
    @property
    def discriminator_names(self) -> List[str]:
        return [_MAIN] + ([_AUX] if self.aux_discriminator is not None else
                          [])

    def _set_discriminators_trainable(self, flag: bool) -> None:
        for name in self.discriminator_names:
            unwrap(getattr(self, name)).requires_grad_(flag)

    def _feature_modules(self) -> List[nn.Module]:
        """Modules whose outputs the alignment losses need (none here)."""
        return []

    def _seg_forward(
        self, img: Tensor, with_aux: bool = True
    ) -> Tuple[Tensor, Optional[List[Tensor]], List[Tensor]]:
        """One student forward through its (DDP) wrapper (and the
        auxiliary heads on the captured features if ``with_aux``).

        Returns:
            tuple: decode head logits ``(B, C, h, w)``; the auxiliary heads'
            logits (list) or None; outputs of ``_feature_modules()``.
        """
        student = unwrap(self.student)
        feat_module = student.neck if getattr(student, 'with_neck',
                                              False) else student.backbone
        with ExitStack() as stack:
            feats = stack.enter_context(FirstCallCapture(feat_module))
            captures = [
                stack.enter_context(FirstCallCapture(m))
                for m in self._feature_modules()
            ]
            logits = self.student(img, None, mode='tensor')
        aux = None
        if with_aux and getattr(student, 'with_auxiliary_head', False):
            heads = student.auxiliary_head
            heads = heads if isinstance(heads, nn.ModuleList) else [heads]
            aux = [head(feats.output) for head in heads]
        return logits, aux, [c.output for c in captures]

    def _seg_losses(self, logits: Tensor, aux: Optional[List[Tensor]],
                    samples: SampleList) -> Dict[str, Tensor]:
        """The segmentor's supervised losses (names as EncoderDecoder)."""
        student = unwrap(self.student)
        losses = add_prefix(
            student.decode_head.loss_by_feat(logits, samples), 'decode')
        if aux is not None:
            heads = student.auxiliary_head
            if isinstance(heads, nn.ModuleList):
                for i, (head, out) in enumerate(zip(heads, aux)):
                    losses.update(add_prefix(
                        head.loss_by_feat(out, samples), f'aux_{i}'))
            else:
                losses.update(
                    add_prefix(heads.loss_by_feat(aux[0], samples), 'aux'))
        return losses

    def _probs(self, logits: Tensor, aux: Optional[List[Tensor]],
               size) -> Dict[str, Tensor]:
        """Softmax of the logits upsampled to the input size, per
        discriminator level."""
        student = unwrap(self.student)
        probs = {
            _MAIN: _upsampled_softmax(logits, size,
                                      student.decode_head.align_corners)
        }
        if self.aux_discriminator is not None:
            probs[_AUX] = _upsampled_softmax(
                aux[0], size, student.auxiliary_head.align_corners)
        return probs

    def _adv_weight(self, name: str) -> float:
        return self.lambda_adv if name == _MAIN else self.lambda_adv_aux

    def _alignment_losses(self, src_feats: List[Tensor],
                          tgt_feats: List[Tensor]) -> Dict[str, Tensor]:
        """Source/target feature alignment losses (PFR); none here."""
        return {}

    @contextmanager
    def _stage(self, module: nn.Module, optim_wrapper: OptimWrapper,
               last: bool):
        with grad_sync(module, enabled=last), \
                optim_wrapper.optim_context(module):
            yield

    def _check_optim_wrapper(self, optim_wrapper) -> None:
        names = ['student'] + self.discriminator_names
        if not isinstance(optim_wrapper, OptimWrapperDict):
            raise TypeError(
                f'{type(self).__name__}.train_step needs an OptimWrapperDict '
                f'with keys {names}: configure optim_wrapper=dict('
                "constructor='MultiOptimWrapperConstructor', student=..., "
                'discriminator=...)')
        missing = [n for n in names if n not in optim_wrapper]
        if missing:
            raise KeyError(f'optim_wrapper has no {missing} (keys: '
                           f'{list(optim_wrapper.keys())})')

    # -- training ----------------------------------------------------------
    def train_step(self, data: dict,
                   optim_wrapper: OptimWrapperDict) -> Dict[str, Tensor]:
        """Args:
            data: ``{'source': {'inputs', 'data_samples'}, 'target': {...}}``
                as collated from ``UDADataset``.
            optim_wrapper: ``student``, ``discriminator`` (and
                ``aux_discriminator``) optim wrappers.

        Returns:
            dict: detached losses for logging.
        """
        self._check_optim_wrapper(optim_wrapper)
        data = self.data_preprocessor(data, True)
        src, tgt = data['source'], data['target']
        log_vars, src_probs, tgt_probs = self.generator_step(
            src['inputs'], src['data_samples'], tgt['inputs'],
            tgt['data_samples'], optim_wrapper['student'])
        log_vars.update(
            self.discriminator_step(src_probs, tgt_probs, optim_wrapper))
        for name in ['student'] + self.discriminator_names:
            finish_step(optim_wrapper[name])
        return {k: v.detach() for k, v in log_vars.items()}

    def generator_step(
        self, src_img: Tensor, src_samples: SampleList, tgt_img: Tensor,
        tgt_samples: SampleList, optim_wrapper: OptimWrapper
    ) -> Tuple[Dict[str, Tensor], Dict[str, Tensor], Dict[str, Tensor]]:
        """Back-propagate the student's losses (discriminators frozen); no
        optimizer step.

        Returns:
            tuple: log variables, and the detached source and target
            probabilities per discriminator level.
        """
        self._set_discriminators_trainable(False)
        joint = self.joint_generator_backward
        log_vars: Dict[str, Tensor] = {}

        # 1) target: fool the discriminators (their frozen, unwrapped
        # modules: no gradient, no DDP communication for them here).
        with self._stage(self.student, optim_wrapper, last=False):
            logits, aux, tgt_feats = self._seg_forward(
                tgt_img, with_aux=self.aux_discriminator is not None)
            tgt_probs = self._probs(logits, aux, tgt_img.shape[2:])
            adv_losses = {}
            for name, prob in tgt_probs.items():
                d_out = unwrap(getattr(self, name))(prob)
                key = 'tgt.loss_adv' + ('_aux' if name == _AUX else '')
                adv_losses[key] = self._adv_weight(name) * self.adv_loss(
                    d_out, self.source_label)
            if not joint:
                loss, logs = self.parse_losses(adv_losses)
                step_backward(optim_wrapper, loss)
                log_vars.update(logs)
                tgt_feats = None

        # 2) source: supervised loss (and, if joint, the rest); the last
        # student backward: gradients are all-reduced here.
        with self._stage(self.student, optim_wrapper, last=True):
            logits, aux, src_feats = self._seg_forward(src_img)
            src_probs = self._probs(logits, aux, src_img.shape[2:])
            losses = add_prefix(self._seg_losses(logits, aux, src_samples),
                             'src')
            if joint:
                losses.update(adv_losses)
                losses.update(self._alignment_losses(src_feats, tgt_feats))
            loss, logs = self.parse_losses(losses)
            step_backward(optim_wrapper, loss)
            log_vars.update(logs)
        log_vars.pop('loss', None)
        detach = {k: v.detach() for k, v in src_probs.items()}, {
            k: v.detach()
            for k, v in tgt_probs.items()
        }
        return log_vars, detach[0], detach[1]

    def discriminator_step(
            self, src_probs: Dict[str, Tensor], tgt_probs: Dict[str, Tensor],
            optim_wrapper: OptimWrapperDict) -> Dict[str, Tensor]:
        """Back-propagate the discriminators' losses on detached outputs
        (source label for source, target label for target, each halved);
        no optimizer step."""
        self._set_discriminators_trainable(True)
        log_vars = {}
        for name in self.discriminator_names:
            disc = getattr(self, name)
            wrapper = optim_wrapper[name]
            suffix = '_aux' if name == _AUX else ''
            for domain, probs, label, last in (
                    ('src', src_probs, self.source_label, False),
                    ('tgt', tgt_probs, self.target_label, True)):
                with self._stage(disc, wrapper, last=last):
                    loss = self.adv_loss(disc(probs[name].detach()),
                                         label) / 2
                    step_backward(wrapper, loss)
                log_vars[f'disc.{domain}_loss{suffix}'] = loss.detach()
        return log_vars


def _with_in_channels(cfg: ConfigType, in_channels: int) -> dict:
    cfg = copy.deepcopy(dict(cfg))
    if cfg.get('in_channels') is None:
        cfg['in_channels'] = in_channels
    return cfg


def _upsampled_softmax(logits: Tensor, size: Sequence[int],
                       align_corners: bool) -> Tensor:
    if tuple(logits.shape[2:]) != tuple(size):
        logits = resize(
            logits, size=size, mode='bilinear', align_corners=align_corners)
    return torch.softmax(logits, dim=1)


__all__ = ['AdaptSegNet']
