"""A plain ViT (mmpretrain's ``VisionTransformer``, e.g. DINOv2) as a
four-level feature pyramid for the multi-level heads of mmseg and the
plugin (DAFormer head, HRDA, UPerNet)."""
import math
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS

from mmseg_uda.utils.mmpretrain_import import import_mmpretrain_models


def resample_token_grid(grid: torch.Tensor, patch_size: int, stride: int,
                        out_size: Tuple[int, int]) -> torch.Tensor:
    """Resample a ViT token grid to a feature map of another stride.

    Token ``j`` covers input pixels ``[j * patch_size, (j + 1) *
    patch_size)``; output cell ``i`` of stride ``stride`` covers ``[i *
    stride, (i + 1) * stride)``. Bilinear interpolation with the scale
    factor ``patch_size / stride`` (not a target size) maps each output
    cell's centre to its position on the token grid, so the features stay
    aligned with the image whatever the ratio. The grid covers the padded
    input (a multiple of ``patch_size``); it is first extended by repeating
    its last row/column where it is too short to cover ``out_size`` (tiny
    inputs at large strides), and the result is cropped to ``out_size`` (the
    feature size of a stride-``stride`` network on the unpadded input:
    ``ceil(H / stride)``).

    Args:
        grid (Tensor): tokens as a map, (N, C, h, w).
        patch_size (int): input pixels per token.
        stride (int): input pixels per output cell.
        out_size (tuple[int, int]): output (height, width).

    Returns:
        Tensor: (N, C, out_size[0], out_size[1]).
    """
    if stride == patch_size:
        return grid[..., :out_size[0], :out_size[1]]
    # tokens needed so that floor(tokens * patch_size / stride) >= out size
    extra = [
        max(0, math.ceil(size * stride / patch_size) - have)
        for size, have in zip(out_size, grid.shape[-2:])
    ]
    if any(extra):
        grid = F.pad(grid, (0, extra[1], 0, extra[0]), mode='replicate')
    out = F.interpolate(
        grid,
        scale_factor=patch_size / stride,
        mode='bilinear',
        align_corners=False,
        recompute_scale_factor=False)
    return out[..., :out_size[0], :out_size[1]]


@MODELS.register_module()
class ViTFeaturePyramid(BaseModule):
    """Multi-level features of a plain vision transformer.

    The feature maps after blocks ``out_indices`` of mmpretrain's
    ``VisionTransformer`` (patch tokens, class token dropped), each
    normalised by the ViT's final LayerNorm (as DINOv2's
    ``get_intermediate_layers(norm=True)`` serves its dense heads), are
    resampled to the strides ``strides`` of a hierarchical encoder: the
    four-level input (4x, 2x, 1x and 0.5x a ViT's 1/16 resolution) that
    the pyramid head of VFM-UDA++ (Englert and Dubbelman, 2025,
    tue-mps/vfm-uda-plusplus ``models/multiscale_vfm/``) fuses, here
    without parameters, so that the DAFormer head, HRDA and UPerNet take a
    DINOv2 encoder unchanged (their per-level projections are the learned
    part). Every level has ``embed_dims`` channels.

    Any input size works: mmpretrain's patch embedding pads the input on
    the bottom/right to a multiple of the patch size (``AdaptivePadding``,
    'corner'), the position embedding is interpolated (bicubic) to the token
    grid, and :func:`resample_token_grid` returns exactly ``ceil(H / s) x
    ceil(W / s)`` maps aligned with the image.

    Args:
        vit (dict): config of the ViT (``type='mmpretrain.VisionTransformer'``
            by default). ``out_type``,
            ``out_indices`` and ``final_norm`` are set here. Its
            ``init_cfg`` loads the pretrained weights (keys of mmpretrain's
            VisionTransformer, which
            ``tools/model_converters/dinov2_to_mmpretrain.py`` writes from
            the DINOv2 release; mmpretrain's own DINOv2 checkpoints load
            with ``prefix='backbone.'``).
        out_indices (Sequence[int]): the blocks whose outputs form the
            pyramid, shallow to deep (negative: from the end). Defaults to
            (2, 5, 8, 11) (ViT-B: the last block of each quarter).
        strides (Sequence[int]): output stride of each level.
            Defaults to (4, 8, 16, 32).
        norm_intermediate (bool): apply the final LayerNorm to the
            intermediate blocks' outputs too. Defaults to True.
        init_cfg (dict, optional): initialisation of this module (the ViT's
            own ``init_cfg`` loads the pretrained weights). Defaults to None.
    """

    def __init__(self,
                 vit: dict,
                 out_indices: Sequence[int] = (2, 5, 8, 11),
                 strides: Sequence[int] = (4, 8, 16, 32),
                 norm_intermediate: bool = True,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        import_mmpretrain_models(type(self).__name__)
        if len(out_indices) != len(strides):
            raise ValueError(
                f'{type(self).__name__}: out_indices {tuple(out_indices)} '
                f'and strides {tuple(strides)} must have one entry per '
                'pyramid level')
        vit = dict(vit)
        vit.setdefault('type', 'mmpretrain.VisionTransformer')
        vit.update(out_type='raw', final_norm=True,
                   out_indices=list(out_indices))
        # mmseg has a VisionTransformer of its own: the scope prefix picks
        # mmpretrain's whatever the default scope
        self.vit = MODELS.build(vit)
        self.out_indices = list(self.vit.out_indices)
        if self.out_indices != sorted(set(self.out_indices)):
            raise ValueError(
                f'{type(self).__name__}: out_indices {tuple(out_indices)} '
                'must go from shallow to deep, each block once')
        self.strides = list(strides)
        self.norm_intermediate = norm_intermediate
        self.embed_dims = self.vit.embed_dims
        self.patch_size = self.vit.patch_embed.projection.stride[0]

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        height, width = x.shape[-2:]
        grid_h = math.ceil(height / self.patch_size)
        grid_w = math.ceil(width / self.patch_size)
        last = self.vit.num_layers - 1
        outs = []
        for block, tokens, stride in zip(self.out_indices, self.vit(x),
                                         self.strides):
            if self.norm_intermediate and block != last:
                tokens = self.vit.ln1(tokens)
            patches = tokens[:, self.vit.num_extra_tokens:]
            grid = patches.transpose(1, 2).reshape(
                x.shape[0], self.embed_dims, grid_h, grid_w)
            outs.append(
                resample_token_grid(
                    grid, self.patch_size, stride,
                    (math.ceil(height / stride), math.ceil(width / stride))))
        return outs
