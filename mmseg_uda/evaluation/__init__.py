from .metrics import ClassSubsetIoUMetric

__all__ = ['ClassSubsetIoUMetric']
