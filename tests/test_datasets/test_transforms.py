import numpy as np
import pytest
import torch
from mmcv.transforms import Compose

from mmseg_uda.datasets import GenerateValidPseudoMask, PackUDAInputs


def _expected_mask(h, w, top, bottom, left, right):
    m = np.zeros((h, w), np.uint8)
    m[top:h - bottom, left:w - right] = 1
    return m


def test_margins_in_pixels_and_scaled():
    img = np.zeros((64, 128, 3), np.uint8)
    out = GenerateValidPseudoMask(margins=(3, 12, 2, 5))(
        dict(img=img, seg_fields=[]))
    np.testing.assert_array_equal(out['valid_pseudo_mask'],
                                  _expected_mask(64, 128, 3, 12, 2, 5))
    assert out['seg_fields'] == ['valid_pseudo_mask']
    out = GenerateValidPseudoMask(
        margins=(30, 240, 30, 30), ref_size=(2048, 1024))(
            dict(img=img, seg_fields=[]))
    np.testing.assert_array_equal(out['valid_pseudo_mask'],
                                  _expected_mask(64, 128, 2, 15, 2, 2))
    with pytest.raises(ValueError):
        GenerateValidPseudoMask(margins=(1, 2, 3))


@pytest.mark.parametrize('seed', range(6))
def test_mask_stays_aligned_through_resize_crop_flip(seed):
    h, w = 64, 128
    margins = (5, 20, 7, 3)
    img = np.random.default_rng(seed).integers(0, 255, (h, w, 3)).astype(
        np.uint8)
    # a label equal to the expected mask travels beside it: after the
    # geometric transforms both must still be identical
    results = dict(img=img, gt_seg_map=_expected_mask(h, w, *margins),
                   seg_fields=['gt_seg_map'], img_shape=(h, w),
                   ori_shape=(h, w))
    pipeline = Compose([
        GenerateValidPseudoMask(margins=margins),
        dict(type='Resize', scale=(96, 48), keep_ratio=True),
        dict(type='RandomCrop', crop_size=(32, 32)),
        dict(type='RandomFlip', prob=0.5),
        PackUDAInputs(),
    ])
    np.random.seed(seed)
    packed = pipeline(results)
    ds = packed['data_samples']
    mask = ds.valid_pseudo_mask.data
    assert mask.shape == (1, 32, 32) and mask.dtype == torch.uint8
    assert torch.equal(mask.long(), ds.gt_sem_seg.data)
    assert packed['inputs'].shape == (3, 32, 32)
