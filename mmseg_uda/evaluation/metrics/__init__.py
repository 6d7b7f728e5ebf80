from .class_subset_iou_metric import ClassSubsetIoUMetric

__all__ = ['ClassSubsetIoUMetric']
