from .daformer_head import DAFormerHead
from .deeplabv2_head import DeepLabV2Head  # noqa: F401
from .hrda_head import HRDAHead, crop_data_samples
from .pixel_weighted import PixelWeightedLossMixin, stack_seg_weight

__all__ = [
    'DAFormerHead', 'HRDAHead', 'PixelWeightedLossMixin', 'crop_data_samples',
    'stack_seg_weight'
]
