from .mit_fused import (
                        FusedEfficientMultiheadAttention,
                        MixVisionTransformerFused,
)
from .mit_ref import MixVisionTransformerRef
from .vit_feature_pyramid import ViTFeaturePyramid

__all__ = [
    'FusedEfficientMultiheadAttention', 'MixVisionTransformerFused',
    'MixVisionTransformerRef', 'ViTFeaturePyramid'
]
