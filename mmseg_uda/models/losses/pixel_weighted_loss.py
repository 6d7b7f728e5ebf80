"""Per-pixel loss weights (``data_sample.seg_weight``) for any mmseg decode
head, without a subclass and without changing the segmentor's state dict.

Gap: mmseg 1.x's ``BaseDecodeHead.loss_by_feat`` passes its loss modules a
per-pixel ``weight`` only from an OHEM ``sampler``; self-training needs
externally computed weights (pseudo-label confidence, ClassMix source/target
weights). The one place every per-pixel head reaches is the call of its loss
modules, ``loss_decode(seg_logits, seg_label, weight=..., ignore_index=...)``
with ``seg_label`` of shape ``(B, H, W)``, so that is where the weights are
applied:

* :func:`add_pixel_weights` (called by the UDA model when it builds the
  student) replaces each ``loss_decode`` entry of every decode and auxiliary
  head by a :class:`PixelWeightedLoss` that multiplies the ``weight`` it is
  given (``None`` or the sampler's) by the batch's ``seg_weight``;
* the batch's samples reach the wrappers through a :class:`SegWeightScope`,
  opened by a forward pre-hook on the segmentor for the duration of each
  ``forward(mode='loss')`` (the call every training path makes, also through
  DDP), and closed by a forward hook, also on errors.

Loss modules hold no parameters or buffers (checked), so the wrapper adds no
state-dict key: stock checkpoints load with ``strict=True`` and exported
students load into plain mmseg. Heads whose loss is not a per-pixel loss on
the label map fail when the model is built (:func:`check_pixel_weightable`).
"""
from typing import Iterator, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.utils import digit_version
from mmseg.models.decode_heads import DAHead
from mmseg.models.decode_heads.cascade_decode_head import BaseCascadeDecodeHead
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.losses import CrossEntropyLoss
from torch import Tensor

from ..decode_heads.pixel_weighted import stack_seg_weight

# ``loss``/``loss_by_feat`` implementations known to call the loss modules
# with the full ``(B, H, W)`` label map of the samples (DAHead: mmseg's
# ``loss_by_feat`` once per output, as the reference weighted it).
_PER_PIXEL_LOSS = (BaseDecodeHead.loss, BaseCascadeDecodeHead.loss)
_PER_PIXEL_LOSS_BY_FEAT = (BaseDecodeHead.loss_by_feat, DAHead.loss_by_feat)
# Losses whose ``weight`` argument is a per-pixel ``(B, H, W)`` weight;
# another loss opts in with a class attribute ``supports_pixel_weight``.
_PIXEL_WEIGHT_LOSSES = (CrossEntropyLoss, )


class SegWeightScope:
    """The samples of the batch whose loss a segmentor is computing.

    Opened and closed by the forward hooks :func:`add_pixel_weights`
    registers; read by the segmentor's :class:`PixelWeightedLoss` modules.
    The stacked weight is computed once per forward and shared by every loss
    call of it (decode head, auxiliary heads, several outputs).
    """

    def __init__(self):
        self._samples: Optional[List] = None
        self._weight: Optional[Tensor] = None
        self._stacked = False

    @property
    def active(self) -> bool:
        return self._samples is not None

    def open(self, samples: List) -> None:
        if self.active:
            raise RuntimeError('a segmentor loss is already being computed '
                               '(nested forward(mode="loss") calls)')
        self._samples = list(samples)
        self._weight, self._stacked = None, False

    def close(self) -> None:
        self._samples, self._weight, self._stacked = None, None, False

    def weight(self) -> Optional[Tensor]:
        """``(B, H, W)`` float ``seg_weight`` of the batch, or ``None``."""
        if not self.active:
            raise RuntimeError(
                'a pixel-weighted loss was called outside the segmentor\'s '
                'forward(mode="loss"): call the segmentor (segmentor(inputs, '
                'data_samples, mode="loss")), not segmentor.loss(), so the '
                'samples\' seg_weight reaches the loss')
        if not self._stacked:
            self._weight = stack_seg_weight(self._samples)
            self._stacked = True
        return self._weight

    # -- nn.Module hooks ------------------------------------------------
    def pre_hook(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        mode = kwargs.get('mode', args[2] if len(args) > 2 else 'tensor')
        if mode == 'loss':
            samples = kwargs.get('data_samples',
                                 args[1] if len(args) > 1 else None)
            self.open(samples or [])

    def post_hook(self, module: nn.Module, args: tuple, kwargs: dict,
                  output) -> None:
        self.close()


class PixelWeightedLoss(nn.Module):
    """A head's loss module, with each pixel's loss multiplied by the
    batch's ``seg_weight``.

    Args:
        loss: the head's built loss module (e.g. ``CrossEntropyLoss``).
        scope: where the batch's samples are published.
        owner: the head, named in error messages (e.g. ``'decode_head
            (SegformerHead)'``).
    """

    def __init__(self, loss: nn.Module, scope: SegWeightScope, owner: str):
        super().__init__()
        self.loss = loss
        self.owner = owner
        # a plain attribute, not a child module: shared by all wrappers
        self._scope = scope

    @property
    def loss_name(self) -> str:
        return self.loss.loss_name

    def forward(self,
                cls_score: Tensor,
                label: Tensor,
                weight: Optional[Tensor] = None,
                **kwargs) -> Tensor:
        """Args:
            cls_score: ``(B, C, H, W)`` logits (resized to the label).
            label: ``(B, H, W)`` labels.
            weight: ``(B, H, W)`` weights of the head (OHEM sampler) or None.

        Returns:
            Tensor: the wrapped loss with ``weight * seg_weight``.
        """
        seg_weight = self._scope.weight()
        if seg_weight is not None:
            if seg_weight.shape != label.shape:
                raise ValueError(
                    f'{self.owner}: seg_weight of shape '
                    f'{tuple(seg_weight.shape)} does not match the label map '
                    f'{tuple(label.shape)} its loss {type(self.loss).__name__}'
                    ' is computed on')
            weight = seg_weight if weight is None else weight * seg_weight
        return self.loss(cls_score, label, weight=weight, **kwargs)


def iter_heads(segmentor: nn.Module) -> Iterator[Tuple[str, nn.Module]]:
    """``(name, head)`` of the decode head(s) (one, or a list as in
    ``CascadeEncoderDecoder``) and auxiliary head(s) of ``segmentor``."""
    for attr in ('decode_head', 'auxiliary_head'):
        heads = getattr(segmentor, attr, None)
        if heads is None:
            continue
        if isinstance(heads, nn.ModuleList):
            for i, head in enumerate(heads):
                yield f'{attr}.{i}', head
        else:
            yield attr, heads


def non_per_pixel_loss_method(cls: type) -> Optional[str]:
    """``'Class.method'`` of the ``loss``/``loss_by_feat`` override that
    makes the head class ``cls`` (a ``BaseDecodeHead`` subclass) compute its
    loss on something else than the label map, or None."""
    for method, known in (('loss', _PER_PIXEL_LOSS),
                          ('loss_by_feat', _PER_PIXEL_LOSS_BY_FEAT)):
        if getattr(cls, method) not in known:
            owner = next(c for c in cls.__mro__ if method in vars(c))
            return f'{owner.__name__}.{method}'
    return None


def check_pixel_weightable(name: str, head: nn.Module) -> None:
    """Raise ``TypeError`` (naming the head and why) unless the head's loss
    is a per-pixel loss on the label map that can take ``seg_weight``."""
    kind = type(head).__name__
    if not isinstance(head, BaseDecodeHead):
        raise TypeError(
            f'{name} ({kind}) cannot take per-pixel loss weights: it is not '
            'a per-pixel BaseDecodeHead (mask-classification heads such as '
            'Mask2FormerHead/MaskFormerHead match predicted masks to ground-'
            'truth segments; there is no per-pixel loss to weight with the '
            'pseudo-label confidence). Use a per-pixel head.')
    method = non_per_pixel_loss_method(type(head))
    if method is not None:
        raise TypeError(
            f'{name} ({kind}) cannot take per-pixel loss weights: '
            f'{method} computes its loss on targets other than the '
            'per-pixel label map (points, boundaries, masks or image-level '
            'targets), so data_sample.seg_weight cannot be applied to it. '
            'Use a per-pixel head (e.g. FCNHead, ASPPHead, '
            'DepthwiseSeparableASPPHead, UPerHead, SegformerHead, '
            'DAFormerHead).')
    losses = (head.loss_decode if isinstance(head.loss_decode, nn.ModuleList)
              else [head.loss_decode])
    for loss in losses:
        if not (isinstance(loss, _PIXEL_WEIGHT_LOSSES)
                or getattr(loss, 'supports_pixel_weight', False)):
            raise TypeError(
                f'{name} ({kind}): its loss {type(loss).__name__} does not '
                'take a per-pixel weight (only CrossEntropyLoss, or a loss '
                'with supports_pixel_weight = True), so '
                'data_sample.seg_weight cannot be applied to it')
        if loss.state_dict():
            raise TypeError(
                f'{name} ({kind}): its loss {type(loss).__name__} has '
                'parameters or buffers; wrapping it would change the '
                "segmentor's state_dict keys")


def add_pixel_weights(segmentor: nn.Module) -> SegWeightScope:
    """Make every decode/auxiliary head of ``segmentor`` apply
    ``data_sample.seg_weight`` to its losses.

    Heads that apply it themselves (``supports_seg_weight = True``, e.g.
    ``DAFormerHead``, ``HRDAHead``) are left as they are; the others are
    checked (:func:`check_pixel_weightable`) and their ``loss_decode``
    entries wrapped in :class:`PixelWeightedLoss`. Registers the forward
    hooks that publish each ``forward(mode='loss')`` batch (only when a head
    was wrapped; they need torch >= 2.0).

    Returns:
        SegWeightScope: the segmentor's scope.
    """
    heads = list(iter_heads(segmentor))
    if not heads:
        raise TypeError(f'{type(segmentor).__name__} has no decode_head to '
                        'apply per-pixel loss weights to')
    scope = SegWeightScope()
    wrapped = False
    for name, head in heads:
        if getattr(head, 'supports_seg_weight', False):
            continue
        check_pixel_weightable(name, head)
        wrapped = True
        owner = f'{name} ({type(head).__name__})'
        if isinstance(head.loss_decode, nn.ModuleList):
            head.loss_decode = nn.ModuleList(
                PixelWeightedLoss(loss, scope, owner)
                for loss in head.loss_decode)
        else:
            head.loss_decode = PixelWeightedLoss(head.loss_decode, scope,
                                                 owner)
    if not wrapped:  # the plugin's own heads only: nothing to publish
        return scope
    if digit_version(torch.__version__) < digit_version('2.0.0'):
        raise RuntimeError(
            f'{type(segmentor).__name__} with mmseg heads ('
            f'{", ".join(n for n, _ in heads)}) needs torch >= 2.0 for '
            'per-pixel loss weights (forward hooks with keyword arguments); '
            f'found torch {torch.__version__}')
    segmentor.register_forward_pre_hook(scope.pre_hook, with_kwargs=True)
    segmentor.register_forward_hook(
        scope.post_hook, with_kwargs=True, always_call=True)
    return scope
