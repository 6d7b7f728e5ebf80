from .acdc_submission import ACDCSubmissionMetric
from .cityscapes_submission import CityscapesSubmissionMetric
from .class_subset_iou_metric import ClassSubsetIoUMetric
from .condition_iou_metric import ConditionIoUMetric
from .darkzurich_submission import DarkZurichSubmissionMetric
from .label_free_metric import LabelFreeMetric
from .submission import SubmissionError, SubmissionMetric, check_predictions

__all__ = [
    'ACDCSubmissionMetric', 'CityscapesSubmissionMetric',
    'ClassSubsetIoUMetric', 'ConditionIoUMetric',
    'DarkZurichSubmissionMetric', 'LabelFreeMetric', 'SubmissionError',
    'SubmissionMetric', 'check_predictions'
]
