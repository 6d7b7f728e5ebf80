import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class GenerateValidPseudoMask(BaseTransform):
    """Add ``results['valid_pseudo_mask']``: a uint8 HxW map, 1 inside the
    image minus the margins, 0 in the margins (HRDA/MIC ignore the ego car
    and the image border for pseudo-labels; HRDA, docs/hrda.md).

    The mask is appended to ``results['seg_fields']``, so mmseg's
    ``Resize``/``RandomResize``, ``RandomCrop`` and ``RandomFlip`` transform
    it with nearest interpolation like a label. Put it right after the image
    loading; pack it with ``PackUDAInputs``.

    Args:
        margins (tuple[int]): (top, bottom, left, right) in pixels of the
            loaded image, or of ``ref_size`` if given.
        ref_size (tuple[int], optional): (W, H) the margins refer to; they
            are then scaled to the loaded image (e.g. the reference margins
            ``(30, 240, 30, 30)`` at ``(2048, 1024)``).
    """

    def __init__(self, margins=(30, 240, 30, 30), ref_size=None) -> None:
        if len(margins) != 4 or min(margins) < 0:
            raise ValueError('margins must be 4 non-negative ints (top, '
                             f'bottom, left, right), got {margins}')
        self.margins = tuple(margins)
        self.ref_size = tuple(ref_size) if ref_size is not None else None

    def transform(self, results: dict) -> dict:
        h, w = results['img'].shape[:2]
        top, bottom, left, right = self.margins
        if self.ref_size is not None:
            sx, sy = w / self.ref_size[0], h / self.ref_size[1]
            top, bottom = round(top * sy), round(bottom * sy)
            left, right = round(left * sx), round(right * sx)
        mask = np.zeros((h, w), dtype=np.uint8)
        mask[top:max(top, h - bottom), left:max(left, w - right)] = 1
        results['valid_pseudo_mask'] = mask
        fields = results.setdefault('seg_fields', [])
        if 'valid_pseudo_mask' not in fields:
            fields.append('valid_pseudo_mask')
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(margins={self.margins}, '
                f'ref_size={self.ref_size})')
