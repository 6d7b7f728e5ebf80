"""HRDA multi-resolution head (Hoyer et al., ECCV 2022) for mmseg 1.x.

Wraps a single-scale head (``head``, shared by the low-resolution context and
the high-resolution detail inputs) and a scale-attention head
(``scale_attention``: for a DAFormer head, the same head with a 1x1
ConvModule fusion and ``attention_embed_dim`` channels) that predicts, from
the context features, how much the detail prediction is trusted per pixel
(and per class with ``attention_classwise``). The wrapper itself holds no
tensors, so reference checkpoints map with the identity below
``decode_head.``.

The detail crop box travels as an argument (``crop_box``, HR-image pixel
coordinates ``(y1, y2, x1, x2)``); the head stores no per-call state.
Used by :class:`mmseg_uda.models.segmentors.HRDAEncoderDecoder`.
"""
import copy
import inspect
import math
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.structures import PixelData
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import add_prefix
from torch import Tensor

from .pixel_weighted import PixelWeightedLossMixin

CropBox = Tuple[int, int, int, int]
_BASE_ARGS = set(inspect.signature(BaseDecodeHead.__init__).parameters) - {
    'self', 'init_cfg'
}


def crop_data_samples(batch_data_samples: List, box: CropBox) -> List:
    """Copies of the samples with every pixel field of the label's size
    (``gt_sem_seg``, ``seg_weight``, valid masks, ...) cropped to ``box``
    ``(y1, y2, x1, x2)``; other fields are shared."""
    y1, y2, x1, x2 = box
    out = []
    for sample in batch_data_samples:
        size = tuple(sample.gt_sem_seg.shape)
        new = sample.__class__(metainfo=sample.metainfo)
        for key, value in sample.items():
            if isinstance(value, PixelData) and tuple(value.shape) == size:
                value = value[y1:y2, x1:x2]
            setattr(new, key, value)
        new.set_metainfo(dict(img_shape=(y2 - y1, x2 - x1)))
        out.append(new)
    return out


def _scale_losses(losses: dict, weight: float) -> dict:
    return {
        k: v * weight if k.startswith('loss') else v
        for k, v in losses.items()
    }


@MODELS.register_module()
class HRDAHead(PixelWeightedLossMixin, BaseDecodeHead):
    """Scale-attention fusion of a context (LR) and a detail (HR) prediction.

    ``fused = up((1 - a) * y_LR) + up(a) * y_HR`` with ``a`` the sigmoid of
    the scale attention on the context features; while training, ``a`` is 0
    outside the detail crop (masked at LR resolution, before upsampling, as
    the reference) and ``y_HR`` is inserted at the crop. Loss:
    ``(1 - hr_w - lr_w) * L(fused) + hr_w * L(y_HR, label crop)
    [+ lr_w * L(y_LR)]``, honouring ``seg_weight`` (cropped for the detail
    term).

    Args:
        single_scale_head (str): registry name of the shared head, built from
            the remaining keyword arguments.
        lr_loss_weight (float): weight of the LR term (reference: 0).
        hr_loss_weight (float): weight of the detail term (0.1).
        scales (Sequence[float]): the two input scales; the segmentor fills
            them in.
        attention_embed_dim (int): channels of the DAFormer attention head.
        attention_classwise (bool): one attention map per class (else one).
        fixed_attention (float, optional): constant attention instead of the
            attention head (ablations; e.g. 1 = HR only where available).
        **kwargs: arguments of the single-scale head (and
            :class:`BaseDecodeHead`: ``num_classes``, ``loss_decode``, ...).
    """

    def __init__(self,
                 single_scale_head: str = 'DAFormerHead',
                 lr_loss_weight: float = 0.0,
                 hr_loss_weight: float = 0.1,
                 scales: Sequence[float] = (1, 0.5),
                 attention_embed_dim: int = 256,
                 attention_classwise: bool = True,
                 fixed_attention: Optional[float] = None,
                 **kwargs):
        head_cfg = copy.deepcopy(kwargs)
        head_cfg['type'] = single_scale_head
        attn_cfg = self._attention_cfg(head_cfg, attention_embed_dim,
                                       attention_classwise)
        base_kwargs = {k: v for k, v in kwargs.items() if k in _BASE_ARGS}
        if isinstance(base_kwargs.get('in_channels'), (list, tuple)):
            base_kwargs.setdefault('input_transform', 'multiple_select')
        super().__init__(init_cfg=None, **base_kwargs)
        # the wrapper only fuses: no classifier of its own (as the reference)
        del self.conv_seg
        self.dropout = None

        if len(scales) != 2:
            raise ValueError(f'HRDA needs two scales, got {scales}')
        self.scales = sorted(scales)
        self.lr_loss_weight = lr_loss_weight
        self.hr_loss_weight = hr_loss_weight
        self.attention_classwise = attention_classwise
        self.fixed_attention = fixed_attention
        self.head = MODELS.build(head_cfg)
        self.scale_attention = None
        if fixed_attention is None:
            self.scale_attention = MODELS.build(attn_cfg)

    @staticmethod
    def _attention_cfg(head_cfg: dict, embed_dim: int,
                       classwise: bool) -> dict:
        cfg = copy.deepcopy(head_cfg)
        n_out = cfg['num_classes'] if classwise else 1
        cfg.update(num_classes=n_out, out_channels=n_out)
        if n_out == 1:
            cfg['threshold'] = 0.5  # unused; silences the binary warning
        if cfg['type'] == 'DAFormerHead':
            params = dict(cfg.get('decoder_params') or {})
            fusion = dict(params.get('fusion_cfg') or {})
            params['embed_dims'] = embed_dim
            params['fusion_cfg'] = dict(
                type='conv1',
                act_cfg=fusion.get('act_cfg', cfg.get('act_cfg',
                                                      dict(type='ReLU'))),
                norm_cfg=fusion.get('norm_cfg', cfg.get('norm_cfg')))
            cfg['decoder_params'] = params
            cfg['channels'] = embed_dim
        return cfg

    @property
    def scale_ratio(self) -> float:
        return self.scales[1] / self.scales[0]

    def get_scale_attention(self, lr_feats: Sequence[Tensor]) -> Tensor:
        return torch.sigmoid(self.scale_attention(lr_feats))

    def fuse(self,
             lr_feats: Sequence[Tensor],
             hr_seg: Tensor,
             crop_box: Optional[CropBox] = None
             ) -> Tuple[Tensor, Tensor, Tensor]:
        """Fuse the context prediction with a detail prediction.

        Args:
            lr_feats: backbone features of the context (LR) image.
            hr_seg: detail logits, of the crop ``crop_box`` (HR-image pixels)
                or, with ``crop_box=None``, of the whole HR image.
            crop_box: ``(y1, y2, x1, x2)`` of the detail crop; the attention
                is zero outside it.

        Returns:
            ``(fused, lr_seg, hr_seg)``: fused logits at the detail logits'
            stride over the whole image, the LR logits already multiplied
            by ``1 - attention`` (as the reference returns them), the detail
            logits.
        """
        att = None
        if self.scale_attention is not None:
            att = self.get_scale_attention(lr_feats)
        lr_seg = self.head(lr_feats)
        if att is None:
            att = lr_seg.new_full((lr_seg.shape[0], 1, *lr_seg.shape[2:]),
                                  float(self.fixed_attention))
        ratio = self.scale_ratio
        if crop_box is not None:
            y1, y2, x1, x2 = crop_box
            os_hr = (y2 - y1) / hr_seg.shape[2]
            os_lr = os_hr * ratio
            for v in (y1, x1):
                if v % os_lr:
                    raise ValueError(
                        f'crop box {crop_box} is not aligned with the context '
                        f'prediction (stride {os_lr:g} in HR pixels): use a '
                        'crop_coord_divisible that is a multiple of it')
            ly, lx = int(y1 // os_lr), int(x1 // os_lr)
            lh = math.ceil(hr_seg.shape[2] / ratio)
            lw = math.ceil(hr_seg.shape[3] / ratio)
            mask = att.new_zeros((att.shape[0], 1, *att.shape[2:]))
            mask[:, :, ly:ly + lh, lx:lx + lw] = 1
            att = att * mask
        lr_seg = (1 - att) * lr_seg
        up_lr_seg = self._upscale(lr_seg, ratio)
        att = self._upscale(att, ratio)
        if crop_box is not None:
            hy, hx = int(y1 // os_hr), int(x1 // os_hr)
            hr_inserted = up_lr_seg.new_zeros(up_lr_seg.shape)
            hr_inserted[:, :, hy:hy + hr_seg.shape[2],
                        hx:hx + hr_seg.shape[3]] = hr_seg
        elif hr_seg.shape[2:] != up_lr_seg.shape[2:]:
            hr_inserted = resize(
                hr_seg,
                size=up_lr_seg.shape[2:],
                mode='bilinear',
                align_corners=self.align_corners)
        else:
            hr_inserted = hr_seg
        fused = att * hr_inserted + up_lr_seg
        return fused, lr_seg, hr_seg

    def _upscale(self, x: Tensor, ratio: float) -> Tensor:
        if ratio == 1:
            return x
        return resize(
            x,
            scale_factor=ratio,
            mode='bilinear',
            align_corners=self.align_corners)

    def forward(self,
                inputs: Sequence,
                crop_box: Optional[CropBox] = None
                ) -> Tuple[Tensor, Tensor, Tensor]:
        """``inputs = (lr_feats, hr_feats)``; ``hr_feats`` are the features
        of the detail crop ``crop_box`` (or of the whole HR image)."""
        lr_feats, hr_feats = inputs
        hr_seg = self.head(hr_feats)
        return self.fuse(lr_feats, hr_seg, crop_box)

    def loss(self,
             inputs: Sequence,
             batch_data_samples: List,
             train_cfg=None,
             crop_box: Optional[CropBox] = None) -> dict:
        outputs = self.forward(inputs, crop_box)
        return self.loss_by_outputs(outputs, batch_data_samples, crop_box)

    def loss_by_outputs(self, outputs: Tuple[Tensor, Tensor, Tensor],
                        batch_data_samples: List,
                        crop_box: Optional[CropBox] = None) -> dict:
        """The weighted fused / detail (/ LR) losses of :meth:`fuse`'s
        outputs. Labels and ``seg_weight`` are at the resolution of the
        segmentor's input (HR image = input scaled by ``scales[1]``)."""
        fused, lr_seg, hr_seg = outputs
        fused_w = 1 - self.lr_loss_weight - self.hr_loss_weight
        losses = _scale_losses(
            self.loss_by_feat(fused, batch_data_samples), fused_w)
        if self.lr_loss_weight > 0:
            losses.update(
                add_prefix(
                    _scale_losses(
                        self.loss_by_feat(lr_seg, batch_data_samples),
                        self.lr_loss_weight), 'lr'))
        if self.hr_loss_weight > 0:
            hr_samples = batch_data_samples
            if crop_box is not None:
                s = self.scales[1]
                label_box = tuple(int(round(v / s)) for v in crop_box)
                hr_samples = crop_data_samples(batch_data_samples, label_box)
            losses.update(
                add_prefix(
                    _scale_losses(
                        self.loss_by_feat(hr_seg, hr_samples),
                        self.hr_loss_weight), 'hr'))
        return losses

    def predict(self, inputs: Sequence, batch_img_metas: List[dict],
                test_cfg=None) -> Tensor:
        fused = self.forward(inputs)[0]
        return self.predict_by_feat(fused, batch_img_metas)
