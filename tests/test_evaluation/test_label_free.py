"""Label-free criteria (``mmseg_uda/evaluation/label_free.py``) and
``LabelFreeMetric`` against hand computations."""
import json
import math

import numpy as np
import pytest
import torch

from mmseg_uda.evaluation import LabelFreeMetric
from mmseg_uda.evaluation.label_free import (
    batch_nuclear_norm,
    class_balance,
    collapsed_classes,
    information_maximisation,
    pixel_entropy,
    soft_neighbourhood_density,
    spearman,
)


def _h(p: float) -> float:
    """Binary entropy in nats."""
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


def test_pixel_entropy_nats_and_one_hot_zero():
    """Rules out log2 (ln 2 -> 1) and an epsilon inside the log (a
    one-hot pixel would get a small positive entropy)."""
    probs = torch.tensor([[0.5, 1.0, 0.8], [0.5, 0.0, 0.2]])
    out = pixel_entropy(probs, dim=0)
    assert out[0].item() == pytest.approx(math.log(2), abs=1e-7)
    assert out[1].item() == 0.0
    assert out[2].item() == pytest.approx(_h(0.8), abs=1e-6)


def test_snd_excludes_the_pixel_itself():
    """Two equal pixels and one orthogonal: pixel 0's neighbours are pixel 1
    (cosine 1) and 2 (cosine 0); pixel 2 sees two cosines 0 (uniform: ln 2).
    Rules out keeping the diagonal (the self-similarity 1/T dominates) and
    a temperature used as a factor instead of a divisor."""
    probs = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    a = math.exp(2) / (math.exp(2) + 1)  # T = 0.5: logits 2 and 0
    expected = (2 * _h(a) + math.log(2)) / 3
    assert soft_neighbourhood_density(probs, 0.5).item() == pytest.approx(
        expected, abs=1e-6)
    with pytest.raises(ValueError, match='at least 2'):
        soft_neighbourhood_density(probs[:1])


def test_bnm_one_hot_is_sum_of_sqrt_counts():
    """3 pixels of class 0 and 1 of class 1: singular values sqrt(3), 1.
    Rules out the Frobenius norm (sqrt(4) = 2) and no division by N."""
    probs = torch.tensor([[1.0, 0], [1, 0], [1, 0], [0, 1]])
    assert batch_nuclear_norm(probs).item() == pytest.approx(
        (math.sqrt(3) + 1) / 4, abs=1e-6)


def test_im_and_class_balance():
    """IM = H(marginal) - mean entropy; class balance = -KL(source ||
    predicted) with the floor eps for a never-predicted class. Rules out
    KL in the other direction (infinite/huge for the empty class the other
    way round) and a missing floor (inf)."""
    im = information_maximisation(torch.tensor(0.2), torch.tensor([.5, .5]))
    assert im.item() == pytest.approx(math.log(2) - 0.2, abs=1e-6)
    pred = torch.tensor([0.5, 0.5, 0.0])
    src = torch.tensor([0.25, 0.25, 0.5])
    expected = -(2 * 0.25 * math.log(0.25 / 0.5) + 0.5 * math.log(0.5 / 1e-6))
    assert class_balance(pred, src).item() == pytest.approx(expected,
                                                            rel=1e-5)
    assert class_balance(src, src).item() == pytest.approx(0, abs=1e-6)


def test_collapse_rule_boundaries():
    """Flagged: share < ratio * source frequency (strictly), among classes
    with a source frequency >= min_source_freq; most suppressed first.
    Rules out <= at the ratio, the frequency floor applied to the
    predicted share, and an unsorted result."""
    freq = [0.5, 0.25, 0.25, 0.004, 0.096]
    share = [0.6, 0.125, 0.001, 0.0, 0.048 - 1e-9]
    out = collapsed_classes(share, freq, ratio=0.5, min_source_freq=0.005)
    # class 1: 0.125 == 0.5 * 0.25 -> not flagged; class 3 below the floor
    assert [c for c, _, _ in out] == [2, 4]
    assert out[0][1:] == (0.001, 0.25)


def test_spearman_with_ties_matches_scipy():
    """Ties get their mean rank (rules out ordinal ranks); constant -> nan."""
    from scipy.stats import spearmanr
    x = [1, 2, 2, 3, 5, 4]
    y = [2, 1, 3, 3, 6, 5]
    assert spearman(x, y) == pytest.approx(spearmanr(x, y)[0], abs=1e-12)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))


def _sample(probs: np.ndarray, path: str) -> dict:
    """A predicted data sample (as mmengine's evaluator passes it) whose
    softmax is ``probs`` (C, H, W)."""
    logits = torch.log(torch.tensor(probs, dtype=torch.float32))
    return dict(seg_logits=dict(data=logits), img_path=path)


def test_metric_on_hand_made_predictions(tmp_path):
    """Image A: 2 pixels [.5 .5], [.8 .2]; image B: 3 pixels [.2 .8].
    Entropy, confidence and the class shares pool the 5 pixels (rules out
    averaging per image: A and B have different sizes); SND and BNM are per
    image then averaged; class balance uses the source statistics file."""
    stats = tmp_path / 'sample_class_stats.json'
    stats.write_text(json.dumps([{'file': 'a.png', '0': 30, '1': 10}]))
    a = np.array([[[0.5, 0.8]], [[0.5, 0.2]]])
    b = np.array([[[0.2, 0.2, 0.2]], [[0.8, 0.8, 0.8]]])
    metric = LabelFreeMetric(select='entropy', source_stats=str(stats))
    metric.process({}, [_sample(a, 'a.png'), _sample(b, 'b.png')])
    res = metric.compute_metrics(metric.results)
    h8 = _h(0.8)
    entropy = (math.log(2) + 4 * h8) / 5
    assert res['entropy'] == pytest.approx(entropy, abs=1e-6)
    assert res['score'] == pytest.approx(-entropy, abs=1e-6)
    assert res['confidence'] == pytest.approx((0.5 + 4 * 0.8) / 5, abs=1e-6)
    marginal = np.array([0.5 + 0.8 + 3 * 0.2, 0.5 + 0.2 + 3 * 0.8]) / 5
    assert res['im'] == pytest.approx(
        -(marginal * np.log(marginal)).sum() - entropy, abs=1e-6)
    # SND: A's pixels have one neighbour each (entropy 0), B's two equal
    assert res['snd'] == pytest.approx(math.log(2) / 2, abs=1e-6)
    bnm_a = np.linalg.svd(np.array([[.5, .5], [.8, .2]]))[1].sum() / 2
    bnm_b = math.sqrt(3 * (0.2**2 + 0.8**2)) / 3
    assert res['bnm'] == pytest.approx((bnm_a + bnm_b) / 2, abs=1e-6)
    # argmax: [.5 .5] -> class 0 (first), so shares 2/5 and 3/5
    share, src = np.array([0.4, 0.6]), np.array([0.75, 0.25])
    assert res['class_balance'] == pytest.approx(
        -(src * np.log(src / share)).sum(), abs=1e-6)
    assert res['collapsed'] == 0


def test_metric_keys_prefix_and_errors(tmp_path):
    """Through mmengine's ``evaluate``: keys carry the ``label_free/``
    prefix; ``select`` is validated; DEFAULT_CRITERION is the default
    score."""
    metric = LabelFreeMetric()
    metric.dataset_meta = dict(classes=('a', 'b'))
    b = np.array([[[0.2, 0.7, 0.2]], [[0.8, 0.3, 0.8]]])
    metric.process({}, [_sample(b, 'b.png')])
    res = metric.evaluate(1)
    from mmseg_uda.evaluation.label_free import CRITERIA, DEFAULT_CRITERION
    assert res['label_free/score'] == CRITERIA[DEFAULT_CRITERION] * \
        res[f'label_free/{DEFAULT_CRITERION}']
    assert 'label_free/class_balance' not in res
    with pytest.raises(ValueError, match='select'):
        LabelFreeMetric(select='accuracy')
    with pytest.raises(ValueError, match='source_stats'):
        LabelFreeMetric(select='class_balance')


def test_pixel_sample_is_per_image_not_per_order():
    """The SND pixels of an image depend on its path, not on its position
    in the batch (rules out one generator drawn in sequence: ranks and
    batch sizes would change the criterion)."""
    rng = np.random.default_rng(0)
    imgs = [rng.dirichlet(np.ones(3), size=(4, 60)).transpose(2, 0, 1)
            for _ in range(2)]
    one = LabelFreeMetric(num_pixels=10)
    one.process({}, [_sample(imgs[0], 'x.png'), _sample(imgs[1], 'y.png')])
    two = LabelFreeMetric(num_pixels=10)
    two.process({}, [_sample(imgs[1], 'y.png')])
    two.process({}, [_sample(imgs[0], 'x.png')])
    assert one.compute_metrics(one.results)['snd'] == pytest.approx(
        two.compute_metrics(two.results)['snd'], abs=1e-9)
