"""MiT with the LayerNorm eps of the reference code (SegFormer, DAFormer,
HRDA, MIC), for numerical parity with checkpoints trained there.

The reference MiT builds the block norms (``norm1``, ``norm2``) and the stage
output norms with eps 1e-6, but the patch-embedding norm and the attention's
spatial-reduction norm are plain ``nn.LayerNorm`` (eps 1e-5). mmseg 1.x's
:class:`~mmseg.models.backbones.MixVisionTransformer` uses one ``norm_cfg``
(eps 1e-6) for all of them, which changes the features by ~1e-5. The keys and
shapes are those of mmseg's class: only the two eps values differ.
"""
from typing import Optional

import torch.nn as nn
from mmseg.registry import MODELS

from .mit_fused import MixVisionTransformerFused


@MODELS.register_module()
class MixVisionTransformerRef(MixVisionTransformerFused):
    """:class:`MixVisionTransformerFused` with separate LayerNorm eps for the
    patch-embedding norms (``layers.{t}.0.norm``) and the attention
    spatial-reduction norms (``layers.{t}.1.{i}.attn.norm``).

    Args:
        patch_norm_eps (float, optional): eps of the patch-embedding norms
            (reference: 1e-5). None keeps ``norm_cfg``'s.
        attn_norm_eps (float, optional): eps of the spatial-reduction norms
            (reference: 1e-5). None keeps ``norm_cfg``'s.
        **kwargs: :class:`MixVisionTransformerFused` arguments (fused
            attention by default); ``norm_cfg`` (default LN eps 1e-6) sets
            the other norms, as the reference.
    """

    def __init__(self,
                 *args,
                 patch_norm_eps: Optional[float] = 1e-5,
                 attn_norm_eps: Optional[float] = 1e-5,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.patch_norm_eps = patch_norm_eps
        self.attn_norm_eps = attn_norm_eps
        for patch_embed, blocks, _ in self.layers:
            if patch_norm_eps is not None:
                _set_eps(getattr(patch_embed, 'norm', None), patch_norm_eps,
                         'patch embedding')
            if attn_norm_eps is not None:
                for block in blocks:
                    # no reduction (sr_ratio 1): no norm, nothing to set
                    _set_eps(getattr(block.attn, 'norm', None), attn_norm_eps,
                             'attention')


def _set_eps(norm: Optional[nn.Module], eps: float, where: str) -> None:
    if norm is None:
        return
    if not isinstance(norm, nn.LayerNorm):
        raise TypeError(f'MixVisionTransformerRef sets the eps of the {where} '
                        f'LayerNorm, but norm_cfg built {type(norm).__name__}')
    norm.eps = float(eps)
