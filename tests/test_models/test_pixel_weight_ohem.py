"""Per-pixel weights combined with an OHEM sampler, on a head confident
enough that OHEM drops pixels (at random initialisation every pixel is
hard, OHEM keeps them all, and any way of combining the two weights gives
the same number)."""
import pytest
import torch
import torch.nn.functional as F

from tests.test_models.tiny_models import (
    build_dacs,
    hand_weighted_ce,
    tiny_mit_segmentor,
    weighted_samples,
)

CROP = 32


@pytest.mark.parametrize('head', ['FCNHead', 'TinyWeightedFCNHead'])
def test_ohem_weight_times_seg_weight_when_ohem_drops_pixels(head):
    """mmseg's FCNHead (loss wrapped by the plugin) and the same head with
    ``PixelWeightedLossMixin``: the loss is the CE weighted by
    ``OHEM weight * seg_weight``, on data where OHEM drops the confidently
    right pixels (class 1, biased to probability ~0.97). Rules out the
    sampler's weight dropped when ``seg_weight`` is given (or the reverse)
    in either path."""
    segmentor = tiny_mit_segmentor(head=head, crop=(CROP, CROP))
    segmentor.decode_head.sampler = dict(type='OHEMPixelSampler',
                                         thresh=0.6, min_kept=50)
    model = build_dacs(segmentor, imnet_feature_dist=None)
    model.eval()
    student = model.student
    with torch.no_grad():
        student.decode_head.conv_seg.bias.copy_(
            torch.tensor([0.0, 5.0, 0.0, 0.0]))
    inputs, samples = weighted_samples()
    losses = student(inputs, samples, mode='loss')
    with torch.no_grad():
        logits = student.decode_head(student.extract_feat(inputs))
        label = torch.stack([s.gt_sem_seg.data for s in samples])
        sampled = student.decode_head.sampler.sample(
            F.interpolate(logits, size=label.shape[2:], mode='bilinear',
                          align_corners=False), label)
        valid = label[:, 0] != 255
        kept = sampled[valid].mean()
        assert 0.3 < kept < 0.95, kept  # OHEM drops some valid pixels
        expected = hand_weighted_ce(logits, samples, extra_weight=sampled)
        seg_weight_only = hand_weighted_ce(logits, samples)
    assert not torch.allclose(expected, seg_weight_only, rtol=1e-3)
    torch.testing.assert_close(losses['decode.loss_ce'], expected)
