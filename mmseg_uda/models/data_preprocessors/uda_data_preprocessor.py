"""Data preprocessor of UDA models: the segmentor's own preprocessor applied
to each branch (source, target) of a UDA batch."""
from typing import Any, Dict

import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor
from mmseg.registry import MODELS

# Per-pixel fields that the UDA pipelines add next to ``gt_sem_seg`` and
# that must be padded with the images (0 = invalid / zero weight).
EXTRA_PIXEL_FIELDS = ('valid_pseudo_mask', 'seg_weight')


@MODELS.register_module()
class UDADataPreProcessor(BaseDataPreprocessor):
    """Run ``data_preprocessor`` (e.g. ``SegDataPreProcessor``) on every
    branch of ``{'source': {...}, 'target': {...}}`` training batches, and on
    plain batches (validation, test, inference) directly.

    Args:
        data_preprocessor: config of the per-branch preprocessor; UDA models
            default it to their segmentor's ``data_preprocessor``.
    """

    def __init__(self, data_preprocessor: dict):
        super().__init__()
        self.data_preprocessor = MODELS.build(data_preprocessor)

    @property
    def mean(self):
        """``(3, 1, 1)`` normalisation mean, 0..255 units (RGB if the
        preprocessor converts BGR to RGB)."""
        return self.data_preprocessor.mean

    @property
    def std(self):
        return self.data_preprocessor.std

    def forward(self, data: dict, training: bool = False) -> Dict[str, Any]:
        if 'inputs' in data:
            return self._process(data, training)
        return {
            branch: self._process(branch_data, training)
            for branch, branch_data in data.items()
        }

    def _process(self, data: dict, training: bool) -> dict:
        samples = data.get('data_samples')
        labelled = samples is not None and all('gt_sem_seg' in s
                                               for s in samples)
        if training and samples is not None and not labelled:
            # Gap: mmseg's ``stack_batch`` fails on training samples without
            # ``gt_sem_seg`` (unlabelled target crops); those are processed
            # the test-time way (normalise, stack equal-size crops).
            sizes = {tuple(img.shape[-2:]) for img in data['inputs']}
            if len(sizes) != 1:
                raise ValueError('unlabelled training images of one batch '
                                 f'must share one size, got {sorted(sizes)}')
            out = self.data_preprocessor(data, False)
            shape = tuple(out['inputs'].shape[-2:])
            for sample in out['data_samples']:
                sample.set_metainfo(
                    dict(img_shape=shape, pad_shape=shape,
                         padding_size=[0, 0, 0, 0]))
        else:
            out = self.data_preprocessor(data, training)
        if out.get('data_samples') is not None:
            _pad_extra_fields(out['data_samples'], out['inputs'].shape[-2:])
        return out


def _pad_extra_fields(samples, size) -> None:
    """Pad ``EXTRA_PIXEL_FIELDS`` at the bottom/right (as ``stack_batch``
    pads images) to ``size`` with 0."""
    h, w = size
    for sample in samples:
        for name in EXTRA_PIXEL_FIELDS:
            if name not in sample:
                continue
            field = getattr(sample, name)
            data = field.data
            dh, dw = h - data.shape[-2], w - data.shape[-1]
            if dh < 0 or dw < 0:
                raise ValueError(f'{name} of shape {tuple(data.shape)} is '
                                 f'larger than the padded image {(h, w)}')
            if dh or dw:
                del field.data
                field.data = F.pad(data, (0, dw, 0, dh), value=0)
