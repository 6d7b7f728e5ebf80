"""ImageNet feature distance (DAFormer): keep the student's bottleneck
features of thing classes close to those of the frozen ImageNet encoder."""
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

# Cityscapes trainIds of the thing classes: traffic light, traffic sign,
# person, rider, car, truck, bus, train, motorcycle, bicycle.
CITYSCAPES_THING_CLASSES = (6, 7, 11, 12, 13, 14, 15, 16, 17, 18)


def downscale_label_majority(label: Tensor,
                             scale: int,
                             num_classes: int,
                             ignore_index: int = 255,
                             min_ratio: float = 0.75) -> Tensor:
    """Downscale a label map by majority vote.

    One-hot encode (``ignore_index`` as an extra class), average-pool by
    ``scale``, take the arg-max; cells whose majority covers less than
    ``min_ratio`` of the cell become ``ignore_index``.

    Args:
        label: ``(B, 1, H, W)`` long, ``H`` and ``W`` divisible by ``scale``.

    Returns:
        Tensor: ``(B, 1, H // scale, W // scale)`` long.
    """
    if label.shape[-2] % scale or label.shape[-1] % scale:
        raise ValueError(f'label size {tuple(label.shape[-2:])} is not '
                         f'divisible by the feature stride {scale}')
    # torch.where, not boolean-mask assignment: that one syncs on a GPU
    lbl = torch.where(label == ignore_index, num_classes, label)
    # scatter, not F.one_hot (which reads the label range on the host)
    onehot = lbl.new_zeros((lbl.shape[0], num_classes + 1, *lbl.shape[2:]),
                           dtype=torch.float).scatter_(1, lbl, 1.0)
    pooled = F.avg_pool2d(onehot, kernel_size=scale)
    ratio, out = pooled.max(dim=1, keepdim=True)
    out = torch.where((out == num_classes) | (ratio < min_ratio),
                      ignore_index, out)
    return out


@MODELS.register_module()
class FeatureDistanceLoss(nn.Module):
    """Masked L2 distance between student and ImageNet features.

    ``loss = weight * mean over masked cells of ||f_s - f_i||_2`` (L2 norm
    over channels); the mask keeps feature cells whose majority-vote label is
    one of ``classes``. An empty mask gives 0 (the reference returns NaN).

    Args:
        classes: trainIds whose pixels are regularised (thing classes).
        num_classes: classes of the label maps.
        scale_min_ratio: majority ratio below which a cell is ignored.
        loss_weight: ``lambda`` (0.005).
        feature_level: which output of the backbone is compared (an index
            into its tuple of levels; -1, the deepest, as DAFormer).
    """

    def __init__(self,
                 classes: Sequence[int] = CITYSCAPES_THING_CLASSES,
                 num_classes: int = 19,
                 scale_min_ratio: float = 0.75,
                 ignore_index: int = 255,
                 loss_weight: float = 0.005,
                 loss_name: str = 'loss_imnet_feat_dist',
                 feature_level: int = -1):
        super().__init__()
        outside = [int(c) for c in classes
                   if not 0 <= int(c) < num_classes]
        if outside:
            # e.g. the 19-class Cityscapes thing ids kept on 7-class data:
            # those ids would silently select no (or the wrong) pixels.
            raise ValueError(
                f'model.imnet_feature_dist.classes holds {outside}, which '
                f'are not class ids of model.imnet_feature_dist.num_classes'
                f'={num_classes} (0..{num_classes - 1}): list the thing '
                'classes of your dataset (docs/own_data.md)')
        self.feature_level = int(feature_level)
        self.register_buffer(
            'classes', torch.as_tensor(list(classes), dtype=torch.long),
            persistent=False)
        self.num_classes = num_classes
        self.scale_min_ratio = scale_min_ratio
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight
        self.loss_name = loss_name

    def forward(self, feat: Tensor, imnet_feat: Tensor,
                label: Tensor) -> Tensor:
        """Args:
            feat: ``(B, C, h, w)`` student features.
            imnet_feat: ``(B, C, h, w)`` frozen ImageNet features.
            label: ``(B, 1, H, W)`` source labels; the stride is ``W // w``
                (taken from the width, as the reference).

        Returns:
            Tensor: scalar loss (0 with gradient 0 if no cell qualifies).
        """
        dist = torch.norm(feat - imnet_feat.detach(), dim=1, p=2)  # (B,h,w)
        scale = label.shape[-1] // feat.shape[-1]
        small = downscale_label_majority(label, scale, self.num_classes,
                                         self.ignore_index,
                                         self.scale_min_ratio)
        mask = torch.isin(small[:, 0], self.classes.to(small.device))
        mask = mask.to(dist.dtype)
        # sum/clamped-count instead of mean over an empty selection (NaN).
        loss = (dist * mask).sum() / mask.sum().clamp(min=1.0)
        return self.loss_weight * loss
