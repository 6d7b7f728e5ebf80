"""Data samples carrying computed labels and per-pixel loss weights."""
from typing import List

from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from torch import Tensor


def labelled_samples(templates: List[SegDataSample], label: Tensor,
                     weight: Tensor) -> List[SegDataSample]:
    """New samples with the metainfo of ``templates`` and the given
    ``(B, 1, H, W)`` labels (``gt_sem_seg``) and weights (``seg_weight``)."""
    samples = []
    for template, lbl, w in zip(templates, label, weight):
        sample = SegDataSample(metainfo=template.metainfo)
        sample.gt_sem_seg = PixelData(data=lbl.long())
        sample.seg_weight = PixelData(data=w.float())
        samples.append(sample)
    return samples


__all__ = ['labelled_samples']
