from .metrics import (
    ACDCSubmissionMetric,
    CityscapesSubmissionMetric,
    ClassSubsetIoUMetric,
    ConditionIoUMetric,
    DarkZurichSubmissionMetric,
    LabelFreeMetric,
    SubmissionError,
    SubmissionMetric,
    check_predictions,
)

__all__ = [
    'ACDCSubmissionMetric', 'CityscapesSubmissionMetric',
    'ClassSubsetIoUMetric', 'ConditionIoUMetric',
    'DarkZurichSubmissionMetric', 'LabelFreeMetric', 'SubmissionError',
    'SubmissionMetric', 'check_predictions'
]
