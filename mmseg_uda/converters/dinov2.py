"""DINOv2 release checkpoints (facebookresearch/dinov2, e.g.
``dinov2_vitb14_pretrain.pth``) -> the keys of mmpretrain's
``VisionTransformer``, the ViT inside ``ViTFeaturePyramid``.

mmpretrain 1.2.0 has DINOv2 configs and converted weights but no converter
from the release files; this is that table. The release's names
(``dinov2/models/vision_transformer.py``, ``dinov2/layers/block.py``,
``layer_scale.py``, ``mlp.py``, ``swiglu_ffn.py``) map one to one:

==================================  ==========================================
release                             mmpretrain VisionTransformer
==================================  ==========================================
cls_token, pos_embed                cls_token, pos_embed
mask_token                          (dropped: iBOT masking, pre-training)
patch_embed.proj.{weight,bias}      patch_embed.projection.{weight,bias}
blocks.N.norm1.*                    layers.N.ln1.*
blocks.N.attn.qkv.* / attn.proj.*   layers.N.attn.qkv.* / attn.proj.*
blocks.N.ls1.gamma                  layers.N.attn.gamma1.weight
blocks.N.norm2.*                    layers.N.ln2.*
blocks.N.mlp.fc1.* / mlp.fc2.*      layers.N.ffn.layers.0.0.* / ffn.layers.1.*
blocks.N.mlp.w12.* / mlp.w3.* (g)   layers.N.ffn.w12.* / ffn.w3.*
blocks.N.ls2.gamma                  layers.N.ffn.gamma2.weight
norm.*                              ln1.*
==================================  ==========================================

Checkpoints saved with block chunks (``blocks.C.N.*``, FSDP training) are
read too: ``N`` is the global block index there.
"""
import re
from typing import Dict, List, Tuple

import torch

# release name (after ``blocks.N.``) -> mmpretrain name (after ``layers.N.``)
BLOCK_KEYS: Dict[str, str] = {
    'norm1.weight': 'ln1.weight',
    'norm1.bias': 'ln1.bias',
    'attn.qkv.weight': 'attn.qkv.weight',
    'attn.qkv.bias': 'attn.qkv.bias',
    'attn.proj.weight': 'attn.proj.weight',
    'attn.proj.bias': 'attn.proj.bias',
    'ls1.gamma': 'attn.gamma1.weight',
    'norm2.weight': 'ln2.weight',
    'norm2.bias': 'ln2.bias',
    'mlp.fc1.weight': 'ffn.layers.0.0.weight',
    'mlp.fc1.bias': 'ffn.layers.0.0.bias',
    'mlp.fc2.weight': 'ffn.layers.1.weight',
    'mlp.fc2.bias': 'ffn.layers.1.bias',
    'mlp.w12.weight': 'ffn.w12.weight',
    'mlp.w12.bias': 'ffn.w12.bias',
    'mlp.w3.weight': 'ffn.w3.weight',
    'mlp.w3.bias': 'ffn.w3.bias',
    'ls2.gamma': 'ffn.gamma2.weight',
}
# keys outside the blocks
TOP_KEYS: Dict[str, str] = {
    'cls_token': 'cls_token',
    'pos_embed': 'pos_embed',
    'patch_embed.proj.weight': 'patch_embed.projection.weight',
    'patch_embed.proj.bias': 'patch_embed.projection.bias',
    'norm.weight': 'ln1.weight',
    'norm.bias': 'ln1.bias',
}
# pre-training only: not part of the encoder
DROPPED_KEYS = ('mask_token', )

_BLOCK = re.compile(r'^blocks\.(?:\d+\.)?(\d+)\.(.+)$')


def _unwrap(checkpoint: dict) -> dict:
    """The state dict of a release file (a bare state dict) or of a
    training checkpoint (``model``/``teacher``/``state_dict`` entry)."""
    for key in ('state_dict', 'model', 'teacher'):
        inner = checkpoint.get(key)
        if isinstance(inner, dict) and inner:
            return inner
    return checkpoint


def convert_dinov2(checkpoint: dict) -> Tuple[Dict[str, torch.Tensor],
                                              List[str]]:
    """Rename the weights of a DINOv2 release checkpoint to mmpretrain's
    ``VisionTransformer`` keys.

    Args:
        checkpoint (dict): the loaded release file (a state dict, or a dict
            holding it under ``state_dict``/``model``/``teacher``).

    Returns:
        tuple[dict, list[str]]: the converted state dict and the dropped
        release keys.

    Raises:
        KeyError: a key the table does not know (named, with the number of
            unknown keys), e.g. register tokens or a DINOv2 head.
    """
    state = _unwrap(checkpoint)
    out, dropped, unknown = {}, [], []
    for key, value in state.items():
        if key in DROPPED_KEYS:
            dropped.append(key)
            continue
        if key in TOP_KEYS:
            out[TOP_KEYS[key]] = value
            continue
        match = _BLOCK.match(key)
        if match and match.group(2) in BLOCK_KEYS:
            out[f'layers.{match.group(1)}.{BLOCK_KEYS[match.group(2)]}'] = \
                value
            continue
        unknown.append(key)
    if unknown:
        raise KeyError(
            f'{len(unknown)} key(s) of the checkpoint are not DINOv2 '
            f'encoder weights this converter knows, e.g. {unknown[:5]} '
            '(register tokens and heads are not supported)')
    if 'cls_token' not in out or 'patch_embed.projection.weight' not in out:
        raise KeyError('not a DINOv2 release checkpoint: no cls_token / '
                       'patch_embed.proj.weight')
    return out, dropped
