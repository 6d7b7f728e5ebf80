"""IoU per ACDC condition (fog, night, rain, snow) and overall, from one
test run."""
from collections import OrderedDict
from typing import Dict, Sequence

import numpy as np
from mmengine.logging import print_log
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS
from prettytable import PrettyTable

from mmseg_uda.datasets.acdc import acdc_condition


@METRICS.register_module()
class ConditionIoUMetric(IoUMetric):
    """mmseg's ``IoUMetric`` (same ``mIoU``/``aAcc``/``mAcc`` over all
    images) plus the IoU of every class per ACDC condition, the condition
    being the ``fog``/``night``/``rain``/``snow`` folder of the image path.

    Logs one table (class x condition, and ``all``) and returns
    ``mIoU.<condition>`` for each condition met, next to ``IoUMetric``'s
    keys. A condition's IoU sums its images' intersections and unions, as
    ``IoUMetric`` does over the whole split (not a mean of per-image IoUs).

    Args:
        **kwargs: :class:`mmseg.evaluation.IoUMetric` arguments.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        if self.format_only:
            raise ValueError('ConditionIoUMetric evaluates labelled images '
                             '(format_only=False); write submissions with '
                             'ACDCSubmissionMetric')

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        first = len(self.results)
        super().process(data_batch, data_samples)
        for i, data_sample in enumerate(data_samples):
            self.results[first + i] = (*self.results[first + i],
                                       acdc_condition(
                                           data_sample['img_path']))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        metrics = super().compute_metrics([r[:4] for r in results])
        by_condition = OrderedDict()
        for r in sorted(results, key=lambda r: r[4]):
            by_condition.setdefault(r[4], []).append(r[:4])
        by_condition['all'] = [r[:4] for r in results]
        table = PrettyTable()
        table.add_column('Class', list(self.dataset_meta['classes']) +
                         ['mIoU', 'images'])
        for condition, rows in by_condition.items():
            totals = [sum(column) for column in zip(*rows)]
            iou = self.total_area_to_metrics(*totals, ['mIoU'],
                                             self.nan_to_num,
                                             self.beta)['IoU']
            iou = np.asarray(iou, dtype=np.float64)
            with np.errstate(invalid='ignore'):
                miou = float(np.round(np.nanmean(iou) * 100, 2))
            if condition != 'all':
                metrics[f'mIoU.{condition}'] = miou
            table.add_column(condition,
                             [round(float(v) * 100, 2) for v in iou] +
                             [miou, len(rows)])
        print_log('IoU per condition:\n' + table.get_string(),
                  logger='current')
        return metrics
