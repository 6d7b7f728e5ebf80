from mmseg.registry import DATASETS

from .checked_dataset import CheckedCityscapesLabelDataset


@DATASETS.register_module()
class GTA5Dataset(CheckedCityscapesLabelDataset):
    """GTA5 (Playing for Data) with labels converted to Cityscapes trainIds
    by ``tools/dataset_converters/gta.py``.

    Layout: ``images/NNNNN.png`` and ``labels/NNNNN_labelTrainIds.png``;
    use ``data_prefix=dict(img_path='images', seg_map_path='labels')``.
    Metainfo: the 19 Cityscapes classes and palette.
    """

    def __init__(self,
                 img_suffix='.png',
                 seg_map_suffix='_labelTrainIds.png',
                 **kwargs) -> None:
        super().__init__(
            img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)
