from .daformer_head import DAFormerHead
from .pixel_weighted import PixelWeightedLossMixin, stack_seg_weight

__all__ = ['DAFormerHead', 'PixelWeightedLossMixin', 'stack_seg_weight']
