from .advseg import AdaptSegNet  # noqa: F401
from .base import UDABaseSegmentor
from .dacs import DACS
from .masked_consistency import MaskedImageConsistency, predict_labels
from .pfr import PFR  # noqa: F401
from .pseudo_labels import (
    PseudoLabels,
    apply_ignore_regions,
    pseudo_label_and_weight,
)

__all__ = [
    'DACS', 'MaskedImageConsistency', 'PseudoLabels', 'UDABaseSegmentor',
    'apply_ignore_regions', 'predict_labels', 'pseudo_label_and_weight'
]
