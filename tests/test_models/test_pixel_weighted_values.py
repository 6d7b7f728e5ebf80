"""Per-pixel loss weights on an mmseg head wrapped by the plugin
(``add_pixel_weights``): every way of calling the segmentor, a failed
forward, a zero weight and a loss that cannot take a weight."""
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.registry import MODELS

from mmseg_uda.models.losses.pixel_weighted_loss import add_pixel_weights
from tests.test_models.tiny_models import (
    hand_weighted_ce,
    tiny_mit_segmentor,
    weighted_samples,
)


def _wrapped_fcn(loss=None):
    cfg = tiny_mit_segmentor(head='FCNHead')
    if loss is not None:
        cfg.decode_head.loss_decode = loss
    torch.manual_seed(0)
    segmentor = MODELS.build(cfg)
    segmentor.init_weights()
    segmentor.eval()  # no dropout: the loss is a function of the logits
    add_pixel_weights(segmentor)
    return segmentor


def _expected(segmentor, inputs, samples):
    with torch.no_grad():
        logits = segmentor.decode_head(segmentor.extract_feat(inputs))
    return hand_weighted_ce(logits, samples)


@pytest.mark.parametrize('call', ['positional', 'keywords', 'mixed'])
def test_seg_weight_reaches_the_loss_however_the_segmentor_is_called(call):
    """``segmentor(inputs, samples, 'loss')``, all keywords, and inputs
    positional with ``data_samples=``/``mode=`` keywords: the loss is the
    seg_weight-weighted CE each time. Rules out the mode or the samples read
    from the wrong argument (``args[2]`` only when more than 2 positional
    arguments; ``args[1]`` only when more than 1: the keyword default is
    evaluated eagerly), which either drops the weights or raises."""
    segmentor = _wrapped_fcn()
    inputs, samples = weighted_samples()
    expected = _expected(segmentor, inputs, samples)
    if call == 'positional':
        losses = segmentor(inputs, samples, 'loss')
    elif call == 'keywords':
        losses = segmentor(inputs=inputs, data_samples=samples, mode='loss')
    else:
        losses = segmentor(inputs, data_samples=samples, mode='loss')
    torch.testing.assert_close(losses['decode.loss_ce'], expected)
    assert not torch.allclose(
        expected, hand_weighted_ce(
            segmentor.decode_head(segmentor.extract_feat(inputs)).detach(),
            [_unit_weight(s) for s in samples]), rtol=1e-3)


def _unit_weight(sample):
    sample = sample.clone()
    sample.seg_weight.data = torch.ones_like(sample.seg_weight.data)
    return sample


def test_zero_seg_weight_gives_a_zero_loss():
    """seg_weight 0.0 everywhere (a pseudo-label with no confident pixel):
    the loss is exactly 0, not the unweighted CE. Rules out a zero weight
    treated as "no weight" (``if seg_weight`` / ``or``)."""
    segmentor = _wrapped_fcn()
    inputs, samples = weighted_samples()
    for s in samples:
        s.seg_weight.data = torch.zeros_like(s.seg_weight.data)
    losses = segmentor(inputs, samples, mode='loss')
    assert losses['decode.loss_ce'].item() == 0.0


def test_a_failed_loss_forward_does_not_block_the_next():
    """A loss forward that raises (a seg_weight of the wrong size) and then
    a correct one: the second computes its weighted loss. Rules out the
    scope left open after an exception (``always_call`` of the closing
    hook), which makes every later call fail as "nested"."""
    segmentor = _wrapped_fcn()
    inputs, samples = weighted_samples()
    bad = [s.clone() for s in samples]
    for s in bad:
        s.seg_weight = PixelData(data=s.seg_weight.data[:, :-1])
    with pytest.raises(ValueError, match='does not match the label map'):
        segmentor(inputs, bad, mode='loss')
    losses = segmentor(inputs, samples, mode='loss')
    torch.testing.assert_close(losses['decode.loss_ce'],
                               _expected(segmentor, inputs, samples))


def test_a_loss_without_pixel_weights_is_refused():
    """An mmseg head whose loss cannot take a per-pixel weight (DiceLoss)
    is refused with a TypeError naming the loss. Rules out a loss without
    ``supports_pixel_weight`` assumed to support it (a True default), which
    would silently train without the pseudo-label confidence."""
    with pytest.raises(TypeError, match='DiceLoss does not take a per-pixel'):
        _wrapped_fcn(loss=dict(type='DiceLoss', loss_weight=1.0))
