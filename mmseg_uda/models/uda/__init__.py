from .base import UDABaseSegmentor
from .dacs import DACS, apply_ignore_regions, pseudo_label_and_weight

__all__ = [
    'DACS', 'UDABaseSegmentor', 'apply_ignore_regions',
    'pseudo_label_and_weight'
]
