"""Checks of the built datasets before the first iteration.

:class:`~mmseg_uda.engine.hooks.PreflightCheckHook` (declared in
``configs/_base_/default_hooks.py``) calls :func:`check_runner_datasets`
before training, validation or testing, whatever the entry point: it
checks the data loaders the run uses (built by mmengine before the hook
runs) and, instead of failing hours into a run:

- logs the size of every dataset (and the bad samples left out), and warns
  about image files that the suffix leaves out (e.g. ``.JPG`` files next to
  ``img_suffix='.jpg'``);
- checks that the image and label files of every sample exist (all of
  them: a ``stat`` per file), and, on an evenly spread sample of at most
  ``max_samples`` files per dataset, that images and labels decode as the
  dataset's own pipeline decodes them (its ``LoadImageFromFile`` and
  ``LoadAnnotations``: same backend, so a file that passes here is a file
  training can read), have the same size and hold only class ids of the
  dataset or its ignore index;
- checks that the rare class sampling statistics can be read
  (``RareClassSampling``, built on first use by ``UDADataset``) and equal
  a direct count of the sampled source labels (stale statistics, or
  statistics written for fewer classes, would make RCS draw the wrong
  images).

The class counts of heads and datasets are checked on the config
(:mod:`mmseg_uda.engine.config_validation`). Every problem is reported at
once (:class:`DataCheckError`, a ``ValueError``), each naming the file and
the config key to fix.
"""
import os.path as osp
from typing import Dict, List, Optional, Tuple

import numpy as np
from mmengine.logging import print_log

from .checked_dataset import (
    LabelValueError,
    check_label_values,
    describe_other_files,
)
from .rare_class_sampling import RCSStatsError
from .transforms.loading import read_image

#: Default number of files per dataset whose content is checked.
DEFAULT_MAX_SAMPLES = 64


class DataCheckError(ValueError):
    """The data of a run does not fit its config."""


def runner_datasets(runner, mode: str) -> List[Tuple[str, str, object]]:
    """``(name, config key, dataset)`` of the datasets a ``mode`` run uses:
    ``'train'``: the training set(s) (``source``/``target`` of a
    ``UDADataset``) and the validation set; ``'val'``: the validation set;
    ``'test'``: the test set."""
    out = []
    cfg = runner.cfg
    if mode == 'val':
        out.append(('val', 'val_dataloader.dataset',
                    runner.val_dataloader.dataset))
    elif mode == 'train':
        ds = runner.train_dataloader.dataset
        key = 'train_dataloader.dataset'
        if hasattr(ds, 'source') and hasattr(ds, 'target'):
            out += [('source', f'{key}.source', ds.source),
                    ('target', f'{key}.target', ds.target)]
        else:
            out.append(('train', key, ds))
        if cfg.get('val_dataloader') and cfg.get('val_cfg'):
            out.append(('val', 'val_dataloader.dataset',
                        runner.val_dataloader.dataset))
    elif mode == 'test':
        out.append(('test', 'test_dataloader.dataset',
                    runner.test_dataloader.dataset))
    else:
        raise ValueError(
            f"mode must be 'train', 'val' or 'test', got {mode!r}")
    return out


def sample_indices(n: int, max_samples: int) -> List[int]:
    """All of ``range(n)`` if ``n <= max_samples``, else ``max_samples``
    indices spread evenly (first and last included)."""
    if n <= max_samples:
        return list(range(n))
    return sorted({int(i) for i in np.linspace(0, n - 1, max_samples)})


def pipeline_loaders(pipeline) -> tuple:
    """(image loader, label loader) of a pipeline (mmengine ``Compose``,
    e.g. a dataset's ``pipeline``): its first mmcv ``LoadImageFromFile``
    and ``LoadAnnotations`` (subclasses included; None where there is
    none), which the checks decode with."""
    from mmcv.transforms import LoadAnnotations, LoadImageFromFile
    image = label = None
    for t in getattr(pipeline, 'transforms', ()) or ():
        if image is None and isinstance(t, LoadImageFromFile):
            image = t
        if label is None and isinstance(t, LoadAnnotations):
            label = t
    return image, label


def load_label(info: dict, loader=None) -> np.ndarray:
    """The label of a data info as mmseg's ``LoadAnnotations`` (``loader``,
    the dataset's own, or its defaults) gives it to training (its
    ``imdecode_backend``, Pillow by default; ``reduce_zero_label``,
    ``label_map``), but without its ``uint8`` cast, which would wrap values
    above 255."""
    import mmcv
    from mmengine import fileio
    label = mmcv.imfrombytes(
        fileio.get(info['seg_map_path'],
                   backend_args=getattr(loader, 'backend_args', None)),
        flag='unchanged',
        backend=getattr(loader, 'imdecode_backend', 'pillow')).squeeze()
    label = label.astype(np.int64)
    if info.get('reduce_zero_label'):
        label[label == 0] = 255
        label = label - 1
        label[label == 254] = 255
    if info.get('label_map'):
        mapped = label.copy()
        for old, new in info['label_map'].items():
            mapped[label == old] = new
        label = mapped
    return label


def _num_classes(ds) -> Optional[int]:
    classes = getattr(ds, 'metainfo', {}).get('classes')
    return len(classes) if classes else None


def _describe(ds) -> str:
    img_dir = getattr(ds, 'data_prefix', {}).get('img_path')
    suffix = getattr(ds, 'img_suffix', None)
    where = f' {img_dir!r} (*{suffix})' if img_dir is not None else ''
    return f'{type(ds).__name__}{where}'


def _log_size(name: str, key: str, ds, warnings: List[str]) -> None:
    n_bad = getattr(ds, 'num_bad_samples', 0)
    bad = f', {n_bad} bad samples left out' if n_bad else ''
    print_log(f'{name} dataset ({key}): {_describe(ds)}: {len(ds)} '
              f'samples{bad}', logger='current')
    img_dir = getattr(ds, 'data_prefix', {}).get('img_path')
    suffix = getattr(ds, 'img_suffix', None)
    if img_dir and suffix and not getattr(ds, 'ann_file', ''):
        other = describe_other_files(
            img_dir, suffix, getattr(ds, 'recursive', True),
            images_only=True)
        if other:
            warnings.append(f'{key}: {img_dir!r} holds {other}, which '
                            f'img_suffix={suffix!r} leaves out')


def _check_images_exist(key: str, infos: List[dict],
                        errors: List[str]) -> None:
    missing = [d['img_path'] for d in infos if not osp.isfile(d['img_path'])]
    if missing:
        errors.append(f'{key}: {len(missing)} of {len(infos)} image files '
                      f'do not exist, e.g. {missing[0]!r}')


def _check_labels(key: str, ds, infos: List[dict], indices: List[int],
                  errors: List[str]) -> Dict[int, np.ndarray]:
    """Existence of every label, content of the sampled ones; returns the
    sampled labels that could be read (index -> label)."""
    missing = [d['seg_map_path'] for d in infos
               if not osp.isfile(d['seg_map_path'])]
    if missing:
        ann_dir = ds.data_prefix.get('seg_map_path', '')
        other = describe_other_files(ann_dir, ds.seg_map_suffix)
        errors.append(
            f'{key}: {len(missing)} of {len(infos)} label files do not '
            f'exist, e.g. {missing[0]!r} (seg_map_suffix='
            f'{ds.seg_map_suffix!r}; {ann_dir!r} holds '
            f'{other or "no file with another suffix"}). Fix '
            f'{key}.seg_map_suffix / data_prefix, or run tools/'
            'dataset_converters/folder.py, which lists samples without a '
            'label in bad_samples.json so that the dataset leaves them out.')
    num_classes = _num_classes(ds)
    ignore = getattr(ds, 'ignore_index', 255)
    image_loader, label_loader = pipeline_loaders(
        getattr(ds, 'pipeline', None))
    labels = {}
    for i in indices:
        info = infos[i]
        if not (osp.isfile(info['seg_map_path'])
                and osp.isfile(info['img_path'])):
            continue
        try:
            label = load_label(info, label_loader)
        except Exception as e:  # noqa: BLE001 (reported)
            errors.append(f'{key}: cannot read label file '
                          f'{info["seg_map_path"]!r}: {e}')
            continue
        try:
            size = read_image(info['img_path'], image_loader).shape[:2]
        except OSError as e:
            errors.append(f'{key}: {e}')
            continue
        if label.ndim != 2:
            errors.append(
                f'{key}: label file {info["seg_map_path"]!r} has '
                f'{label.shape[2]} channels (a colour image?); labels must '
                'hold one class id per pixel')
            continue
        if tuple(label.shape[:2]) != size:
            errors.append(
                f'{key}: label file {info["seg_map_path"]!r} has size '
                f'{label.shape[1]}x{label.shape[0]} but its image '
                f'{info["img_path"]!r} has size {size[1]}x{size[0]} (WxH)')
            continue
        if num_classes:
            try:
                check_label_values(label, num_classes, ignore,
                                   info['seg_map_path'])
            except LabelValueError as e:
                errors.append(f'{key}: {e}')
                continue
        labels[i] = label
    return labels


def _check_images(key: str, ds, infos: List[dict], indices: List[int],
                  errors: List[str]) -> None:
    loader, _ = pipeline_loaders(getattr(ds, 'pipeline', None))
    for i in indices:
        path = infos[i]['img_path']
        if not osp.isfile(path):
            continue
        try:
            read_image(path, loader)
        except OSError as e:
            errors.append(f'{key}: {e}')


def _check_rcs(key: str, rcs, labels: Dict[int, np.ndarray], ds,
               num_classes: int, errors: List[str]) -> None:
    """The statistics of the sampled source labels equal a direct count."""
    from .rare_class_sampling import STATS_FILE
    stats_file = osp.join(rcs.stats_dir, STATS_FILE)
    for i, label in labels.items():
        counts = np.bincount(
            label[(label >= 0) & (label < num_classes)].ravel(),
            minlength=num_classes)
        direct = {c: int(n) for c, n in enumerate(counts) if n}
        stored = rcs.sample_stats.get(i, {})
        if direct != stored:
            diff = sorted(c for c in set(direct) | set(stored)
                          if direct.get(c) != stored.get(c))
            c = diff[0]
            errors.append(
                f'{key}.rare_class_sampling: {stats_file!r} does not match '
                f'the label {ds.get_data_info(i)["seg_map_path"]!r}: class '
                f'{c} has {direct.get(c, 0)} pixels in the label but '
                f'{stored.get(c, 0)} in the statistics (classes differing: '
                f'{diff[:10]}; statistics written for other labels or for '
                f'fewer than {num_classes} classes?). Re-run the converter.')
            return


def _rare_class_sampling(key: str, train_ds, errors: List[str]):
    """The built rare class sampling of a ``UDADataset`` (None when off);
    its statistics files are read here, and a problem with them is
    reported with the others instead of stopping the checks."""
    try:
        return getattr(train_ds, 'rcs', None)
    except RCSStatsError as e:
        errors.append(f'{key}.rare_class_sampling: {e}')
        return None


def data_errors(runner, mode: str = 'train',
                max_samples: int = DEFAULT_MAX_SAMPLES) -> List[str]:
    """The problems of the data of a ``mode`` run of ``runner`` (see the
    module docstring), one message each; the sizes and the warnings are
    logged."""
    errors: List[str] = []
    warnings: List[str] = []
    train_ds = runner.train_dataloader.dataset if mode == 'train' else None
    for name, key, ds in runner_datasets(runner, mode):
        _log_size(name, key, ds, warnings)
        indices = sample_indices(len(ds), max_samples)
        if not hasattr(ds, 'get_data_info'):
            continue  # not an mmengine dataset: nothing more to check
        infos = [ds.get_data_info(i) for i in range(len(ds))]
        if infos and 'img_path' not in infos[0]:
            continue
        _check_images_exist(key, infos, errors)
        if not infos or 'seg_map_path' not in infos[0]:
            _check_images(key, ds, infos, indices, errors)
            continue
        rcs = None
        if name == 'source':
            rcs = _rare_class_sampling('train_dataloader.dataset', train_ds,
                                       errors)
        labels = _check_labels(key, ds, infos, indices, errors)
        n = _num_classes(ds)
        if rcs is not None and n:
            _check_rcs('train_dataloader.dataset', rcs, labels, ds, n,
                       errors)
    for w in warnings:
        print_log(w, logger='current', level=30)
    return errors


def check_runner_datasets(runner, mode: str = 'train',
                          max_samples: int = DEFAULT_MAX_SAMPLES) -> None:
    """Check the data of a ``mode`` run of ``runner`` (see the module
    docstring); raise :class:`DataCheckError` listing every problem.

    Args:
        runner: an mmengine ``Runner`` whose data loaders of ``mode`` are
            built or can be built.
        mode: ``'train'`` (training and validation sets), ``'val'`` or
            ``'test'``.
        max_samples: files per dataset whose content is decoded.
            Defaults to 64.
    """
    errors = data_errors(runner, mode, max_samples)
    if errors:
        raise DataCheckError(
            'The data does not fit the config (checked before the first '
            'iteration):\n' + '\n'.join(f'  - {e}' for e in errors))
