from .pixel_weighted import PixelWeightedLossMixin, stack_seg_weight

__all__ = ['PixelWeightedLossMixin', 'stack_seg_weight']
