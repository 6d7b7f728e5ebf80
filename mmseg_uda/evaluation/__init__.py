from .metrics import ClassSubsetIoUMetric, LabelFreeMetric

__all__ = ['ClassSubsetIoUMetric', 'LabelFreeMetric']
