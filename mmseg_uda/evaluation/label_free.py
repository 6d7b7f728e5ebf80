"""Label-free criteria of a segmentation model on target images: what can
be measured without target labels, for the self-training health checks
(``engine/hooks/self_training_health_hook.py``) and the checkpoint ranking
metric (``evaluation/metrics/label_free_metric.py``).

Every function takes softmax probabilities (or counts) as tensors on any
device and returns tensors on the same device (no host sync).

- Entropy and mean max-softmax confidence: the naive baselines (Saito et
  al., "Tune it the Right Way: Unsupervised Validation of Domain Adaptation
  via Soft Neighborhood Density", ICCV 2021, section 3, call entropy C-Ent).
- Information maximisation (IM): entropy of the mean prediction minus the
  mean entropy (confident *and* diverse; the IM objective of Liang et al.,
  "Do We Really Need to Access the Source Data?", ICML 2020).
- Soft neighbourhood density (SND, Saito et al., ICCV 2021): the mean
  entropy of each sampled pixel's softmax-similarity distribution to the
  other sampled pixels; the segmentation variant samples pixels per image
  (reference ``AdaptSegNet/run_all.py: eval_siment`` of
  VisionLearningGroup/SND).
- Batch nuclear norm (BNM; Cui et al., "Towards Discriminability and
  Diversity: Batch Nuclear-norm Maximization", CVPR 2020; as a validator:
  Musgrave et al., "Three New Validators and a Large-Scale Benchmark
  Ranking for Unsupervised Domain Adaptation", arXiv 2208.07360).
- Class balance against the source prior: ``-KL(source || predicted)``
  over the class frequencies, and the collapse rule (a class predicted at
  a small fraction of its source frequency).
"""
import zlib
from typing import List, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

#: Direction of each criterion: +1 when a higher value should mean a better
#: model, -1 when lower is better. The naive baselines are ``entropy``
#: (lower is better) and ``confidence``.
CRITERIA = {
    'snd': 1,
    'im': 1,
    'bnm': 1,
    'class_balance': 1,
    'entropy': -1,
    'confidence': 1,
}

#: The criterion that ranks checkpoints by default (``LabelFreeMetric``,
#: ``rank_checkpoints.py``, the quick-start): the best of
#: ``benchmarks/model_selection.py`` (docs/model_selection.md).
DEFAULT_CRITERION = 'im'


def pixel_entropy(probs: Tensor, dim: int = 1) -> Tensor:
    """Entropy (nats) of the class distribution of each pixel.

    Args:
        probs (Tensor): probabilities, classes along ``dim``.
        dim (int): the class dimension. Defaults to 1.

    Returns:
        Tensor: ``probs`` without ``dim``; 0 for one-hot pixels.
    """
    # xlogy: 0 * log(0) = 0, no epsilon that biases near-one-hot pixels
    return -torch.special.xlogy(probs, probs).sum(dim)


def soft_neighbourhood_density(probs: Tensor,
                               temperature: float = 0.05) -> Tensor:
    """SND of ``N`` sampled pixels (Saito et al., ICCV 2021).

    Each row is L2-normalised, the cosine similarities ``s_ij`` (``j != i``)
    divided by ``temperature`` go through a softmax over ``j``, and the
    score is the mean over ``i`` of that distribution's entropy: high when
    every pixel has many close neighbours (dense clusters).

    Args:
        probs (Tensor): ``(N, C)`` softmax outputs, ``N >= 2``.
        temperature (float): the softmax temperature. Defaults to 0.05
            (the reference's factor 20).

    Returns:
        Tensor: scalar.
    """
    if probs.shape[0] < 2:
        raise ValueError('soft_neighbourhood_density needs at least 2 '
                         f'pixels, got {probs.shape[0]}')
    feats = torch.nn.functional.normalize(probs.float(), dim=1)
    sim = feats @ feats.t() / temperature
    # a pixel is not its own neighbour
    eye = torch.eye(sim.shape[0], dtype=torch.bool, device=sim.device)
    sim = sim.masked_fill(eye, float('-inf'))
    return pixel_entropy(torch.softmax(sim, dim=1), dim=1).mean()


def batch_nuclear_norm(probs: Tensor) -> Tensor:
    """BNM score: nuclear norm of the ``(N, C)`` prediction matrix divided
    by ``N`` (sum of ``sqrt(n_k)`` over predicted classes ``k`` / ``N`` for
    one-hot rows: high when predictions are confident and diverse)."""
    return torch.linalg.matrix_norm(probs.float(), ord='nuc') / probs.shape[0]


def information_maximisation(mean_entropy: Tensor,
                             marginal: Tensor) -> Tensor:
    """IM score: ``H(marginal) - mean_entropy``.

    Args:
        mean_entropy (Tensor): the mean per-pixel entropy.
        marginal (Tensor): ``(C,)`` mean probability vector (sums to 1).
    """
    return pixel_entropy(marginal.float(), dim=0) - mean_entropy


def class_balance(pred_share: Tensor, source_freq: Tensor,
                  eps: float = 1e-6) -> Tensor:
    """``-KL(source_freq || pred_share)``: 0 when the target predictions
    have the source's class frequencies, very negative when a frequent
    source class is (almost) never predicted.

    Args:
        pred_share (Tensor): ``(C,)`` share of target pixels predicted as
            each class.
        source_freq (Tensor): ``(C,)`` source class frequencies.
        eps (float): floor of ``pred_share`` (a never-predicted class costs
            ``f_c log(f_c / eps)`` instead of infinity). Defaults to 1e-6.
    """
    q = pred_share.float().clamp_min(eps)
    p = source_freq.to(q)
    return -(torch.special.xlogy(p, p) - p * torch.log(q)).sum()


def collapsed_classes(pred_share: Sequence[float],
                      source_freq: Sequence[float],
                      ratio: float = 0.1,
                      min_source_freq: float = 0.005
                      ) -> List[Tuple[int, float, float]]:
    """The collapse rule: classes whose share of the target predictions is
    below ``ratio`` times their source frequency, among the classes with a
    source frequency of at least ``min_source_freq`` (rarer classes are too
    noisy to judge on a validation set).

    Returns:
        list: ``(class, predicted share, source frequency)``, most
        suppressed first.
    """
    out = []
    for c, (q, f) in enumerate(zip(pred_share, source_freq)):
        if f >= min_source_freq and q < ratio * f:
            out.append((c, float(q), float(f)))
    return sorted(out, key=lambda t: t[1] / t[2])


def sample_pixel_indices(num_pixels: int, k: int, key: str,
                         seed: int = 0) -> Tensor:
    """``min(k, num_pixels)`` distinct pixel indices drawn from a generator
    seeded by ``seed`` and the crc32 of ``key`` (e.g. the image path): the
    same pixels for an image whichever rank, batch or order it comes in."""
    gen = torch.Generator().manual_seed(
        (zlib.crc32(key.encode()) + 1000003 * seed) % (2**63))
    return torch.randperm(num_pixels, generator=gen)[:k]


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation (ties get their mean rank); nan when a
    side is constant or has fewer than 2 values."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(x) != len(y):
        raise ValueError(f'spearman: {len(x)} vs {len(y)} values')
    if len(x) < 2:
        return float('nan')

    def ranks(v):
        order = np.argsort(v, kind='stable')
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=np.float64)
        for value in np.unique(v):  # average the ranks of ties
            tie = v == value
            r[tie] = r[tie].mean()
        return r

    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float('nan')
    return float(np.corrcoef(rx, ry)[0, 1])


__all__ = [
    'CRITERIA', 'DEFAULT_CRITERION', 'batch_nuclear_norm', 'class_balance',
    'collapsed_classes',
    'information_maximisation', 'pixel_entropy', 'sample_pixel_indices',
    'soft_neighbourhood_density', 'spearman'
]
