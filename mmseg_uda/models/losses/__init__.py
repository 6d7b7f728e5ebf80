from .adversarial_loss import AdversarialLoss  # noqa: F401
from .feature_distance import (
                               CITYSCAPES_THING_CLASSES,
                               FeatureDistanceLoss,
                               downscale_label_majority,
)
from .pfr_loss import (  # noqa: F401
                               PFRLoss,
                               gram_matrix,
                               pairwise_distance,
)
from .pixel_weighted_loss import (
                               PixelWeightedLoss,
                               SegWeightScope,
                               add_pixel_weights,
)

__all__ = [
    'CITYSCAPES_THING_CLASSES', 'FeatureDistanceLoss', 'PixelWeightedLoss',
    'SegWeightScope', 'add_pixel_weights', 'downscale_label_majority'
]
