"""MIC's batch (``MaskedImageConsistency.build_batch``) at the values where
a wrong version differs: its own threshold of 0.0 (not "share the host's
weight"), a probability exactly at the threshold, the threshold's valid
range and a missing source batch."""
import pytest
import torch

from mmseg_uda.models.uda.masked_consistency import MaskedImageConsistency
from mmseg_uda.models.uda.pseudo_labels import PseudoLabels
from mmseg_uda.models.utils.domain_batch import DomainBatch
from tests.test_models.tiny_models import uda_batch

B, H, W = 2, 4, 4


def _pseudo():
    """Teacher logits whose max probability is exactly 0.5 (two tied
    classes) on the left half and ~1 on the right; host threshold 0.968,
    top row ignored and the last column invalid."""
    logits = torch.full((B, 4, H, W), -1e4)
    logits[:, 0:2, :, :2] = 0.0  # p = 0.5 exactly
    logits[:, 2, :, 2:] = 10.0
    valid = torch.ones(B, H, W)
    valid[:, :, -1] = 0
    return PseudoLabels.from_logits(logits, 0.968, 1, 0, valid)


def _weights(mic, pseudo):
    target = uda_batch(n=B, size=H)['target']['data_samples']
    _, samples = mic.build_batch(DomainBatch(torch.zeros(B, 3, H, W), target),
                                 pseudo)
    return torch.stack([s.seg_weight.data[0] for s in samples])


def _expected(share):
    weight = torch.full((B, H, W), share)
    weight[:, 0] = 0
    weight[:, :, -1] = 0
    return weight


def test_own_threshold_of_zero_is_not_the_shared_weight():
    """``pseudo_threshold=0.0``: every pixel is confident (weight 1 outside
    the ignore regions), not the host's weight at 0.968 (0.5). Rules out 0.0
    taken as "no own threshold" (``if self.pseudo_threshold``)."""
    pseudo = _pseudo()
    assert torch.equal(_weights(MaskedImageConsistency(), pseudo),
                       pseudo.weight)
    assert torch.equal(pseudo.weight, _expected(0.5))
    mic = MaskedImageConsistency(pseudo_threshold=0.0)
    assert torch.equal(_weights(mic, pseudo), _expected(1.0))


def test_a_probability_at_the_threshold_is_confident():
    """Own threshold 0.5 with the left half at exactly 0.5: all pixels are
    confident (weight 1), as the reference's ``>=``. Rules out ``>``
    (weight 0.5)."""
    mic = MaskedImageConsistency(pseudo_threshold=0.5)
    assert torch.equal(_weights(mic, _pseudo()), _expected(1.0))


@pytest.mark.parametrize('value,ok', [(0.0, True), (1.0, True),
                                      (-0.01, False), (1.01, False)])
def test_threshold_range_is_closed(value, ok):
    """0 and 1 are valid thresholds, just outside them is refused."""
    if ok:
        MaskedImageConsistency(pseudo_threshold=value)
    else:
        with pytest.raises(ValueError, match='pseudo_threshold'):
            MaskedImageConsistency(pseudo_threshold=value)


def test_mask_source_needs_the_source_batch():
    """``mask_source=True`` without the source batch: a clear error, not a
    target-only batch."""
    mic = MaskedImageConsistency(mask_source=True)
    with pytest.raises(ValueError, match='needs the source batch'):
        _weights(mic, _pseudo())


def test_constructor_options_arrive_and_defaults_are_mics():
    """The strong-augmentation options reach the augmentation; the default
    masking is MIC's (ratio 0.7, blocks of 64); a loss weight of 0 (MIC off
    in effect, not an error) is accepted. Rules out an option dropped (its
    default used instead) and ``<= 0`` for ``< 0``."""
    mic = MaskedImageConsistency(color_jitter_strength=0.3,
                                 color_jitter_prob=0.6, blur=False,
                                 loss_weight=0)
    aug = mic.strong_aug
    assert (aug.strength, aug.jitter_prob, aug.blur) == (0.3, 0.6, False)
    assert mic.loss_weight == 0.0
    default = MaskedImageConsistency()
    assert (default.mask_generator.mask_ratio,
            default.mask_generator.block_size) == (0.7, 64)
    assert (default.strong_aug.strength, default.strong_aug.jitter_prob,
            default.strong_aug.blur) == (0.2, 0.8, True)
