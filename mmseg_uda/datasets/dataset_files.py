"""What dataset preparation leaves in a dataset root, for the library that
reads it: the file names of the rare class statistics and of the bad-sample
report, the Cityscapes label id -> trainId table and the statistics format.

The converters that write these files are the commands in
``tools/dataset_converters/`` (shared machinery:
``tools/dataset_converters/converter_utils.py``); the synthetic data
generator (:mod:`mmseg_uda.datasets.synthetic`) writes the same files.

Files written into the dataset root (paths relative to it, POSIX
separators):

- ``sample_class_stats.json``: ``[{"file": <label>, "<trainId>": <pixels>,
  ...}, ...]`` (only classes present in the label),
- ``samples_with_class.json``: ``{"<trainId>": [[<label>, <pixels>], ...]}``,
- ``bad_samples.json``: ``[{"image": ..., "label": ..., "reason": ...}]``
  for the whole root (GTA5, SYNTHIA and Cityscapes converters, the
  synthetic data);
- ``bad_samples_<folder>[_<split>].json`` (same format): the report of one
  image folder (and split file) of the root, written by
  ``tools/dataset_converters/folder.py`` (see :func:`folder_report_name`),
  so that checking two datasets of one root (e.g. an unlabelled ``train``
  folder and a labelled ``val`` folder) keeps both reports.

A dataset leaves out the samples listed in both the root's report and its
own folder's report (:func:`mmseg_uda.datasets.bad_samples.report_files`).
"""
import os.path as osp
from typing import Dict, List, Optional

import numpy as np

from ..utils.io import atomic_write_json

NUM_CLASSES = 19
IGNORE_INDEX = 255

STATS_FILE = 'sample_class_stats.json'
SAMPLES_WITH_CLASS_FILE = 'samples_with_class.json'
BAD_SAMPLES_FILE = 'bad_samples.json'


def folder_report_name(img_dir: str, split: Optional[str] = None) -> str:
    """File name of the bad-sample report of the image folder ``img_dir``
    (relative to the dataset root) and the optional split file ``split``:
    ``bad_samples_<img_dir, '/' as '_'>[_<split file name without
    extension>].json``, e.g. ``bad_samples_val_img.json`` for ``val/img``,
    ``bad_samples_img_train.json`` for ``img`` with ``train.txt``; the
    root's own report ``bad_samples.json`` for the root without a split."""
    parts = [p for p in osp.normpath(img_dir or '.').replace(
        '\\', '/').split('/') if p not in ('', '.')]
    if split:
        parts.append(osp.splitext(osp.basename(split))[0])
    if not parts:
        return BAD_SAMPLES_FILE
    return f'bad_samples_{"_".join(parts)}.json'


def cityscapes_id_to_train_id() -> Dict[int, int]:
    """Cityscapes label id -> trainId from the official label table of
    ``cityscapesscripts`` (GTA5 labels use the Cityscapes label ids). Ids
    whose trainId is 255 or -1 are left out (they map to 255)."""
    from cityscapesscripts.helpers.labels import labels
    return {
        lab.id: lab.trainId
        for lab in labels if lab.id >= 0 and 0 <= lab.trainId < NUM_CLASSES
    }


#: The 7 Cityscapes categories that hold evaluated classes, in the order
#: of their ``categoryId`` (1..7) in cityscapesscripts' label table.
CITYSCAPES_CATEGORIES = ('flat', 'construction', 'object', 'nature', 'sky',
                         'human', 'vehicle')


def cityscapes_id_to_category_id() -> Dict[int, int]:
    """Cityscapes label id -> category class id ``0..6`` (``categoryId -
    1``, :data:`CITYSCAPES_CATEGORIES`) from the official label table of
    ``cityscapesscripts``, for the ids of the 19 evaluated classes; the
    others (void, and labels ignored in evaluation such as parking or rail
    track) are left out (they map to 255), as in the 19-class table."""
    from cityscapesscripts.helpers.labels import labels
    return {
        lab.id: lab.categoryId - 1
        for lab in labels if lab.id >= 0 and 0 <= lab.trainId < NUM_CLASSES
    }


def make_lut(mapping: Dict[int, int], size: int = 256) -> np.ndarray:
    """Lookup table ``lut[id] = trainId`` (255 for unmapped ids)."""
    lut = np.full(size, IGNORE_INDEX, dtype=np.uint8)
    for src, dst in mapping.items():
        lut[src] = dst
    return lut


def convert_ids(label: np.ndarray, mapping: Dict[int, int]) -> np.ndarray:
    """Map label ids to trainIds (uint8, 255 for every unmapped value)."""
    size = max(int(label.max(initial=0)) + 1, max(mapping) + 1, 256)
    return make_lut(mapping, size)[label]


def class_pixel_counts(train_ids: np.ndarray,
                       num_classes: int = NUM_CLASSES) -> Dict[str, int]:
    """``{"<trainId>": pixels}`` for the classes present (255 excluded)."""
    counts = np.bincount(train_ids.ravel(), minlength=256)[:num_classes]
    return {str(c): int(n) for c, n in enumerate(counts) if n > 0}


def build_class_stats(records: List[dict]):
    """(sample_class_stats, samples_with_class) from conversion records
    ``dict(file, stats, reason)``; records with a ``reason`` (bad samples)
    are left out."""
    sample_class_stats = []
    samples_with_class: Dict[str, list] = {}
    for rec in records:
        if rec['reason'] is not None:
            continue
        entry = {'file': rec['file']}
        entry.update(rec['stats'])
        sample_class_stats.append(entry)
        for c, n in rec['stats'].items():
            samples_with_class.setdefault(c, []).append([rec['file'], n])
    samples_with_class = {
        c: samples_with_class[c]
        for c in sorted(samples_with_class, key=int)
    }
    return sample_class_stats, samples_with_class


def write_class_stats(root: str, records: List[dict]) -> None:
    """Write ``sample_class_stats.json`` and ``samples_with_class.json`` of
    ``records`` (see :func:`build_class_stats`) into ``root``."""
    stats, with_class = build_class_stats(records)
    atomic_write_json(osp.join(root, STATS_FILE), stats)
    atomic_write_json(osp.join(root, SAMPLES_WITH_CLASS_FILE), with_class)
