"""ACDC test-server submission: one trainId PNG per test image, zipped for
all conditions and per condition (docs/submit.md)."""
import os.path as osp
from collections import Counter
from typing import Dict, List, Optional

import numpy as np
from mmseg.registry import METRICS

from mmseg_uda.datasets.acdc import acdc_condition

from .submission import SubmissionMetric, write_png


@METRICS.register_module()
class ACDCSubmissionMetric(SubmissionMetric):
    """Writes the ACDC semantic-segmentation submission.

    Each test image ``rgb_anon/<condition>/test/<seq>/<name>_rgb_anon.png``
    gets ``<name>_rgb_anon.png``: 8-bit grey, Cityscapes trainIds
    (road = 0), at the image's full resolution (mmseg's predictions are
    resized back to the original size). The server scores one task per
    upload, so one run writes ``<archive_name>.zip`` (all conditions) and
    ``<archive_name>_<condition>.zip`` for each condition; the files sit at
    the archive's root.

    Args:
        images_per_condition (int, optional): test images per condition of
            the server's split (500): a condition with another number fails.
            None: not checked.
        **kwargs: :class:`SubmissionMetric` arguments (``output_dir``, ...).
    """

    def __init__(self,
                 output_dir: str,
                 archive_name: str = 'acdc_test',
                 images_per_condition: Optional[int] = None,
                 **kwargs) -> None:
        self.images_per_condition = images_per_condition
        super().__init__(output_dir, archive_name, **kwargs)

    def write_prediction(self, data_sample: dict, name: str,
                         pred: np.ndarray) -> Dict[str, tuple]:
        # the condition is needed for the per-condition archives: fail on
        # the first image of a layout without it, not after the whole run
        acdc_condition(data_sample['img_path'])
        pred = pred.astype(np.uint8)
        write_png(osp.join(self.pred_dir, name), pred)
        return {name: (pred.shape, 'uint8', self.class_ids())}

    def check_count(self, results: list) -> List[str]:
        problems = super().check_count(results)
        if self.images_per_condition is not None:
            counts = Counter(acdc_condition(r['img_path']) for r in results)
            problems += [
                f'{n} test images of condition {c!r}, the server\'s split '
                f'has {self.images_per_condition}'
                for c, n in sorted(counts.items())
                if n != self.images_per_condition
            ]
        return problems

    def archives(self, results: list) -> Dict[str, List[str]]:
        archives = super().archives(results)
        by_condition: Dict[str, List[str]] = {}
        for r in results:
            by_condition.setdefault(acdc_condition(r['img_path']),
                                    []).extend(r['files'])
        for condition, members in sorted(by_condition.items()):
            archives[osp.join(
                self.archive_dir,
                f'{self.archive_name}_{condition}.zip')] = members
        return archives
