"""HRDA multi-resolution encoder-decoder (Hoyer et al., ECCV 2022).

Training (``loss``): the input (the training crop, e.g. 1024x1024 at full
resolution) is

1. downscaled by ``scales[0]`` (0.5) into the *context* image and encoded:
   this is always the FIRST backbone call, so a forward hook on the backbone
   (feature distance) sees the LR context image and features;
2. cropped at a random box (``hr_crop_size``, coordinates multiples of
   ``crop_coord_divisible``, drawn per call) into the *detail* image,
   encoded by the same backbone;

and :class:`~mmseg_uda.models.decode_heads.HRDAHead` fuses both with its
scale attention. Loss: ``0.9 * L(fused) + 0.1 * L(detail, label crop)``.

Inference (``encode_decode``, used for pseudo-labels and test windows): the
context prediction of the whole input plus detail predictions of sliding
``hr_crop_size`` windows (stride half a crop) over the whole HR image,
averaged over overlaps, fused with the full attention map.

Test (``predict`` with ``test_cfg.mode='slide'``): sliding windows over the
image, each window fused as above; ``batched_slide=True`` processes
``batch_size`` windows per forward (all windows when ``batch_size`` is
None), at most ``max_batch_pixels`` input pixels per forward, so peak
memory is bounded by the window batch, not the image size.
"""
import copy
import math
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmseg.models.segmentors import EncoderDecoder
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import add_prefix
from torch import Tensor

CropBox = Tuple[int, int, int, int]


def get_crop_box(img_h: int,
                 img_w: int,
                 crop_size: Sequence[int],
                 divisible: int = 1,
                 rng: Optional[np.random.RandomState] = None) -> CropBox:
    """Random ``(y1, y2, x1, x2)`` crop of ``crop_size`` (clipped to the
    image) whose top-left corner is a multiple of ``divisible``; every such
    position inside the image is equally likely. Draws from ``rng`` (numpy's
    global RNG by default, seeded by mmengine)."""
    rng = np.random if rng is None else rng
    ch, cw = min(crop_size[0], img_h), min(crop_size[1], img_w)
    y1 = int(rng.randint(0, (img_h - ch) // divisible + 1)) * divisible
    x1 = int(rng.randint(0, (img_w - cw) // divisible + 1)) * divisible
    return y1, y1 + ch, x1, x1 + cw


def slide_boxes(h: int, w: int, crop: Sequence[int],
                stride: Sequence[int]) -> List[CropBox]:
    """mmseg's sliding-window boxes ``(y1, y2, x1, x2)``; windows at the
    border are shifted inside the image, so all have the same size."""
    h_crop, w_crop = crop
    h_stride, w_stride = stride
    h_grids = max(h - h_crop + h_stride - 1, 0) // h_stride + 1
    w_grids = max(w - w_crop + w_stride - 1, 0) // w_stride + 1
    boxes = []
    for i in range(h_grids):
        for j in range(w_grids):
            y2 = min(i * h_stride + h_crop, h)
            x2 = min(j * w_stride + w_crop, w)
            boxes.append((max(y2 - h_crop, 0), y2, max(x2 - w_crop, 0), x2))
    return boxes


@MODELS.register_module()
class HRDAEncoderDecoder(EncoderDecoder):
    """HRDA segmentor; ``decode_head`` must be an ``HRDAHead``.

    Args:
        scales (Sequence[float]): context and detail scales (sorted; the
            reference writes ``[1, 0.5]``).
        hr_crop_size (tuple, optional): detail crop size in HR pixels
            (512, 512); None trains on the whole HR image.
        hr_slide_inference (bool): detail prediction over the whole image by
            sliding ``hr_crop_size`` windows (else one HR pass).
        hr_slide_overlapping (bool): stride of half a crop (else a crop).
        hr_slide_batch_size (int, optional): detail windows per backbone
            call in ``encode_decode`` (None: all at once, as the reference).
        crop_coord_divisible (int): the detail crop's corner is a multiple
            of it (8 = output stride 4 x scale ratio 2, so LR and HR
            predictions align).
        feature_scale (float, optional): scale of the features for the
            ImageNet feature distance; only the context scale is supported
            (it is the first backbone call of ``loss``).
        test_cfg: mmseg's, plus ``batched_slide``, ``batch_size`` and
            ``max_batch_pixels`` (see :meth:`slide_window_batch`).
    """

    def __init__(self,
                 backbone: dict,
                 decode_head: dict,
                 neck: Optional[dict] = None,
                 auxiliary_head: Optional[dict] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 pretrained: Optional[str] = None,
                 init_cfg: Optional[dict] = None,
                 scales: Sequence[float] = (1, 0.5),
                 hr_crop_size: Optional[Sequence[int]] = None,
                 hr_slide_inference: bool = True,
                 hr_slide_overlapping: bool = True,
                 hr_slide_batch_size: Optional[int] = None,
                 crop_coord_divisible: int = 1,
                 feature_scale: Optional[float] = None):
        if auxiliary_head is not None:
            raise NotImplementedError(
                'HRDAEncoderDecoder does not support auxiliary heads (as the '
                'reference): set auxiliary_head=None in the segmentor, e.g. '
                'when wrapping an mmseg config that has one')
        scales = sorted(scales)
        if len(scales) != 2 or scales[0] > scales[1]:
            raise ValueError(f'HRDA needs two scales, got {scales}')
        if feature_scale is not None and feature_scale != scales[0]:
            raise ValueError(
                f'feature_scale={feature_scale}: the feature distance uses '
                f'the first backbone call, the context scale {scales[0]}')
        if int(crop_coord_divisible) < 1:
            raise ValueError('crop_coord_divisible must be >= 1')
        # Every side: a detail crop misaligned on one side only shifts the
        # LR/HR fusion silently (config validation says the same earlier).
        if hr_crop_size is not None and any(
                int(v) % int(crop_coord_divisible) for v in hr_crop_size):
            raise ValueError(
                f'hr_crop_size={tuple(hr_crop_size)} is not divisible by '
                f'crop_coord_divisible={crop_coord_divisible} on every side')
        decode_head = copy.deepcopy(decode_head)
        decode_head['scales'] = scales
        super().__init__(
            backbone=backbone,
            decode_head=decode_head,
            neck=neck,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
            pretrained=pretrained,
            init_cfg=init_cfg)
        if not hasattr(self.decode_head, 'fuse'):
            raise TypeError('HRDAEncoderDecoder needs an HRDAHead decode '
                            f'head, got {type(self.decode_head).__name__}')
        self.scales = scales
        self.feature_scale = scales[0]
        self.hr_crop_size = (tuple(hr_crop_size)
                             if hr_crop_size is not None else None)
        self.hr_slide_inference = hr_slide_inference
        self.hr_slide_overlapping = hr_slide_overlapping
        self.hr_slide_batch_size = hr_slide_batch_size
        self.crop_coord_divisible = int(crop_coord_divisible)

    # ------------------------------------------------------------ helpers
    def _rescale(self, img: Tensor, scale: float) -> Tensor:
        if scale == 1:
            return img
        return resize(
            img,
            scale_factor=scale,
            mode='bilinear',
            align_corners=self.align_corners)

    def sample_crop_box(self, img_h: int, img_w: int) -> CropBox:
        """A fresh detail crop box in HR-image pixels (drawn per call)."""
        return get_crop_box(img_h, img_w, self.hr_crop_size,
                            self.crop_coord_divisible)

    def forward_train_logits(
        self,
        inputs: Tensor,
        crop_box: Optional[CropBox] = None
    ) -> Tuple[Tuple[Tensor, Tensor, Tensor], Optional[CropBox]]:
        """``(fused, lr, hr)`` logits of a training forward and the crop box
        used (drawn when ``hr_crop_size`` is set and none is given)."""
        lr_img = self._rescale(inputs, self.scales[0])
        lr_feats = self.extract_feat(lr_img)  # first backbone call: context
        hr_img = self._rescale(inputs, self.scales[1])
        if self.hr_crop_size is not None:
            if crop_box is None:
                crop_box = self.sample_crop_box(*hr_img.shape[2:])
            y1, y2, x1, x2 = crop_box
            hr_img = hr_img[:, :, y1:y2, x1:x2]
        else:
            crop_box = None
        hr_feats = self.extract_feat(hr_img)
        return self.decode_head([lr_feats, hr_feats], crop_box), crop_box

    # ------------------------------------------------------------ training
    def loss(self,
             inputs: Tensor,
             data_samples: List,
             crop_box: Optional[CropBox] = None) -> dict:
        """Losses ``decode.loss_*`` (fused, x0.9) and ``decode.hr.loss_*``
        (detail crop, x0.1). ``seg_weight`` (and every pixel field of the
        label's size) is cropped with the labels for the detail term."""
        outputs, crop_box = self.forward_train_logits(inputs, crop_box)
        losses = self.decode_head.loss_by_outputs(outputs, data_samples,
                                                  crop_box)
        return add_prefix(losses, 'decode')

    # ------------------------------------------------------------ inference
    def hr_slide_logits(self, hr_img: Tensor) -> Tensor:
        """Detail logits over the whole HR image from sliding
        ``hr_crop_size`` windows, averaged where they overlap, at the
        detail head's output stride."""
        crop = self.hr_crop_size
        stride = [c // 2 for c in crop] if self.hr_slide_overlapping else crop
        b, _, h, w = hr_img.shape
        boxes = slide_boxes(h, w, crop, stride)
        n = self.hr_slide_batch_size or len(boxes)
        preds = count = None
        for i in range(0, len(boxes), n):
            chunk = boxes[i:i + n]
            crops = torch.cat(
                [hr_img[:, :, y1:y2, x1:x2] for y1, y2, x1, x2 in chunk])
            logits = self.decode_head.head(self.extract_feat(crops))
            if preds is None:
                lh, lw = logits.shape[2:]
                os_h = (chunk[0][1] - chunk[0][0]) / lh
                os_w = (chunk[0][3] - chunk[0][2]) / lw
                grid = (math.ceil(h / os_h), math.ceil(w / os_w))
                preds = logits.new_zeros((b, logits.shape[1], *grid))
                count = logits.new_zeros((b, 1, *grid))
            for j, (y1, y2, x1, x2) in enumerate(chunk):
                # a window at the bottom/right border ends at the grid's
                # end: when the image side is not a multiple of the output
                # stride, rounding its start would leave the last row or
                # column without a window (0/0 = NaN logits there)
                gy = grid[0] - lh if y2 == h else min(
                    int(round(y1 / os_h)), grid[0] - lh)
                gx = grid[1] - lw if x2 == w else min(
                    int(round(x1 / os_w)), grid[1] - lw)
                preds[:, :, gy:gy + lh, gx:gx + lw] += logits[j * b:(j + 1) *
                                                              b]
                count[:, :, gy:gy + lh, gx:gx + lw] += 1
        return preds / count

    def encode_decode(self, inputs: Tensor,
                      batch_img_metas: List[dict]) -> Tensor:
        """Fused logits over the whole input, at input resolution (context
        prediction + detail sliding windows + full attention)."""
        lr_feats = self.extract_feat(self._rescale(inputs, self.scales[0]))
        hr_img = self._rescale(inputs, self.scales[1])
        if self.hr_slide_inference and self.hr_crop_size is not None:
            hr_seg = self.hr_slide_logits(hr_img)
        else:
            hr_seg = self.decode_head.head(self.extract_feat(hr_img))
        fused = self.decode_head.fuse(lr_feats, hr_seg)[0]
        return resize(
            fused,
            size=inputs.shape[2:],
            mode='bilinear',
            align_corners=self.align_corners)

    def slide_window_batch(self, num_windows: int, num_images: int) -> int:
        """Windows per forward of :meth:`slide_inference`: 1 without
        ``batched_slide``; else ``batch_size`` (all windows if None), capped
        by ``max_batch_pixels`` (input pixels of the windows of all images
        in one forward; the memory budget: each window costs a context and
        ``hr_slide`` detail passes)."""
        if not self.test_cfg.get('batched_slide', False):
            return 1
        n = self.test_cfg.get('batch_size', None) or num_windows
        budget = self.test_cfg.get('max_batch_pixels', None)
        if budget:
            h, w = self.test_cfg.crop_size
            n = min(n, budget // (h * w * num_images))
        return max(1, min(n, num_windows))

    def slide_inference(self, inputs: Tensor,
                        batch_img_metas: List[dict]) -> Tensor:
        """Sliding windows (``test_cfg.crop_size``/``stride``), each fused
        over both resolutions; ``batch_size`` windows per forward when
        ``batched_slide`` (else one). Logits are averaged over overlaps and
        accumulated in place (no full-size temporaries per window)."""
        boxes = slide_boxes(*inputs.shape[2:], self.test_cfg.crop_size,
                            self.test_cfg.stride)
        n = self.slide_window_batch(len(boxes), inputs.shape[0])
        b = inputs.shape[0]
        preds = inputs.new_zeros((b, self.out_channels, *inputs.shape[2:]))
        count = inputs.new_zeros((b, 1, *inputs.shape[2:]))
        for i in range(0, len(boxes), n):
            chunk = boxes[i:i + n]
            crops = torch.cat(
                [inputs[:, :, y1:y2, x1:x2] for y1, y2, x1, x2 in chunk])
            logits = self.encode_decode(crops, batch_img_metas)
            for j, (y1, y2, x1, x2) in enumerate(chunk):
                preds[:, :, y1:y2, x1:x2] += logits[j * b:(j + 1) * b]
                count[:, :, y1:y2, x1:x2] += 1
            del logits, crops
        return preds / count

    def _forward(self, inputs: Tensor, data_samples=None) -> Tensor:
        """Fused logits at input resolution (``mode='tensor'``)."""
        metas = [s.metainfo for s in data_samples] if data_samples else []
        return self.encode_decode(inputs, metas)
