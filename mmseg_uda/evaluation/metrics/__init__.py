from .class_subset_iou_metric import ClassSubsetIoUMetric
from .label_free_metric import LabelFreeMetric

__all__ = ['ClassSubsetIoUMetric', 'LabelFreeMetric']
