from .advseg import AdaptSegNet  # noqa: F401
from .base import UDABaseSegmentor
from .dacs import DACS, apply_ignore_regions, pseudo_label_and_weight
from .pfr import PFR  # noqa: F401

__all__ = [
    'DACS', 'UDABaseSegmentor', 'apply_ignore_regions',
    'pseudo_label_and_weight'
]
