"""Test-time augmentation that keeps the averaged softmax."""
from typing import List

import torch
from mmengine.structures import PixelData
from mmseg.models import SegTTAModel
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import SampleList


@MODELS.register_module()
class SegTTASoftmaxModel(SegTTAModel):
    """mmseg's ``SegTTAModel`` (the prediction is the argmax of the softmax
    averaged over the augmentations) whose merged sample also carries that
    average, as ``seg_logits = log(mean softmax)``: ``softmax(seg_logits)``
    gives it back exactly, and its argmax is the prediction.

    Gap: mmseg's ``SegTTAModel`` leaves the last augmentation's own logits
    in the merged sample, so a confidence read from them (the Dark Zurich
    submission) would not be the prediction's.
    """

    def merge_preds(self, data_samples_list: List[SampleList]) -> SampleList:
        if self.module.out_channels == 1:
            return super().merge_preds(data_samples_list)
        predictions = []
        for data_samples in data_samples_list:
            probs = sum(s.seg_logits.data.softmax(dim=0)
                        for s in data_samples) / len(data_samples)
            merged = SegDataSample(metainfo=data_samples[0].metainfo)
            merged.pred_sem_seg = PixelData(
                data=probs.argmax(dim=0, keepdim=True))
            # log(0) = -inf would make an all-zero pixel NaN in softmax
            merged.seg_logits = PixelData(data=probs.clamp_min(
                torch.finfo(probs.dtype).tiny).log())
            if 'gt_sem_seg' in data_samples[0]:
                merged.gt_sem_seg = data_samples[0].gt_sem_seg
            predictions.append(merged)
        return predictions
