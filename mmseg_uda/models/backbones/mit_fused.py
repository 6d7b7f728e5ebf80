"""MiT whose efficient attention runs the fused scaled-dot-product kernel.

mmseg 1.2's ``EfficientMultiheadAttention.forward`` calls
``torch.nn.MultiheadAttention`` with the default ``need_weights=True``,
which materialises the ``(B, heads, N, N / sr^2)`` attention matrix (and
its softmax and its gradient) and rules out the fused flash /
memory-efficient kernels of ``F.scaled_dot_product_attention``. The
attention here computes the same function with the same parameters
(``attn.attn.in_proj_weight``, ``attn.attn.out_proj``, ...) through
``F.scaled_dot_product_attention``: state_dict keys, shapes and the
initialisation are those of mmseg's class.
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks.drop import DropPath
from mmseg.models.backbones import MixVisionTransformer
from mmseg.models.backbones.mit import EfficientMultiheadAttention
from mmseg.models.utils import nchw_to_nlc, nlc_to_nchw
from mmseg.registry import MODELS
from torch import Tensor


def sdpa_multihead_attention(mha: nn.MultiheadAttention, query: Tensor,
                             key_value: Tensor, training: bool) -> Tensor:
    """``mha(query, key_value, key_value)[0]`` for batch-first inputs via
    ``F.scaled_dot_product_attention`` (no attention weights returned).

    Args:
        mha: the ``nn.MultiheadAttention`` holding the projections (packed
            ``in_proj_weight``, same embedding size for q, k and v).
        query: ``(B, N, C)``.
        key_value: ``(B, M, C)`` (the spatially reduced tokens).
        training: apply ``mha.dropout`` to the attention weights.

    Returns:
        Tensor: ``(B, N, C)``.
    """
    b, n, c = query.shape
    m = key_value.shape[1]
    heads = mha.num_heads
    w, bias = mha.in_proj_weight, mha.in_proj_bias
    if key_value is query:
        qkv = F.linear(query, w, bias).view(b, n, 3, heads, c // heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
    else:
        w_q, w_kv = w.split([c, 2 * c])
        b_q, b_kv = (None, None) if bias is None else bias.split([c, 2 * c])
        q = F.linear(query, w_q, b_q).view(b, n, heads,
                                           c // heads).transpose(1, 2)
        kv = F.linear(key_value, w_kv, b_kv).view(b, m, 2, heads, c // heads)
        k, v = kv.permute(2, 0, 3, 1, 4).unbind(0)
    out = F.scaled_dot_product_attention(
        q, k, v, dropout_p=mha.dropout if training else 0.0)
    out = out.transpose(1, 2).reshape(b, n, c)
    return F.linear(out, mha.out_proj.weight, mha.out_proj.bias)


class FusedEfficientMultiheadAttention(EfficientMultiheadAttention):
    """:class:`EfficientMultiheadAttention` computed with
    ``F.scaled_dot_product_attention`` (same parameters and keys)."""

    def forward(self, x: Tensor, hw_shape: Sequence[int],
                identity: Optional[Tensor] = None) -> Tensor:
        """Args:
            x: ``(B, N, C)`` tokens of an ``hw_shape`` feature map.
        """
        x_kv = x
        if self.sr_ratio > 1:
            x_kv = nlc_to_nchw(x, hw_shape)
            x_kv = nchw_to_nlc(self.sr(x_kv))
            x_kv = self.norm(x_kv)
        if identity is None:
            identity = x
        out = sdpa_multihead_attention(self.attn, x, x_kv, self.training)
        return identity + self.dropout_layer(self.proj_drop(out))

    @classmethod
    def like(cls, attn: EfficientMultiheadAttention
             ) -> 'FusedEfficientMultiheadAttention':
        """A fused attention with the settings and the parameter values of
        ``attn``; the global RNG is left as it was (building draws initial
        weights that are overwritten here), so a seeded model is the same
        with and without fused attention."""
        if not attn.batch_first:
            raise ValueError('fused MiT attention needs batch_first=True')
        drop = attn.dropout_layer
        dropout_layer = (dict(type='DropPath', drop_prob=drop.drop_prob)
                         if isinstance(drop, DropPath) else None)
        norm = getattr(attn, 'norm', None)
        norm_cfg = dict(type='LN', eps=norm.eps) if isinstance(
            norm, nn.LayerNorm) else dict(type='LN')
        with torch.random.fork_rng(devices=[]):
            new = cls(
                embed_dims=attn.embed_dims,
                num_heads=attn.num_heads,
                attn_drop=attn.attn.dropout,
                proj_drop=attn.proj_drop.p,
                dropout_layer=dropout_layer,
                batch_first=True,
                qkv_bias=attn.attn.in_proj_bias is not None,
                norm_cfg=norm_cfg,
                sr_ratio=attn.sr_ratio)
        if norm is not None and not isinstance(norm, nn.LayerNorm):
            new.norm = norm  # another norm_cfg: keep the module itself
        new.load_state_dict(attn.state_dict(), strict=True)
        new.train(attn.training)
        return new


@MODELS.register_module()
class MixVisionTransformerFused(MixVisionTransformer):
    """:class:`~mmseg.models.backbones.MixVisionTransformer` with fused
    attention (``F.scaled_dot_product_attention``: flash / memory-efficient
    kernels on CUDA, no materialised attention matrix).

    Same arguments, state_dict keys and initialisation as mmseg's class
    (checkpoints load either way); outputs equal within float tolerance.

    Args:
        fused_attention (bool): use the fused attention (True); False is
            mmseg's class unchanged.
        **kwargs: :class:`MixVisionTransformer` arguments.
    """

    def __init__(self, *args, fused_attention: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fused_attention = fused_attention
        if fused_attention:
            for _, blocks, _ in self.layers:
                for block in blocks:
                    block.attn = FusedEfficientMultiheadAttention.like(
                        block.attn)


__all__ = [
    'FusedEfficientMultiheadAttention', 'MixVisionTransformerFused',
    'sdpa_multihead_attention'
]
