"""Style (Gram matrix) and content alignment losses of progressive feature
refinement (PFR), with the choices the paper leaves open as options."""
from typing import Dict, Sequence

import torch
import torch.nn as nn
from mmseg.registry import MODELS
from torch import Tensor

GRAM_NORMS = ('chw', 'hw', 'none')
DISTANCES = ('l2', 'rms', 'mse')


def gram_matrix(feat: Tensor, normalize: str = 'chw') -> Tensor:
    """Gram matrices of a batch of feature maps.

    ``G[b] = F_b F_b^T`` with ``F_b`` the ``(C, H*W)`` reshaped features of
    image ``b``, divided by ``C*H*W`` (``'chw'``, Gatys et al.'s scaling),
    by ``H*W`` (``'hw'``, the mean over positions) or not at all
    (``'none'``).

    Args:
        feat: ``(B, C, H, W)``.

    Returns:
        Tensor: ``(B, C, C)``.
    """
    if normalize not in GRAM_NORMS:
        raise ValueError(f'normalize must be one of {GRAM_NORMS}, got '
                         f'{normalize!r}')
    b, c = feat.shape[:2]
    flat = feat.reshape(b, c, -1)
    gram = torch.bmm(flat, flat.transpose(1, 2))
    if normalize == 'chw':
        gram = gram / (c * flat.shape[-1])
    elif normalize == 'hw':
        gram = gram / flat.shape[-1]
    return gram


def pairwise_distance(a: Tensor, b: Tensor, distance: str = 'l2') -> Tensor:
    """Distance between ``a[i]`` and ``b[i]`` for every ``i`` of the batch.

    - ``'l2'``: the L2 (Frobenius) norm of the difference, ``||a-b||_2``,
      the paper's literal formula;
    - ``'rms'``: ``||a-b||_2 / sqrt(n)`` with ``n`` the elements per item
      (the norm averaged over elements, independent of the feature size);
    - ``'mse'``: ``||a-b||_2^2 / n`` (mean squared error).

    Returns:
        Tensor: ``(B,)``.
    """
    if distance not in DISTANCES:
        raise ValueError(f'distance must be one of {DISTANCES}, got '
                         f'{distance!r}')
    if a.shape != b.shape:
        raise ValueError(f'shapes differ: {tuple(a.shape)} vs '
                         f'{tuple(b.shape)}')
    diff = (a - b).reshape(a.shape[0], -1)
    n = diff.shape[1]
    if distance == 'mse':
        return diff.pow(2).sum(1) / n
    norm = torch.linalg.vector_norm(diff, ord=2, dim=1)
    return norm / n**0.5 if distance == 'rms' else norm


@MODELS.register_module()
class PFRLoss(nn.Module):
    """``L_sty = sum_i d(S_i^s, S_i^t)`` and ``L_con = sum_i d(C_i^s,
    C_i^t)`` over the given feature levels ``i``, where ``C`` are the
    features and ``S`` their Gram matrices; image ``b`` of the source batch
    is paired with image ``b`` of the target batch, and the distance is
    averaged over the pairs.

    Args:
        gram_norm: normalisation of the Gram matrix (see
            :func:`gram_matrix`); default ``'chw'``.
        style_distance, content_distance: ``'l2'`` (default, the paper's
            ``||.||_2``), ``'rms'`` or ``'mse'`` (see
            :func:`pairwise_distance`).
        style_weight, content_weight: relative weights of the two terms
            (1 and 1: ``L_pfr = L_sty + L_con``).
        loss_weight: multiplies both terms (PFR's lambda_pfr = 0.004).
    """

    def __init__(self,
                 gram_norm: str = 'chw',
                 style_distance: str = 'l2',
                 content_distance: str = 'l2',
                 style_weight: float = 1.0,
                 content_weight: float = 1.0,
                 loss_weight: float = 0.004):
        super().__init__()
        if gram_norm not in GRAM_NORMS:
            raise ValueError(f'gram_norm must be one of {GRAM_NORMS}, got '
                             f'{gram_norm!r}')
        for name, value in (('style_distance', style_distance),
                            ('content_distance', content_distance)):
            if value not in DISTANCES:
                raise ValueError(f'{name} must be one of {DISTANCES}, got '
                                 f'{value!r}')
        self.gram_norm = gram_norm
        self.style_distance = style_distance
        self.content_distance = content_distance
        self.style_weight = style_weight
        self.content_weight = content_weight
        self.loss_weight = loss_weight

    def forward(self, source_feats: Sequence[Tensor],
                target_feats: Sequence[Tensor]) -> Dict[str, Tensor]:
        """Args:
            source_feats, target_feats: one ``(B, C_i, H_i, W_i)`` tensor per
                level, same batch size; the content term needs equal shapes
                (equal source and target crop sizes).

        Returns:
            dict: ``loss_sty`` and ``loss_con``, each multiplied by its
            weight and ``loss_weight``.
        """
        if len(source_feats) != len(target_feats) or not source_feats:
            raise ValueError('need the same, non-zero number of source and '
                             f'target levels, got {len(source_feats)} and '
                             f'{len(target_feats)}')
        style, content = 0.0, 0.0
        for src, tgt in zip(source_feats, target_feats):
            if src.shape[:2] != tgt.shape[:2]:
                raise ValueError(
                    'source and target features must have the same batch '
                    f'size and channels, got {tuple(src.shape)} and '
                    f'{tuple(tgt.shape)}')
            if src.shape != tgt.shape and self.content_weight != 0:
                raise ValueError(
                    'the content loss compares features position by '
                    'position: source and target crops must have one size, '
                    f'got features {tuple(src.shape)} and '
                    f'{tuple(tgt.shape)}')
            src, tgt = src.float(), tgt.float()
            if self.style_weight != 0:
                style = style + pairwise_distance(
                    gram_matrix(src, self.gram_norm),
                    gram_matrix(tgt, self.gram_norm),
                    self.style_distance).mean()
            if self.content_weight != 0:
                content = content + pairwise_distance(
                    src, tgt, self.content_distance).mean()
        zero = source_feats[0].new_zeros(())
        return dict(
            loss_sty=zero + self.loss_weight * self.style_weight * style,
            loss_con=zero + self.loss_weight * self.content_weight * content)

    def extra_repr(self) -> str:
        return (f'gram_norm={self.gram_norm!r}, style_distance='
                f'{self.style_distance!r}, content_distance='
                f'{self.content_distance!r}, loss_weight={self.loss_weight}')
