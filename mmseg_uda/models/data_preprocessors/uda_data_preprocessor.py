"""Data preprocessor of UDA models: the segmentor's own preprocessor applied
to each branch (source, target) of a UDA batch."""
from typing import Any, Dict

import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor
from mmseg.registry import MODELS
from mmseg.utils import stack_batch

from ...utils.openmmlab_private import normalizes

# Per-pixel fields that the UDA pipelines add next to ``gt_sem_seg`` and
# that must be padded with the images (0 = invalid / zero weight).
EXTRA_PIXEL_FIELDS = ('valid_pseudo_mask', 'seg_weight')


@MODELS.register_module()
class UDADataPreProcessor(BaseDataPreprocessor):
    """Run ``data_preprocessor`` (e.g. ``SegDataPreProcessor``) on every
    branch of ``{'source': {...}, 'target': {...}}`` training batches, and on
    plain batches (validation, test, inference) directly.

    UDA models declare it in their config (``configs/_base_/uda/*.py``:
    ``data_preprocessor=dict(type='UDADataPreProcessor')``) and fill in
    their segmentor's own ``data_preprocessor`` when the config names none.

    Args:
        data_preprocessor (dict): config of the per-branch preprocessor
            (e.g. ``SegDataPreProcessor``).
    """

    def __init__(self, data_preprocessor: dict):
        super().__init__()
        if data_preprocessor is None:
            raise ValueError(
                'UDADataPreProcessor needs data_preprocessor (a UDA model '
                "fills in its segmentor's own)")
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
            out = self._process_unlabelled(data)
        else:
            out = self.data_preprocessor(data, training)
        if out.get('data_samples') is not None:
            _pad_extra_fields(out['data_samples'], out['inputs'].shape[-2:])
        return out


    def _process_unlabelled(self, data: dict) -> dict:
        """Normalise and pad unlabelled training images like labelled ones.

        Gap: mmseg's ``stack_batch`` fails on training samples without
        ``gt_sem_seg`` (unlabelled target crops), so the steps of
        ``SegDataPreProcessor.forward`` are repeated here without it.
        """
        dp = self.data_preprocessor
        data = dp.cast_data(data)
        inputs = data['inputs']
        if dp.channel_conversion and inputs[0].size(0) == 3:
            inputs = [img[[2, 1, 0], ...] for img in inputs]
        inputs = [img.float() for img in inputs]
        if normalizes(dp):
            inputs = [(img - dp.mean) / dp.std for img in inputs]
        shapes = [tuple(img.shape[-2:]) for img in inputs]
        inputs, pads = stack_batch(
            inputs=inputs,
            size=dp.size,
            size_divisor=dp.size_divisor,
            pad_val=dp.pad_val)
        for sample, shape, pad in zip(data['data_samples'], shapes, pads):
            sample.set_metainfo(
                dict(
                    img_shape=shape,
                    pad_shape=tuple(pad['pad_shape']),
                    padding_size=pad['img_padding_size']))
        return dict(inputs=inputs, data_samples=data['data_samples'])


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
