"""GAN losses on discriminator logits (output-space adversarial training)."""
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

GAN_LOSSES = ('bce', 'lsgan')


@MODELS.register_module()
class AdversarialLoss(nn.Module):
    """Loss of discriminator logits against a constant domain label.

    - ``'bce'`` (AdaptSegNet's "Vanilla" GAN): binary cross-entropy with
      logits, ``mean(BCEWithLogits(pred, label))``;
    - ``'lsgan'`` (least squares GAN): ``mean((pred - label) ** 2)`` on the
      raw discriminator output (the discriminator has no sigmoid).

    The mean runs over all elements (batch and discriminator positions).

    Args:
        gan_loss: ``'bce'`` or ``'lsgan'``.
        loss_weight: multiplies the loss.
    """

    def __init__(self, gan_loss: str = 'bce', loss_weight: float = 1.0):
        super().__init__()
        if gan_loss not in GAN_LOSSES:
            raise ValueError(f'gan_loss must be one of {GAN_LOSSES}, got '
                             f'{gan_loss!r}')
        self.gan_loss = gan_loss
        self.loss_weight = loss_weight

    def forward(self, pred: Tensor, label: float) -> Tensor:
        """Args:
            pred: discriminator logits, any shape.
            label: the domain label every element is compared with (source
                0, target 1 by the AdaptSegNet convention).
        """
        target = pred.new_full(pred.shape, float(label))
        if self.gan_loss == 'bce':
            loss = F.binary_cross_entropy_with_logits(pred, target)
        else:
            loss = F.mse_loss(pred, target)
        return self.loss_weight * loss

    def extra_repr(self) -> str:
        return f'gan_loss={self.gan_loss!r}, loss_weight={self.loss_weight}'
