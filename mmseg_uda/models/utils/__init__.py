from .classmix import classmix_masks, mix
from .ddp import (
    average_buffers,
    finish_step,
    grad_sync,
    step_backward,
    unwrap,
)
from .domain_batch import DomainBatch
from .ema import copy_parameters, ema_alpha, ema_update
from .feature_capture import FirstCallCapture
from .labelled_samples import labelled_samples
from .masking import BlockMaskGenerator, block_mask
from .strong_aug import StrongAugmentation, blur_kernel_size

__all__ = [
    'BlockMaskGenerator', 'DomainBatch', 'FirstCallCapture',
    'StrongAugmentation',
    'average_buffers', 'finish_step', 'step_backward',
    'blur_kernel_size', 'block_mask', 'classmix_masks', 'copy_parameters',
    'ema_alpha', 'ema_update', 'grad_sync', 'labelled_samples', 'mix',
    'unwrap'
]
