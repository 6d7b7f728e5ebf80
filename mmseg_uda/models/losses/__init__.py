from .feature_distance import (
                               CITYSCAPES_THING_CLASSES,
                               FeatureDistanceLoss,
                               downscale_label_majority,
)

__all__ = [
    'CITYSCAPES_THING_CLASSES', 'FeatureDistanceLoss',
    'downscale_label_majority'
]
