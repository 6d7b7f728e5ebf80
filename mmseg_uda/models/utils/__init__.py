from .classmix import classmix_masks, mix
from .ddp import grad_sync, unwrap
from .ema import copy_parameters, ema_alpha, ema_update
from .feature_capture import FirstCallCapture
from .masking import BlockMaskGenerator, block_mask
from .strong_aug import StrongAugmentation, blur_kernel_size

__all__ = [
    'BlockMaskGenerator', 'FirstCallCapture', 'StrongAugmentation',
    'blur_kernel_size', 'block_mask', 'classmix_masks', 'copy_parameters',
    'ema_alpha', 'ema_update', 'grad_sync', 'mix', 'unwrap'
]
