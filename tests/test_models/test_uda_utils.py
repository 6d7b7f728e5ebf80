"""DACS building blocks against hand-computed values (DAFormer reference
``mmseg/models/uda/dacs.py`` and ``mmseg/models/utils/dacs_transforms.py``)."""
import math

import pytest
import torch
import torch.nn as nn

import mmseg_uda  # noqa: F401
from mmseg_uda.models.losses import (
    FeatureDistanceLoss,
    downscale_label_majority,
)
from mmseg_uda.models.uda import apply_ignore_regions, pseudo_label_and_weight
from mmseg_uda.models.utils import (
    StrongAugmentation,
    blur_kernel_size,
    classmix_masks,
    copy_parameters,
    ema_alpha,
    ema_update,
    mix,
)


def test_ema_alpha_schedule():
    assert ema_alpha(0, 0.999) == 0.0
    assert ema_alpha(1, 0.999) == 0.5
    assert ema_alpha(9, 0.999) == pytest.approx(0.9)
    assert ema_alpha(999, 0.999) == pytest.approx(0.999)
    assert ema_alpha(5000, 0.999) == 0.999
    assert ema_alpha(50, 0.99) == pytest.approx(1 - 1 / 51)
    assert ema_alpha(500, 0.99) == 0.99


def _tiny():
    return nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2))


def test_ema_update_parameters_only():
    teacher, student = _tiny(), _tiny()
    with torch.no_grad():
        for p in teacher.parameters():
            p.fill_(1.0)
        for p in student.parameters():
            p.fill_(3.0)
        student[1].running_mean.fill_(7.0)
    ema_update(teacher, student, alpha=0.75)
    for p in teacher.parameters():
        assert torch.allclose(p, torch.full_like(p, 0.75 * 1 + 0.25 * 3))
    assert torch.all(teacher[1].running_mean == 0)  # buffers untouched
    copy_parameters(teacher, student)
    for p in teacher.parameters():
        assert torch.all(p == 3.0)
    assert torch.all(teacher[1].running_mean == 0)


def test_ema_update_mismatch():
    with pytest.raises(ValueError, match='different parameters'):
        ema_update(nn.Conv2d(1, 1, 1), nn.Conv2d(1, 1, 1, bias=False), 0.5)
    with pytest.raises(ValueError, match='shape'):
        ema_update(nn.Conv2d(1, 1, 1), nn.Linear(1, 1), 0.5)


def test_pseudo_label_weight_counts_all_pixels():
    # 2 images of 1x2 pixels, 2 classes. Max probabilities:
    # sigmoid(4)=0.982 (>= .968), sigmoid(1)=0.731, sigmoid(5)=.993,
    # sigmoid(0)=0.5 -> 2 of 4 confident -> weight 0.5 everywhere.
    logits = torch.tensor([[[[4., 0.]], [[0., 1.]]],
                           [[[0., 0.]], [[5., 0.]]]])
    label, weight = pseudo_label_and_weight(logits, 0.968)
    assert label.tolist() == [[[0, 1]], [[1, 0]]]
    assert torch.all(weight == 0.5)
    # The ignore rows are zeroed after the fraction was computed.
    w = apply_ignore_regions(weight.expand(2, 4, 2).clone(), top=1, bottom=1)
    assert w[:, 0].sum() == 0 and w[:, -1].sum() == 0
    assert torch.all(w[:, 1:3] == 0.5)
    valid = torch.ones(2, 4, 2)
    valid[0, 1, 0] = 0
    w = apply_ignore_regions(torch.ones(2, 4, 2), valid_mask=valid)
    assert w.sum() == 15 and w[0, 1, 0] == 0


def test_classmix_reference_semantics():
    torch.manual_seed(0)
    labels = torch.tensor([[[0, 0, 1, 1]], [[2, 2, 255, 255]]])[:, None]
    for _ in range(20):
        masks = classmix_masks(labels)
        assert masks.shape == (2, 1, 1, 4)
        for m, lbl in zip(masks, labels):
            # classes are those of the whole batch incl. 255: {0,1,2,255},
            # ceil(4/2) = 2 chosen: the mask is constant per class.
            for c in lbl.unique():
                vals = m[lbl == c].unique()
                assert vals.numel() == 1


def test_classmix_counts_and_per_image():
    gen = torch.Generator().manual_seed(1)
    # one image with 3 classes + ignore: per-image picks ceil(3/2) = 2
    labels = torch.tensor([[[0, 1, 2, 255]]])[:, None]
    chosen = set()
    for _ in range(30):
        m = classmix_masks(labels, per_image=True, generator=gen)[0, 0, 0]
        assert m[3] == 0  # ignore never pasted per-image
        assert int(m[:3].sum()) == 2
        chosen.add(tuple(m.tolist()))
    assert len(chosen) == 3  # all 2-of-3 subsets appear
    # batch-wide classes {0,1,2,255}: exactly 2 of 4 classes chosen
    m = classmix_masks(labels, generator=gen)[0, 0, 0]
    assert int(m.sum()) == 2


def test_mix():
    mask = torch.tensor([[[[1., 0.]]]])
    src = torch.tensor([[[[1., 2.]]]])
    tgt = torch.tensor([[[[5., 6.]]]])
    assert mix(mask, src, tgt).tolist() == [[[[1., 6.]]]]
    lbl = mix(mask, torch.tensor([[[[3, 3]]]]), torch.tensor([[[[7, 7]]]]))
    assert lbl.dtype == torch.int64 and lbl.tolist() == [[[[3, 7]]]]


def test_downscale_label_majority():
    label = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 255], [2, 2, 3, 3],
                          [2, 255, 3, 4]])[None, None]
    out = downscale_label_majority(label, 2, num_classes=5, min_ratio=0.75)
    # cells: [0]*4 -> 0; 1,1,1,255 -> 1 (0.75); 2,2,2,255 -> 2; 3,3,3,4 -> 3
    assert out.tolist() == [[[[0, 1], [2, 3]]]]
    out = downscale_label_majority(label, 2, num_classes=5, min_ratio=0.8)
    assert out.tolist() == [[[[0, 255], [255, 255]]]]
    with pytest.raises(ValueError, match='divisible'):
        downscale_label_majority(label, 3, num_classes=5)


def test_feature_distance_value_and_empty_mask():
    fd = FeatureDistanceLoss(classes=[1], num_classes=3, loss_weight=0.5)
    feat = torch.zeros(1, 2, 1, 2, requires_grad=True)
    imnet = torch.tensor([[[[3., 1.]], [[4., 1.]]]])
    # label 4x2 per feature cell (scale 2 from the width): cell 0 is class
    # 1 (thing), cell 1 class 0 -> mean over the one masked cell of
    # ||(0,0)-(3,4)|| = 5, times 0.5.
    label = torch.tensor([[1, 1, 0, 0], [1, 1, 0, 0]])[None, None]
    loss = fd(feat, imnet, label)
    assert loss.item() == pytest.approx(2.5)
    empty = fd(feat, imnet, torch.zeros_like(label))
    assert empty.item() == 0.0 and not torch.isnan(empty)
    empty.backward()
    assert torch.all(feat.grad == 0)


@pytest.mark.parametrize('num_classes', [7, 8])
def test_feature_distance_class_ids_outside_the_classes(num_classes):
    """The 19-class Cityscapes thing ids kept with num_classes=7: the
    error names the key and exactly the ids outside 0..6; 7 itself is one
    of them (rules out an off-by-one ``c <= num_classes``), and with 8
    classes it is valid."""
    from mmseg_uda.models.losses.feature_distance import (
        CITYSCAPES_THING_CLASSES,
    )
    outside = [c for c in CITYSCAPES_THING_CLASSES if c >= num_classes]
    with pytest.raises(ValueError) as info:
        FeatureDistanceLoss(num_classes=num_classes)
    assert f'model.imnet_feature_dist.classes holds {outside}' in str(
        info.value)
    assert f'num_classes={num_classes}' in str(info.value)
    FeatureDistanceLoss(classes=[0, num_classes - 1],
                        num_classes=num_classes)


def test_blur_kernel_size_reference_formula():
    # floor(ceil(0.1 s) - 0.5 + ceil(0.1 s) % 2)
    assert blur_kernel_size(512) == 51
    assert blur_kernel_size(1024) == 103
    assert blur_kernel_size(530) == 53
    assert blur_kernel_size(20) == 1


def test_strong_augmentation_shapes_and_identity():
    mean = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1)
    img = torch.randn(2, 3, 16, 16)
    off = StrongAugmentation(color_jitter_prob=0.0, blur=False)
    assert torch.equal(off(img, mean, std), img)
    # strength 0 jitter + no blur: identity up to float error
    zero = StrongAugmentation(color_jitter_strength=0.0, blur=False)
    assert torch.allclose(zero(img, mean, std), img)
    gen = torch.Generator().manual_seed(0)
    on = StrongAugmentation(color_jitter_prob=1.0, blur=True)
    outs = [on(img, mean, std, generator=gen) for _ in range(4)]
    assert all(o.shape == img.shape for o in outs)
    assert any(not torch.allclose(o, img) for o in outs)


def test_gaussian_blur_preserves_constant_and_mean():
    from mmseg_uda.models.utils.strong_aug import gaussian_blur
    const = torch.full((1, 3, 40, 40), 0.3)
    out = gaussian_blur(const, torch.tensor([1.0]))
    assert torch.allclose(out, const, atol=1e-6)
    x = torch.zeros(1, 1, 40, 40)
    x[0, 0, 20, 20] = 1.0
    out = gaussian_blur(x, torch.tensor([1.0]))
    assert out.sum().item() == pytest.approx(1.0, abs=1e-5)
    # separable 1D gaussian of sigma 1, kernel 3 (40 px): centre weight
    g = torch.exp(-torch.tensor([1., 0., 1.]) / 2)
    g = g / g.sum()
    assert out[0, 0, 20, 20].item() == pytest.approx(g[1].item()**2, rel=1e-5)
    assert math.isclose(out[0, 0, 20, 21].item(), (g[1] * g[0]).item(),
                        rel_tol=1e-5)
