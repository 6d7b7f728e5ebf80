from .mit_fused import (
                        FusedEfficientMultiheadAttention,
                        MixVisionTransformerFused,
)
from .mit_ref import MixVisionTransformerRef

__all__ = [
    'FusedEfficientMultiheadAttention', 'MixVisionTransformerFused',
    'MixVisionTransformerRef'
]
