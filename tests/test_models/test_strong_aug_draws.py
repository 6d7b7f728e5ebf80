"""DACS's strong augmentation (vectorised over the batch): what is drawn
per image and what once per call, on batches of identical images so that a
draw shared by the batch gives identical outputs."""
import torch

from mmseg_uda.models.utils import StrongAugmentation

MEAN = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)
STD = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1)


def twin_batch():
    """``(2, 3, 32, 32)`` normalised images, both the same random image."""
    g = torch.Generator().manual_seed(0)
    img = (torch.rand(1, 3, 32, 32, generator=g) * 255 - MEAN) / STD
    return img.expand(2, -1, -1, -1).clone()


def test_jitter_factors_are_drawn_per_image():
    """Colour jitter always on, no blur: the two copies of one image get
    different brightness/contrast/saturation/hue factors (the reference
    applies kornia's ColorJitter image by image). Rules out one set of
    factors shared by the batch."""
    img = twin_batch()
    aug = StrongAugmentation(color_jitter_prob=1.0, blur=False)
    out = aug(img, MEAN, STD, generator=torch.Generator().manual_seed(1))
    assert not torch.allclose(out, img)
    assert not torch.allclose(out[0], out[1])


def test_blur_sigma_is_drawn_per_image():
    """Blur only: whenever it is applied, the two copies get different
    sigmas, so different results. Rules out one sigma shared by the
    batch."""
    img = twin_batch()
    aug = StrongAugmentation(color_jitter_prob=0.0, blur=True)
    gen = torch.Generator().manual_seed(2)
    blurred = [out for out in (aug(img, MEAN, STD, generator=gen)
                               for _ in range(10))
               if not torch.allclose(out, img)]
    assert blurred  # applied in some of 10 calls (probability 1/2 each)
    assert all(not torch.allclose(out[0], out[1]) for out in blurred)


def test_jitter_probability():
    """``color_jitter_prob=0.8``: about 80 of 100 calls change the batch
    (the reference jitters when ``U(0, 1) > 0.2``); the apply decision is
    once per call, so the batch is changed as a whole or not at all. Rules
    out the inverted comparison (20 of 100) and per-image decisions."""
    img = twin_batch()
    aug = StrongAugmentation(color_jitter_prob=0.8, blur=False)
    gen = torch.Generator().manual_seed(3)
    changed = 0
    for _ in range(100):
        out = aug(img, MEAN, STD, generator=gen)
        per_image = [not torch.allclose(out[i], img[i]) for i in range(2)]
        assert per_image[0] == per_image[1]
        changed += per_image[0]
    assert 65 <= changed <= 95
