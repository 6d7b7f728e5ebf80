"""Progressive feature refinement (PFR, Zhang et al.): multi-stage style and
content alignment of source and target features plus output-space
adversarial learning."""
from typing import Dict, List, Sequence

import torch.nn as nn
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType
from torch import Tensor

from ..utils import unwrap
from .advseg import AdaptSegNet

#: Which side of ``L_pfr`` is moved: the paper matches "the style and
#: content feature of source domain images to those of target domain
#: images" (source -> target: the target features are the fixed goal).
ALIGN_DIRECTIONS = ('source_to_target', 'target_to_source', 'both')


@MODELS.register_module()
class PFR(AdaptSegNet):
    """AdaptSegNet's output-space adversarial training plus
    ``L_pfr = L_sty + L_con`` on the backbone features of source and target
    images at ResNet stages 2-5 (docs/adversarial.md):
    ``L = L_seg + lambda_adv * L_adv + lambda_pfr * L_pfr`` with
    ``lambda_adv = 0.002`` and ``lambda_pfr = 0.004`` (``pfr_loss``'s
    ``loss_weight``).

    The features are taken with forward hooks during the same student
    forward passes that produce the segmentation outputs (no extra
    forward): the output of block ``feature_block`` of each ResNet stage in
    ``feature_stages``. Since ``L_pfr`` couples source and target, the
    generator step keeps the target graph until the source forward and
    back-propagates ``L_seg + lambda_adv L_adv + L_pfr`` in one backward
    (gradients all-reduced once).

    Args:
        segmentor: segmentor whose backbone is an mmseg ``ResNet``
            (``res_layers``), e.g. DeepLab-v2 on ``ResNetV1c``.
        pfr_loss: config of the ``PFRLoss`` (Gram normalisation, distances,
            ``loss_weight``).
        feature_stages: indices into the backbone's residual stages
            (``res_layers``): 0..3 are conv2_x..conv5_x, the paper's stages
            2..5.
        feature_block: which block of each stage gives the features: -1
            (default) the last block, i.e. the stage output; 0 the first.
        align: direction of the feature alignment.
            ``'source_to_target'`` (default, the paper's): the target
            features are detached in ``L_pfr``, so it moves the source
            features towards the target's and no ``L_pfr`` gradient reaches
            the network through the target images; ``'target_to_source'``
            detaches the source side instead; ``'both'`` detaches neither.
        lambda_adv: weight of the output-space adversarial loss (0.002).
        **kwargs: see :class:`AdaptSegNet`.
    """

    joint_generator_backward = True

    def __init__(self,
                 segmentor: ConfigType,
                 pfr_loss: OptConfigType = None,
                 feature_stages: Sequence[int] = (0, 1, 2, 3),
                 feature_block: int = -1,
                 align: str = 'source_to_target',
                 lambda_adv: float = 0.002,
                 **kwargs):
        if align not in ALIGN_DIRECTIONS:
            raise ValueError(f'PFR align must be one of {ALIGN_DIRECTIONS}, '
                             f'got {align!r}')
        super().__init__(segmentor=segmentor, lambda_adv=lambda_adv, **kwargs)
        self.align = align
        backbone = unwrap(self.student).backbone
        stage_names = getattr(backbone, 'res_layers', None)
        if stage_names is None:
            raise TypeError('PFR needs a ResNet-like backbone with '
                            f'res_layers, got {type(backbone).__name__}')
        feature_stages = tuple(int(i) for i in feature_stages)
        if not feature_stages:
            raise ValueError('feature_stages must not be empty')
        for i in feature_stages:
            if not 0 <= i < len(stage_names):
                raise ValueError(f'feature_stages: stage {i} out of range '
                                 f'0..{len(stage_names) - 1}')
            blocks = len(getattr(backbone, stage_names[i]))
            if not -blocks <= feature_block < blocks:
                raise ValueError(f'feature_block {feature_block} out of range '
                                 f'for stage {i} with {blocks} blocks')
        self.feature_stages = feature_stages
        self.feature_block = int(feature_block)
        self.pfr_loss = MODELS.build(
            pfr_loss if pfr_loss is not None else dict(type='PFRLoss'))

    def _feature_modules(self) -> List[nn.Module]:
        backbone = unwrap(self.student).backbone
        return [
            getattr(backbone, backbone.res_layers[i])[self.feature_block]
            for i in self.feature_stages
        ]

    def _alignment_losses(self, src_feats: List[Tensor],
                          tgt_feats: List[Tensor]) -> Dict[str, Tensor]:
        if self.align == 'source_to_target':
            tgt_feats = [f.detach() for f in tgt_feats]
        elif self.align == 'target_to_source':
            src_feats = [f.detach() for f in src_feats]
        return {
            f'pfr.{k}': v
            for k, v in self.pfr_loss(src_feats, tgt_feats).items()
        }


__all__ = ['PFR']
