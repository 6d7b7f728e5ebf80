"""The softmax behind a prediction, as the Dark Zurich submission reads it:
present at the image's original size with HRDA's sliding-window and plain
whole inference, and under test-time augmentation the averaged softmax
(``SegTTASoftmaxModel``), not the last augmentation's logits."""
# ruff: noqa: I001  (mmseg_uda first: it installs the mmcv-lite shim)
import mmseg_uda  # noqa: F401
import copy

import pytest
import torch
from mmengine.registry import init_default_scope
from mmseg.models import SegTTAModel
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from mmseg_uda.evaluation.metrics.darkzurich_submission import (
    softmax_confidence,
)
from mmseg_uda.models.segmentors import SegTTASoftmaxModel
from tests.test_models.tiny_models import tiny_hrda_cfg, tiny_mit_segmentor


def build(kind):
    init_default_scope('mmseg')
    torch.manual_seed(0)
    if kind == 'hrda_slide':
        cfg = tiny_hrda_cfg().model
        assert cfg.test_cfg.mode == 'slide'
    else:
        cfg = tiny_mit_segmentor(num_classes=5)
    return MODELS.build(cfg).eval()


def predict(model, x, ori_shape, flip=False):
    meta = dict(img_path='a_rgb_anon.png', img_shape=tuple(x.shape[-2:]),
                ori_shape=ori_shape,
                pad_shape=tuple(x.shape[-2:]), padding_size=[0, 0, 0, 0])
    if flip:
        meta.update(flip=True, flip_direction='horizontal')
        x = x.flip(-1)
    with torch.no_grad():
        return model.predict(x, [SegDataSample(metainfo=meta)])[0]


@pytest.mark.parametrize('kind', ['hrda_slide', 'whole'])
def test_prediction_carries_logits_at_original_size(kind):
    """The network input (64x128: several HRDA windows) is larger than the
    image (48x100); the logits come back at the image's size with the
    prediction as their argmax, so the confidences are the prediction's.
    Rules out confidences read at the network's resolution."""
    model = build(kind)
    x = torch.randn(1, 3, 64, 128)
    sample = predict(model, x, (48, 100))
    assert sample.seg_logits.data.shape == (5, 48, 100)
    pred = sample.pred_sem_seg.data[0]
    torch.testing.assert_close(sample.seg_logits.data.argmax(0), pred)
    conf = softmax_confidence(sample.to_dict(), pred.numpy())
    assert conf.shape == (48, 100)


def test_tta_keeps_the_averaged_softmax():
    """Two augmentations (the image and its mirror): the merged sample's
    ``softmax(seg_logits)`` is the mean of the two softmaxes and its argmax
    the prediction. mmseg's SegTTAModel keeps the mirror's own logits,
    which the Dark Zurich writer refuses."""
    model = build('whole')
    x = torch.randn(1, 3, 40, 56)
    augs = [predict(model, x, (40, 56)), predict(model, x, (40, 56), True)]
    mean = sum(a.seg_logits.data.softmax(0) for a in augs) / 2
    ours, = SegTTASoftmaxModel(module=model).merge_preds(
        [copy.deepcopy(augs)])
    torch.testing.assert_close(ours.seg_logits.data.softmax(0), mean)
    torch.testing.assert_close(ours.pred_sem_seg.data[0], mean.argmax(0))
    assert ours.img_path == 'a_rgb_anon.png'
    softmax_confidence(ours.to_dict(), ours.pred_sem_seg.data[0].numpy())

    theirs, = SegTTAModel(module=model).merge_preds([copy.deepcopy(augs)])
    assert torch.equal(theirs.pred_sem_seg.data[0], mean.argmax(0))
    torch.testing.assert_close(theirs.seg_logits.data,
                               augs[1].seg_logits.data)
    assert not torch.equal(augs[1].seg_logits.data.argmax(0),
                           mean.argmax(0))  # the data tells them apart
    with pytest.raises(ValueError, match='SegTTASoftmaxModel'):
        softmax_confidence(theirs.to_dict(),
                           theirs.pred_sem_seg.data[0].numpy())
