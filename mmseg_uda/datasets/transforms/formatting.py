import numpy as np
from mmcv.transforms import to_tensor
from mmengine.structures import PixelData
from mmseg.datasets.transforms import PackSegInputs
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PackUDAInputs(PackSegInputs):
    """``PackSegInputs`` that also packs ``results['valid_pseudo_mask']``
    (from ``GenerateValidPseudoMask``) as
    ``data_sample.valid_pseudo_mask = PixelData(data=uint8 [1, H, W])``."""

    def transform(self, results: dict) -> dict:
        packed = super().transform(results)
        mask = results.get('valid_pseudo_mask')
        if mask is not None:
            data = to_tensor(np.ascontiguousarray(mask[None]).astype(
                np.uint8))
            packed['data_samples'].set_data(
                {'valid_pseudo_mask': PixelData(data=data)})
        return packed
