import os.path as osp
from typing import Optional, Sequence

from mmseg.registry import DATASETS

from .checked_dataset import CheckedCityscapesLabelDataset

#: The adverse conditions of ACDC, as named in its folders.
ACDC_CONDITIONS = ('fog', 'night', 'rain', 'snow')


def acdc_condition(path: str) -> str:
    """The ACDC condition of an image or label path: the folder named
    ``fog``, ``night``, ``rain`` or ``snow`` (``rgb_anon/<condition>/test``
    as downloaded, or ``rgb_anon/val/<condition>``); ``ValueError`` naming
    the path when no folder is one (a layout that lost the condition)."""
    parts = osp.normpath(path).split(osp.sep)
    found = [p for p in parts if p in ACDC_CONDITIONS]
    if not found:
        raise ValueError(
            f'{path!r}: no folder of the path names an ACDC condition '
            f'{ACDC_CONDITIONS}; keep the condition folders of the dataset '
            '(rgb_anon/<condition>/<split>/<sequence>/...)')
    return found[-1]


@DATASETS.register_module()
class ACDCDataset(CheckedCityscapesLabelDataset):
    """ACDC (adverse conditions) in Cityscapes trainIds.

    Layout: ``rgb_anon/{train,val,test}/<condition>/<seq>/*_rgb_anon.png``
    and ``gt/{train,val}/<condition>/<seq>/*_gt_labelTrainIds.png``. As an
    unlabelled UDA target, leave ``seg_map_path`` out of ``data_prefix``.

    The layout of the download, ``rgb_anon/<condition>/<split>/<seq>`` and
    ``gt/<condition>/<split>/<seq>``, is read by setting ``split``: the
    ``data_prefix`` folders are then the roots (``rgb_anon``, ``gt``) and
    ``<condition>/<split>`` is read below them for each of ``conditions``,
    in that order (e.g. the unlabelled test split:
    ``data_prefix=dict(img_path='rgb_anon'), split='test'``).

    Args:
        conditions (Sequence[str]): the conditions read when ``split`` is
            set. Defaults to all four.
        split (str, optional): ``'train'``, ``'val'`` or ``'test'`` in the
            download's layout; None: ``data_prefix`` names the folders.
            Defaults to None.
    """

    def __init__(self,
                 img_suffix='_rgb_anon.png',
                 seg_map_suffix='_gt_labelTrainIds.png',
                 conditions: Sequence[str] = ACDC_CONDITIONS,
                 split: Optional[str] = None,
                 **kwargs) -> None:
        unknown = [c for c in conditions or () if c not in ACDC_CONDITIONS]
        if unknown or not conditions:
            raise ValueError(f'{type(self).__name__}: conditions '
                             f'{conditions!r}: choose among '
                             f'{ACDC_CONDITIONS}')
        self.conditions = tuple(conditions)
        self.split = split
        super().__init__(
            img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)

    def load_data_list(self):
        if self.split is None:
            return super().load_data_list()
        roots = dict(self.data_prefix)
        data_list = []
        try:
            for condition in self.conditions:
                self.data_prefix = {
                    k: osp.join(v, condition, self.split) if v else v
                    for k, v in roots.items()
                }
                data_list += super().load_data_list()
        finally:
            self.data_prefix = roots
        return data_list


@DATASETS.register_module()
class DarkZurichUDADataset(ACDCDataset):
    """Dark Zurich with the ACDC suffixes and path checks; the unlabelled
    training target is ``rgb_anon/train/night`` (no ``seg_map_path``), the
    validation split ``rgb_anon/val`` + ``gt/val``, the test split (no
    labels) ``rgb_anon/test/night``. (mmseg's ``DarkZurichDataset`` works
    too but has no path checks.)"""
