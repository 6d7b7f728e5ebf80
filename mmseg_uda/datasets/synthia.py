from mmseg.registry import DATASETS

from .checked_dataset import CheckedCityscapesLabelDataset

#: Cityscapes trainIds of the 16 SYNTHIA classes (all but terrain 9,
#: truck 14, train 16) and of the 13-class subset of the literature (the 16
#: minus wall 3, fence 4, pole 5).
SYNTHIA_16_CLASSES = (0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 15, 17, 18)
SYNTHIA_13_CLASSES = (0, 1, 2, 6, 7, 8, 10, 11, 12, 13, 15, 17, 18)


@DATASETS.register_module()
class SynthiaDataset(CheckedCityscapesLabelDataset):
    """SYNTHIA RAND-CITYSCAPES with labels converted to Cityscapes trainIds
    by ``tools/dataset_converters/synthia.py``.

    Layout: ``RGB/NNNNNNN.png`` and ``GT/LABELS/NNNNNNN_labelTrainIds.png``;
    use ``data_prefix=dict(img_path='RGB', seg_map_path='GT/LABELS')``.
    Only 16 of the 19 classes occur, but the metainfo keeps all 19 Cityscapes
    classes so that it pairs with Cityscapes (evaluate with
    ``ClassSubsetIoUMetric``).
    """

    def __init__(self,
                 img_suffix='.png',
                 seg_map_suffix='_labelTrainIds.png',
                 **kwargs) -> None:
        super().__init__(
            img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)
