from .formatting import PackUDAInputs
from .loading import (
    LoadCheckedAnnotations,
    LoadCheckedImageFromFile,
    read_image,
)
from .valid_pseudo_mask import GenerateValidPseudoMask

__all__ = [
    'GenerateValidPseudoMask', 'LoadCheckedAnnotations',
    'LoadCheckedImageFromFile', 'PackUDAInputs', 'read_image'
]
