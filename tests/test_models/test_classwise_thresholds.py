"""Class-wise adaptive pseudo-label thresholds (DACS
``pseudo_threshold_mode='classwise'``), against hand computations; the
default (fixed threshold) keeps the reference's state_dict keys."""
import pytest
import torch
from mmengine.optim import OptimWrapper
from mmseg.registry import MODELS

import mmseg_uda  # noqa: F401
from mmseg_uda.models.uda.pseudo_labels import (
    ClasswiseThresholds,
    pseudo_label_and_weight,
)
from tests.test_models.tiny_models import tiny_dacs, uda_batch


def _logits(*pixels):
    """``(1, C, 1, N)`` logits whose softmax is the given vectors."""
    probs = torch.tensor(pixels, dtype=torch.float32).t()
    return probs.log()[None, :, None, :]


def test_ema_per_class_keeps_absent_classes():
    """Class 0: max probs 0.6 and 0.8 (mean 0.7), class 1: 0.95, class 2:
    none. Momentum 0.5 from 1/3. Rules out one mean over all pixels, an
    update of the absent class towards 0, and a missing cap."""
    th = ClasswiseThresholds(3, cap=0.8, momentum=0.5)
    out = th.update(_logits([0.6, 0.3, 0.1], [0.8, 0.1, 0.1],
                            [0.025, 0.95, 0.025]))
    c0, c1 = 0.5 / 3 + 0.5 * 0.7, 0.5 / 3 + 0.5 * 0.95
    assert th.confidence.tolist() == pytest.approx([c0, c1, 1 / 3], abs=1e-6)
    assert out.tolist() == pytest.approx([c0, 0.8 if c1 > 0.8 else c1,
                                          1 / 3], abs=1e-6)
    assert c1 < 0.8  # (the cap is checked below)
    th.update(_logits([0.025, 0.95, 0.025]))
    c1 = 0.5 * c1 + 0.5 * 0.95
    assert th.confidence[1].item() == pytest.approx(c1, abs=1e-6)
    assert th.update(_logits([0.025, 0.95, 0.025]))[1].item() == \
        pytest.approx(0.8)


def test_weight_with_per_class_thresholds():
    """A pixel counts when its max probability reaches its label's
    threshold (equality included): 0.8 >= 0.8 for class 0, 0.6 < 0.8,
    0.95 < 0.96 for class 1 -> 1/3. Rules out the threshold of the wrong
    class (class 2's 0.5 would admit all three) and >."""
    logits = _logits([0.6, 0.3, 0.1], [0.8, 0.1, 0.1], [0.025, 0.95, 0.025])
    label, weight = pseudo_label_and_weight(
        logits, torch.tensor([0.8, 0.96, 0.5]))
    assert label.flatten().tolist() == [0, 0, 1]
    assert weight.flatten().tolist() == pytest.approx([1 / 3] * 3)


def _step(mode):
    torch.manual_seed(0)
    model = MODELS.build(tiny_dacs(imnet_feature_dist=None,
                                   pseudo_threshold_mode=mode))
    model.init_weights()
    model.train()
    # an unsure teacher: max probability 0.4 everywhere (4 classes)
    probs = torch.tensor([0.4, 0.2, 0.2, 0.2]).view(1, 4, 1, 1)
    model.teacher.encode_decode = lambda inputs, metas: probs.log().expand(
        inputs.shape[0], 4, *inputs.shape[2:]).clone()
    wrapper = OptimWrapper(torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.01))
    return model, model.train_step(uda_batch(), wrapper)


def test_unsure_teacher_engages_only_with_classwise():
    """Fixed 0.968: weight 0 (self-training off). Class-wise: the
    threshold of class 0 is 0.99 * 0.25 + 0.01 * 0.4 < 0.4, so every pixel
    counts (weight 1). The default adds no state_dict key (reference
    checkpoints load strictly); the option saves its averages."""
    fixed, logs = _step('fixed')
    assert logs['pseudo_weight'].item() == 0
    assert not any('classwise' in k for k in fixed.state_dict())
    adaptive, logs = _step('classwise')
    assert logs['pseudo_weight'].item() == pytest.approx(1.0)
    assert adaptive.state_dict()['classwise_thresholds.confidence'][0] == \
        pytest.approx(0.99 * 0.25 + 0.01 * 0.4)
    with pytest.raises(ValueError, match='pseudo_threshold_mode'):
        MODELS.build(tiny_dacs(pseudo_threshold_mode='quantile'))
