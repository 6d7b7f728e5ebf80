from mmseg.registry import DATASETS

from .checked_dataset import CheckedCityscapesLabelDataset


@DATASETS.register_module()
class ACDCDataset(CheckedCityscapesLabelDataset):
    """ACDC (adverse conditions) in Cityscapes trainIds.

    Layout: ``rgb_anon/{train,val,test}/<condition>/<seq>/*_rgb_anon.png``
    and ``gt/{train,val}/<condition>/<seq>/*_gt_labelTrainIds.png``. As an
    unlabelled UDA target, leave ``seg_map_path`` out of ``data_prefix``.
    """

    def __init__(self,
                 img_suffix='_rgb_anon.png',
                 seg_map_suffix='_gt_labelTrainIds.png',
                 **kwargs) -> None:
        super().__init__(
            img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)


@DATASETS.register_module()
class DarkZurichUDADataset(ACDCDataset):
    """Dark Zurich with the ACDC suffixes and path checks; the unlabelled
    training target is ``rgb_anon/train/night`` (no ``seg_map_path``), the
    validation split ``rgb_anon/val`` + ``gt/val``. (mmseg's
    ``DarkZurichDataset`` works too but has no path checks.)"""
