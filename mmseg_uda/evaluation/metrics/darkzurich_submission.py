"""Dark Zurich test-server (CodaLab) submission: labels, labels with the
uncertain pixels declared invalid, and confidences (docs/submit.md)."""
import os.path as osp
from typing import Dict

import numpy as np
import torch
from mmseg.registry import METRICS

from .submission import SubmissionMetric, write_png

#: The three folders at the root of the archive.
LABELS, INVALID, CONFIDENCE = ('labelTrainIds', 'labelTrainIds_invalid',
                               'confidence')
#: ``confidence/`` PNGs hold the softmax maximum times this (uint16).
CONFIDENCE_SCALE = 65535
#: The trainId of a pixel declared invalid in ``labelTrainIds_invalid/``.
INVALID_ID = 255


def softmax_confidence(data_sample: dict, pred: np.ndarray) -> torch.Tensor:
    """The softmax maximum per pixel ``(H, W)`` of a data sample's
    ``seg_logits``, after checking that they are the prediction's: present,
    at the label map's (the image's original) size, and with the label map
    as their argmax. mmseg's ``SegTTAModel`` (``--tta``) keeps the logits of
    its last augmentation only; ``SegTTASoftmaxModel`` keeps the averaged
    softmax."""
    path = data_sample.get('img_path')
    logits = (data_sample.get('seg_logits') or {}).get('data')
    if logits is None:
        raise ValueError(
            f'{path}: the prediction has no seg_logits, which the '
            'confidences are computed from (mmseg segmentors return them)')
    if tuple(logits.shape[-2:]) != pred.shape:
        raise ValueError(
            f'{path}: seg_logits of size {tuple(logits.shape[-2:])} for a '
            f'{pred.shape} label map')
    conf, arg = logits.float().softmax(dim=0).max(dim=0)
    if not bool(torch.isfinite(conf).all()):
        raise ValueError(f'{path}: seg_logits hold NaN or inf values')
    if not torch.equal(arg.cpu(), torch.as_tensor(pred).to(arg.dtype)):
        raise ValueError(
            f'{path}: the argmax of seg_logits is not pred_sem_seg, so they '
            'are not the prediction\'s probabilities; with --tta set '
            "tta_model=dict(type='SegTTASoftmaxModel')")
    return conf


@METRICS.register_module()
class DarkZurichSubmissionMetric(SubmissionMetric):
    """Writes the Dark Zurich submission (labels, invalid-aware labels and
    confidences), for mIoU and the uncertainty-aware UIoU.

    Each test image ``rgb_anon/test/night/<seq>/<name>_rgb_anon.png`` gets
    ``<name>_rgb_anon.png`` in each of three folders at the archive's root,
    all at the image's full resolution:

    - ``labelTrainIds/``: 8-bit grey, Cityscapes trainIds (the mIoU);
    - ``labelTrainIds_invalid/``: the same labels with 255 (invalid) where
      the softmax maximum is below ``invalid_threshold``;
    - ``confidence/``: 16-bit grey, round(softmax maximum x 65535).

    Args:
        invalid_threshold (float): softmax maximum under which a pixel is
            declared invalid in ``labelTrainIds_invalid/`` (strictly
            below). It changes UIoU only, not mIoU. Defaults to 0.5.
        **kwargs: :class:`SubmissionMetric` arguments (``output_dir``, ...).
    """

    def __init__(self,
                 output_dir: str,
                 archive_name: str = 'darkzurich_test',
                 invalid_threshold: float = 0.5,
                 **kwargs) -> None:
        if not 0.0 <= invalid_threshold <= 1.0:
            raise ValueError(f'invalid_threshold={invalid_threshold}: a '
                             'softmax probability in [0, 1] is expected')
        self.invalid_threshold = invalid_threshold
        super().__init__(output_dir, archive_name, **kwargs)

    def write_prediction(self, data_sample: dict, name: str,
                         pred: np.ndarray) -> Dict[str, tuple]:
        conf = softmax_confidence(data_sample, pred).cpu().numpy()
        labels = pred.astype(np.uint8)
        invalid = labels.copy()
        invalid[conf < self.invalid_threshold] = INVALID_ID
        encoded = np.round(conf.astype(np.float64) *
                           CONFIDENCE_SCALE).astype(np.uint16)
        ids = self.class_ids()
        files = {
            f'{LABELS}/{name}': (labels, ids),
            f'{INVALID}/{name}': (invalid, ids + [INVALID_ID]),
            f'{CONFIDENCE}/{name}': (encoded, None),
        }
        for rel, (array, _) in files.items():
            write_png(osp.join(self.pred_dir, rel), array)
        return {
            rel: (array.shape, array.dtype.name, allowed)
            for rel, (array, allowed) in files.items()
        }
