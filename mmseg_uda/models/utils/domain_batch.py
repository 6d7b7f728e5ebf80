"""One preprocessed branch (source or target) of a UDA batch."""
from dataclasses import dataclass
from functools import cached_property
from typing import List, Optional

import torch
from mmseg.structures import SegDataSample
from torch import Tensor


@dataclass
class DomainBatch:
    """The images and data samples of one domain of a preprocessed UDA
    batch (``UDADataPreProcessor``'s ``data['source']`` or
    ``data['target']``), with the per-pixel fields of the samples stacked
    once, on first use.

    Args:
        inputs (Tensor): ``(B, 3, H, W)`` normalised images.
        data_samples (list[:obj:`SegDataSample`]): their data samples.
    """
    inputs: Tensor
    data_samples: List[SegDataSample]

    @cached_property
    def label(self) -> Tensor:
        """``(B, 1, H, W)`` ground truth (``gt_sem_seg``) of the samples."""
        return torch.stack([s.gt_sem_seg.data for s in self.data_samples])

    @cached_property
    def valid_mask(self) -> Optional[Tensor]:
        """``(B, H, W)`` 0/1 ``valid_pseudo_mask`` of the samples, or None
        when the pipeline does not build it."""
        if 'valid_pseudo_mask' not in self.data_samples[0]:
            return None
        return torch.stack(
            [s.valid_pseudo_mask.data for s in self.data_samples])[:, 0]

    @property
    def img_metas(self) -> List[dict]:
        """The samples' metainfo (what ``encode_decode`` takes)."""
        return [s.metainfo for s in self.data_samples]


__all__ = ['DomainBatch']
