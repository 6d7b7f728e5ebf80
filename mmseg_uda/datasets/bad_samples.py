"""Bad samples of training datasets: the converters' report and the runtime
replacement policy.

Two mechanisms, both applied by :class:`~mmseg_uda.datasets.UDADataset` to
its source and its target dataset (so every training dataset honours them,
mmseg's own ``CityscapesDataset`` included, without config changes):

- **Static** (:func:`exclude_reported_bad_samples`): the dataset converters
  list the samples they could not convert in ``<data_root>/bad_samples.json``
  (the whole root) or ``<data_root>/bad_samples_<folder>[_<split>].json``
  (one image folder, see
  :func:`~mmseg_uda.datasets.dataset_files.folder_report_name`)
  (``[{"image": <path relative to data_root>, ...}]``); the samples listed
  in either are removed from the dataset when it is initialised, with a
  warning.
- **Runtime** (:func:`load_or_replace`): a sample that cannot be read when
  training meets it (a file deleted or damaged after the conversion) is
  replaced by another sample of the same dataset, chosen by a pure function
  of ``(seed, sample counter k, branch, replacement number)``: the same on
  every rank, with any number of workers and after a resume. The
  replacement is reported in the returned sample's metainfo
  (``BAD_SAMPLE_KEY``); ``BadSampleHook`` logs, counts and records it in the
  work dir and stops the run past its limit.

Seam for other datasets (e.g. folder datasets): anything with ``data_root``
(and mmengine's ``get_data_info``/``get_subset_``) honours the report as
long as it is wrapped by ``UDADataset``; a dataset class can set the
attribute ``bad_samples_file`` (a path relative to ``data_root``, or None to
opt out). Datasets that filter their data list themselves
(``CheckedCityscapesLabelDataset``) use :func:`filter_bad_samples`.
"""
import json
import logging
import os.path as osp
from typing import Callable, List, Optional, Sequence, Set

import numpy as np
from mmengine.logging import print_log

from .dataset_files import BAD_SAMPLES_FILE, folder_report_name

#: metainfo key of a packed sample listing the unreadable samples it
#: replaces (a list of dicts: ``path``, ``error``, ``index``, ``k``,
#: ``branch``).
BAD_SAMPLE_KEY = 'replaced_bad_samples'
#: stream id of the replacement draws (UDASampler uses 0-2).
REPLACEMENT_STREAM = 3
#: data-info keys naming the files of a sample.
_FILE_KEYS = ('img_path', 'seg_map_path')


class BadSampleError(RuntimeError):
    """Too many unreadable training samples (a runtime limit was passed)."""


def report_files(dataset, bad_samples_file: Optional[str] = BAD_SAMPLES_FILE
                 ) -> List[str]:
    """The bad-sample reports of ``dataset`` (relative to its
    ``data_root``): ``bad_samples_file`` (the root's report; None: no
    report at all) and the report of its own image folder and split file
    (:func:`~mmseg_uda.datasets.dataset_files.folder_report_name`)."""
    if not bad_samples_file:
        return []
    names = [bad_samples_file]
    data_root = getattr(dataset, 'data_root', None) or ''
    img_dir = (getattr(dataset, 'data_prefix', None) or {}).get('img_path')
    if img_dir is not None:
        rel = osp.relpath(img_dir, data_root) if data_root else img_dir
        own = folder_report_name(rel, getattr(dataset, 'ann_file', None))
        if own not in names:
            names.append(own)
    return names


def reported_bad_images(data_root: str,
                        bad_samples_file=BAD_SAMPLES_FILE) -> Set[str]:
    """Normalised absolute image paths listed in the converter's report
    ``bad_samples_file`` (or in any of a list of reports; empty if there is
    none).

    Raises:
        ValueError: naming the file if it is not the converter's format.
    """
    if isinstance(bad_samples_file, (list, tuple)):
        return set().union(*(reported_bad_images(data_root, name)
                             for name in bad_samples_file))
    if not bad_samples_file or not data_root:
        return set()
    report = osp.join(data_root, bad_samples_file)
    if not osp.isfile(report):
        return set()
    with open(report) as f:
        try:
            entries = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f'bad-sample report {report!r} is not valid '
                             f'JSON: {e}') from e
    if not isinstance(entries, list) or not all(
            isinstance(e, dict) and 'image' in e for e in entries):
        raise ValueError(f'bad-sample report {report!r} must be a list of '
                         '{"image": <path relative to data_root>, ...}')
    return {osp.normpath(osp.join(data_root, e['image'])) for e in entries}


def _listing(data_root: str, names: Sequence[str]) -> str:
    return ' / '.join(osp.join(data_root, n) for n in names)


def filter_bad_samples(data_list: List[dict], data_root: str,
                       bad_samples_files: Sequence[str],
                       owner: str) -> List[dict]:
    """``data_list`` without the entries whose ``img_path`` is reported in
    one of ``<data_root>/<bad_samples_files>`` (warns with the count)."""
    bad = reported_bad_images(data_root, list(bad_samples_files))
    if not bad:
        return data_list
    kept = [d for d in data_list if osp.normpath(d['img_path']) not in bad]
    if len(kept) != len(data_list):
        print_log(
            f'{owner}: leaving out {len(data_list) - len(kept)} bad samples '
            f'listed in {_listing(data_root, bad_samples_files)}',
            logger='current', level=logging.WARNING)
    return kept


def exclude_reported_bad_samples(dataset,
                                 default_file: str = BAD_SAMPLES_FILE
                                 ) -> int:
    """Remove, in place, the samples of an initialised mmengine dataset
    that the bad-sample reports of its ``data_root`` list
    (:func:`report_files`); returns how many.

    The root's report is ``dataset.bad_samples_file`` if the dataset has
    that attribute (None: the dataset opts out), else ``default_file``.
    """
    names = report_files(
        dataset, getattr(dataset, 'bad_samples_file', default_file))
    data_root = getattr(dataset, 'data_root', None)
    bad = reported_bad_images(data_root, names)
    if not bad:
        return 0
    where = _listing(data_root, names)
    if not hasattr(dataset, 'get_subset_'):
        raise TypeError(
            f'{type(dataset).__name__} cannot leave out the bad samples '
            f'listed in {where}: it is not an mmengine BaseDataset (no '
            'get_subset_)')
    keep = [
        i for i in range(len(dataset))
        if osp.normpath(dataset.get_data_info(i)['img_path']) not in bad
    ]
    removed = len(dataset) - len(keep)
    if removed:
        if not keep:
            raise ValueError(
                f'{type(dataset).__name__}: every sample of {data_root!r} '
                f'is listed in {where}')
        dataset.get_subset_(keep)
        print_log(
            f'{type(dataset).__name__}: leaving out {removed} bad samples '
            f'listed in {where}',
            logger='current', level=logging.WARNING)
    return removed


def unreadable_file(data_info: dict,
                    error: BaseException) -> Optional[str]:
    """The file of a sample that makes it unusable, or None when the error
    is not caused by the sample's files (a bug, which must not be hidden).

    ``OSError``s are raised by the plugin's checked loaders (naming the
    file) and by missing files; the size check of
    ``LoadCheckedAnnotations`` raises ``ValueError`` naming the label. Any
    other error counts only if a file of the sample cannot be decoded.
    """
    paths = [data_info[k] for k in _FILE_KEYS if data_info.get(k)]
    if isinstance(error, (OSError, ValueError)):
        for path in paths:
            if path in str(error):
                return path
    for path in paths:
        if not _decodable(path):
            return path
    return None


def _decodable(path: str) -> bool:
    import mmcv
    from mmengine import fileio
    try:
        img = mmcv.imfrombytes(fileio.get(path), flag='unchanged')
    except Exception:  # noqa: BLE001 (any failure means unreadable)
        return False
    return img is not None and img.size > 0


def replacement_index(seed: int, k: int, branch: int, replacement: int,
                      size: int, failed: int) -> int:
    """Index of the ``replacement``-th stand-in for the sample of counter
    ``k`` of ``branch`` (any index but ``failed``, the unreadable one): a
    pure function of its arguments."""
    if size < 2:
        return failed
    rng = np.random.default_rng(
        [int(seed), REPLACEMENT_STREAM, int(branch), int(k), replacement])
    index = int(rng.integers(size - 1))
    return index + 1 if index >= failed else index


def load_or_replace(dataset, index: int, load: Callable[[int, int], dict],
                    seed: int, k: int, branch: int,
                    max_replacements: int) -> dict:
    """``load(index, replacement=0)``; if the sample's files cannot be
    read, ``load(stand_in, r)`` for the stand-ins
    ``replacement_index(seed, k, branch, r, len(dataset))``, ``r = 1, 2,
    ...`` (each chosen among the samples other than the last failed
    one). The returned sample lists the replaced samples in its metainfo
    (``BAD_SAMPLE_KEY``).

    Raises:
        BadSampleError: after ``max_replacements`` unreadable stand-ins in a
            row (a missing disk rather than a bad file), naming them.
        Exception: any error not caused by the sample's files, unchanged.
    """
    replaced: List[dict] = []
    for r in range(max_replacements + 1):
        try:
            sample = load(index, r)
        except Exception as e:  # noqa: BLE001 (re-raised unless a bad file)
            path = unreadable_file(dataset.get_data_info(index), e)
            if path is None:
                raise
            replaced.append(
                dict(path=path, error=f'{type(e).__name__}: {e}',
                     index=int(index), k=int(k), branch=int(branch)))
            index = replacement_index(seed, k, branch, r + 1, len(dataset),
                                      index)
            continue
        if replaced:
            sample['data_samples'].set_metainfo({BAD_SAMPLE_KEY: replaced})
        return sample
    raise BadSampleError(
        f'{len(replaced)} unreadable samples in a row for sample {k} '
        f'(branch {branch}); is the dataset storage available? '
        + '; '.join(f"{r['path']}: {r['error']}" for r in replaced))


def replaced_samples(batch: dict,
                     branches: Sequence[str] = ('source', 'target')
                     ) -> List[dict]:
    """The replacement records of a collated UDA batch (pseudo_collate of
    ``UDADataset`` items)."""
    records = []
    for branch in branches:
        for sample in (batch.get(branch) or {}).get('data_samples', []):
            records.extend(sample.metainfo.get(BAD_SAMPLE_KEY, ()))
    return records
