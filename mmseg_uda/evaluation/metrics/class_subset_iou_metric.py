"""IoU metric that also reports mIoU over class subsets (SYNTHIA: the 16
classes of the dataset and the 13 of the literature)."""
from typing import Dict, Optional, Sequence

import numpy as np
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS


@METRICS.register_module()
class ClassSubsetIoUMetric(IoUMetric):
    """mmseg's ``IoUMetric`` plus ``<name>`` = mean IoU (in %, NaN-classes
    skipped like mmseg) over each subset of ``class_subsets``, and
    optionally the per-class IoU as ``IoU.<class name>``.

    Args:
        class_subsets (dict[str, list[int]]): e.g.
            ``dict(mIoU16=[...16 trainIds], mIoU13=[...13 trainIds])``.
        per_class_iou (bool): add ``IoU.<class>`` entries. Defaults to True.
        **kwargs: :class:`mmseg.evaluation.IoUMetric` arguments.
    """

    def __init__(self,
                 class_subsets: Optional[Dict[str, Sequence[int]]] = None,
                 per_class_iou: bool = True,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.class_subsets = {
            name: [int(c) for c in ids]
            for name, ids in (class_subsets or {}).items()
        }
        self.per_class_iou = per_class_iou

    def compute_metrics(self, results: list) -> Dict[str, float]:
        metrics = super().compute_metrics(results)
        if self.format_only or not results:
            return metrics
        columns = tuple(zip(*results))
        intersect, union = sum(columns[0]), sum(columns[1])
        iou = (np.asarray(intersect, dtype=np.float64) /
               np.asarray(union, dtype=np.float64))
        if self.nan_to_num is not None:
            iou = np.nan_to_num(iou, nan=self.nan_to_num)
        num_classes = len(iou)
        for name, ids in self.class_subsets.items():
            bad = [c for c in ids if not 0 <= c < num_classes]
            if bad:
                raise ValueError(f'class_subsets[{name!r}] holds class ids '
                                 f'{bad} outside 0..{num_classes - 1}')
            with np.errstate(invalid='ignore'):
                metrics[name] = float(np.round(np.nanmean(iou[ids]) * 100,
                                               2))
        if self.per_class_iou:
            names = self.dataset_meta['classes']
            for name, value in zip(names, iou):
                metrics[f'IoU.{name}'] = float(np.round(value * 100, 2))
        return metrics
