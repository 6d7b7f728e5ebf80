"""Path checks, bad-sample exclusion and label-value checks shared by the
plugin's datasets (GTA5, SYNTHIA, ACDC, Dark Zurich, folders)."""
import os
import os.path as osp
from collections import Counter
from typing import Optional

import numpy as np
from mmseg.datasets import CityscapesDataset

from .bad_samples import filter_bad_samples, report_files
from .dataset_files import BAD_SAMPLES_FILE

#: File name endings counted as images when reporting what a folder holds.
IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff',
                    '.webp', '.ppm', '.pgm')


#: mmseg's label padding value (``seg_pad_val``), ignored by its losses.
PAD_LABEL = 255


class LabelValueError(ValueError):
    """A label holds values outside ``[0, num_classes)`` and the ignore
    index; the message names the file and the values."""


def other_suffixes(folder: str, suffix: str,
                   recursive: bool = True) -> Counter:
    """``Counter`` of the extensions (case kept: ``.JPG`` differs from
    ``.jpg``) of the files in ``folder`` whose names do not end in
    ``suffix``."""
    counts: Counter = Counter()
    if not osp.isdir(folder):
        return counts
    for _, _, files in os.walk(folder):
        counts.update(
            osp.splitext(f)[1] or f for f in files if not f.endswith(suffix))
        if not recursive:
            break
    return counts


def describe_other_files(folder: str, suffix: str, recursive: bool = True,
                         images_only: bool = False) -> str:
    """What ``folder`` holds besides the files ending in ``suffix``, e.g.
    ``"5 files with other suffixes ('.JPG': 5)"`` ('' when nothing), with a
    hint when an extension differs from ``suffix`` only in case.
    ``images_only`` counts image extensions only."""
    others = other_suffixes(folder, suffix, recursive)
    if images_only:
        others = Counter({
            ext: n for ext, n in others.items()
            if ext.lower() in IMAGE_EXTENSIONS
        })
    if not others:
        return ''
    listing = ', '.join(f'{ext!r}: {n}' for ext, n in others.most_common(8))
    text = f'{sum(others.values())} files with other suffixes ({listing})'
    case = [ext for ext in others if ext.startswith('.')
            and not suffix.endswith(ext)
            and suffix.lower().endswith(ext.lower())]
    if case:
        text += (f'; {case[0]!r} differs from the suffix {suffix!r} only '
                 'in case: rename those files or change the suffix')
    return text


def check_label_values(label, num_classes: int, ignore_index: int,
                       path: Optional[str]) -> None:
    """Raise :class:`LabelValueError` naming ``path`` and the values if
    ``label`` (array or tensor of class ids) holds a value outside
    ``[0, num_classes)`` that is neither ``ignore_index`` nor 255 (mmseg
    pads labels with 255 and its losses ignore it by default).

    This is what the loss would otherwise fail on (an ``IndexError`` or a
    device-side assert naming no file) or what the IoU metric would drop
    silently.
    """
    bad = (label < 0) | ((label >= num_classes) & (label != ignore_index)
                         & (label != PAD_LABEL))
    if not bool(bad.any()):
        return
    values = np.unique(np.asarray(label[bad].cpu() if hasattr(
        label, 'cpu') else label[bad])).tolist()
    raise LabelValueError(
        f'label file {path!r} holds values {values[:10]} outside the '
        f'{num_classes} classes (0..{num_classes - 1}) and the ignore index '
        f'{ignore_index}: fix the label, map the values (tools/'
        'dataset_converters/folder.py --mapping) or run the converter, '
        'which lists the sample in bad_samples.json')


def _gt_labels(data):
    """(label tensor, seg_map_path) pairs of a packed sample (one sample,
    or the lists of a test-time-augmentation sample)."""
    samples = data.get('data_samples') if isinstance(data, dict) else None
    if samples is None:
        return []
    if not isinstance(samples, (list, tuple)):
        samples = [samples]
    out = []
    for s in samples:
        gt = getattr(s, 'gt_sem_seg', None)
        if gt is not None:
            out.append((gt.data, s.metainfo.get('seg_map_path')))
    return out


class CheckedDatasetMixin:
    """Checks for a mmseg ``BaseSegDataset`` subclass (put it first in the
    bases):

    - ``FileNotFoundError`` naming the path when ``data_root`` or the image
      folder is missing;
    - an empty dataset is an error naming the folder, the suffix and what
      else the folder holds (e.g. ``'.JPG': 5``), not mmengine's "need at
      least one array to concatenate";
    - the samples listed in the converters' bad-sample reports (the
      root's ``bad_samples_file``, relative to ``data_root``, and the
      report of the dataset's image folder,
      ``bad_samples_<folder>[_<split>].json``; None disables both) are
      left out, with a warning: bad samples are never used silently;
    - every prepared sample's ground truth must hold only class ids of the
      dataset or its ignore index (:class:`LabelValueError`, naming the
      label file), checked after the pipeline, i.e. on exactly what the loss
      or the metric receives.
    """

    #: False: only the files directly in the image folder (no subfolders).
    recursive = True

    def __init__(self, *args, bad_samples_file=BAD_SAMPLES_FILE, **kwargs):
        self.bad_samples_file = bad_samples_file
        self.num_bad_samples = 0
        super().__init__(*args, **kwargs)

    def _check_dir(self, path, what):
        if path and not osp.isdir(path):
            raise FileNotFoundError(
                f'{type(self).__name__}: {what} {path!r} does not exist '
                '(see docs/dataset_prepare.md)')

    def load_data_list(self):
        self._check_dir(self.data_root, 'data_root')
        if not (self.ann_file and osp.isfile(self.ann_file)):
            self._check_dir(self.data_prefix.get('img_path'), 'image folder')
        data_list = super().load_data_list()
        img_dir = self.data_prefix.get('img_path') or ''
        if not self.recursive and not self.ann_file:
            data_list = [
                d for d in data_list
                if osp.dirname(osp.relpath(d['img_path'], img_dir)) == ''
            ]
        if not data_list:
            self._raise_empty()
        kept = self._exclude_bad_samples(data_list)
        if not kept:
            raise ValueError(
                f'{type(self).__name__}: all {len(data_list)} samples of '
                f'{self.data_prefix.get("img_path")!r} are listed in the '
                'bad-sample reports '
                f'{report_files(self, self.bad_samples_file)}')
        return kept

    def _raise_empty(self):
        img_dir = self.data_prefix.get('img_path')
        if self.ann_file and osp.isfile(self.ann_file):
            raise ValueError(f'{type(self).__name__}: the split file '
                             f'{self.ann_file!r} lists no sample')
        other = describe_other_files(img_dir, self.img_suffix,
                                     self.recursive)
        raise ValueError(
            f'{type(self).__name__}: no image ending in '
            f'img_suffix={self.img_suffix!r} in {img_dir!r} (searched '
            f'{"recursively" if self.recursive else "flat"}); the folder '
            'holds '
            f'{other or "no other file"}. Set img_suffix (and data_prefix) '
            'to match your files.')

    def _exclude_bad_samples(self, data_list):
        kept = filter_bad_samples(data_list, self.data_root,
                                  report_files(self, self.bad_samples_file),
                                  type(self).__name__)
        self.num_bad_samples = len(data_list) - len(kept)
        return kept

    def prepare_data(self, idx):
        data = super().prepare_data(idx)
        # _metainfo: the public property deep-copies it for every sample
        num_classes = len(self._metainfo.get('classes') or ())
        if data is not None and num_classes:
            for label, path in _gt_labels(data):
                check_label_values(label, num_classes, self.ignore_index,
                                   path)
        return data


class CheckedCityscapesLabelDataset(CheckedDatasetMixin, CityscapesDataset):
    """Cityscapes-class dataset (19 classes and palette) with the checks of
    :class:`CheckedDatasetMixin`."""

