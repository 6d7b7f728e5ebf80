"""Segmentation data in any image folder (and label folder)."""
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from .checked_dataset import CheckedDatasetMixin


@DATASETS.register_module()
class FolderSegDataset(CheckedDatasetMixin, BaseSegDataset):
    """Images in ``data_root/data_prefix.img_path`` ending in ``img_suffix``
    and, when ``data_prefix`` has ``seg_map_path``, their labels (class ids
    ``0..C-1``, ``ignore_index`` for unlabelled pixels) named like the
    image with ``seg_map_suffix`` instead of ``img_suffix``; or the samples
    named in a split file (``ann_file``, one name without suffix a line).
    This is mmseg's ``BaseSegDataset`` with the checks of
    :class:`CheckedDatasetMixin` (bad samples of the converter's report
    left out, empty folders and label values outside the classes reported
    with the file), for the three roles of UDA data:

    - labelled source:
      ``data_prefix=dict(img_path='img', seg_map_path='ann')``,
    - unlabelled target: ``data_prefix=dict(img_path='train')``,
    - labelled validation: as the source, with a test pipeline.

    Check (and convert) the folders first with
    ``tools/dataset_converters/folder.py``, which writes the bad-sample
    report and the rare class sampling statistics (docs/own_data.md).

    Args:
        metainfo (dict): ``dict(classes=(...), palette=[...])``; the
            classes are required (the palette is generated when missing).
        recursive (bool): also take the images of subfolders. Defaults to
            True (as mmseg); False for a flat folder.
        bad_samples_file (str | None): the root's bad-sample report,
            relative to ``data_root``; the report that
            ``tools/dataset_converters/folder.py`` writes for this image
            folder (``bad_samples_<folder>[_<split>].json``) is read too.
            None reads neither. Defaults to ``'bad_samples.json'``.
        **kwargs: the arguments of mmseg's ``BaseSegDataset``
            (``img_suffix`` defaults to ``'.jpg'``, ``seg_map_suffix`` to
            ``'.png'``).
    """

    def __init__(self, metainfo=None, recursive: bool = True, **kwargs):
        if not metainfo or not metainfo.get('classes'):
            raise ValueError(
                'FolderSegDataset needs the class names: '
                "metainfo=dict(classes=('road', ...)) (and optionally "
                'palette=[[r, g, b], ...]) in the dataset config')
        self.recursive = recursive
        super().__init__(metainfo=metainfo, **kwargs)
