"""``UDADataset``: (labelled source, unlabelled target) pairs.

One item is ``dict(source=<packed source sample>, target=<packed target
sample>)`` (docs/design.md, data contract). Indices come from
:class:`~mmseg_uda.datasets.samplers.UDASampler` as :class:`UDAIndex`
tuples; a plain int ``i`` is accepted too (source ``i``, target derived
deterministically from ``i``).

Determinism: mmcv/mmseg transforms (random crop, flip, photometric
distortion, ...) draw from the *global* ``random`` / ``np.random`` / torch
generators, whose state in a data-loader worker depends on which samples that
worker happened to process before. Each pipeline therefore runs inside
:func:`seeded_global_rngs`, which saves the global states, seeds them from
``(seed, k, branch, attempt)`` and restores them afterwards: the augmented
sample is a pure function of the seed and the global counter ``k``, whatever
the number of workers or ranks, and after a resume.

Bad samples (see :mod:`.bad_samples`): the samples listed in the
converters' ``bad_samples.json`` are left out of source and target, and a
sample found unreadable during training is replaced deterministically and
reported in the batch (``BadSampleHook`` counts it).
"""
import contextlib
import copy
import random
from typing import Optional, Union

import numpy as np
import torch
from mmcv.transforms import LoadAnnotations as MMCVLoadAnnotations
from mmengine.dataset import BaseDataset
from mmengine.registry import DefaultScope
from mmseg.registry import DATASETS

from .bad_samples import (
    BAD_SAMPLE_KEY,
    exclude_reported_bad_samples,
    load_or_replace,
)
from .dataset_files import BAD_SAMPLES_FILE
from .rare_class_sampling import RareClassSampling, RCSStatsError
from .samplers.uda_sampler import TARGET_STREAM, UDAIndex, stream_index

SOURCE_BRANCH = 0
TARGET_BRANCH = 1


@contextlib.contextmanager
def seeded_global_rngs(*entropy: int):
    """Seed ``random``, ``np.random`` and torch from ``entropy`` inside the
    block and restore their previous states afterwards."""
    states = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    seed = np.random.SeedSequence([int(e) for e in entropy]).generate_state(
        1, dtype=np.uint32)[0]
    random.seed(int(seed))
    np.random.seed(int(seed))
    torch.default_generator.manual_seed(int(seed))  # CPU only, not CUDA
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])


def _build(cfg):
    if isinstance(cfg, dict):
        with DefaultScope.overwrite_default_scope('mmseg'):
            return DATASETS.build(cfg)
    return cfg


def _loads_labels(dataset) -> Optional[str]:
    """Name of a transform of ``dataset.pipeline`` that loads labels."""
    pipeline = getattr(dataset, 'pipeline', None)
    for t in getattr(pipeline, 'transforms', []) or []:
        if isinstance(t, MMCVLoadAnnotations) and getattr(
                t, 'with_seg', True):
            return type(t).__name__
    return None


@DATASETS.register_module()
class UDADataset(torch.utils.data.Dataset):
    """Pairs of a labelled source sample and an unlabelled target sample.

    Args:
        source (dict | Dataset): mmseg dataset config (or dataset) of the
            labelled source domain; its pipeline loads the labels.
        target (dict | Dataset): mmseg dataset config of the target domain
            (training split); its pipeline must not load labels.
        rare_class_sampling (dict, optional): enables rare class sampling of
            the source: ``dict(class_temp=0.01, min_pixels=3000,
            min_crop_ratio=0.5, stats_dir=None)``; ``stats_dir`` defaults to
            the source ``data_root`` (see :class:`RareClassSampling`; its
            files are read on first use of :attr:`rcs`).
        seed (int): seed used for plain-int indices. Defaults to 0.
        lazy_init (bool): defer :meth:`full_init`. Defaults to False.
        bad_samples_file (str, optional): the converters' bad-sample report,
            relative to each dataset's ``data_root``; its samples are left
            out of source and target (a dataset's own ``bad_samples_file``
            attribute wins). None disables it. Defaults to
            ``'bad_samples.json'``.
        max_replacements (int): a sample that cannot be read is replaced by
            a deterministic stand-in; after this many unreadable stand-ins
            in a row, :class:`BadSampleError` is raised. Defaults to 10.
    """

    def __init__(self,
                 source: Union[dict, BaseDataset],
                 target: Union[dict, BaseDataset],
                 rare_class_sampling: Optional[dict] = None,
                 seed: int = 0,
                 lazy_init: bool = False,
                 bad_samples_file: Optional[str] = BAD_SAMPLES_FILE,
                 max_replacements: int = 10) -> None:
        self.source = _build(source)
        self.target = _build(target)
        self.rcs_cfg = copy.deepcopy(rare_class_sampling)
        self.seed = int(seed)
        self.bad_samples_file = bad_samples_file
        self.max_replacements = int(max_replacements)
        self._rcs: Optional[RareClassSampling] = None
        # The class counts of source, target and heads are checked on the
        # config, before training (engine/config_validation.py).
        loader = _loads_labels(self.target)
        if loader is not None:
            raise ValueError(
                f'UDADataset: the target pipeline (key "target.pipeline") '
                f'loads labels with {loader}. Target labels must not be used '
                'for UDA training: remove it from the target training '
                'pipeline (validation uses its own dataset).')
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        """The target's metainfo (19 Cityscapes classes and palette)."""
        return copy.deepcopy(self.target.metainfo)

    def full_init(self) -> None:
        if self._fully_initialized:
            return
        self.source.full_init()
        self.target.full_init()
        if self.bad_samples_file:
            # Before rare class sampling, which indexes the source samples.
            for dataset in (self.source, self.target):
                exclude_reported_bad_samples(dataset, self.bad_samples_file)
        self._fully_initialized = True

    @property
    def rcs(self) -> Optional[RareClassSampling]:
        """The rare class sampling state (None when off), built from the
        statistics files on first use: by the checks before training
        (``PreflightCheckHook``, which reports a missing or stale file
        together with the other problems of the data) or by the sampler's
        first draw.

        Raises:
            RCSStatsError: naming the statistics file and what is wrong.
        """
        if self._rcs is None and self.rcs_cfg is not None:
            self.full_init()
            cfg = dict(self.rcs_cfg)
            stats_dir = cfg.pop('stats_dir', None) or self.source.data_root
            if not stats_dir:
                raise RCSStatsError(
                    'rare_class_sampling needs stats_dir (or a source '
                    'data_root holding the statistics files)')
            seg_maps = [
                self.source.get_data_info(i).get('seg_map_path', '')
                for i in range(len(self.source))
            ]
            self._rcs = RareClassSampling(
                seg_maps,
                stats_dir,
                num_classes=len(self.source.metainfo['classes']),
                **cfg)
        return self._rcs

    def __len__(self) -> int:
        return len(self.source)

    def _prepare(self, dataset, idx: int, seed: int, k: int, branch: int,
                 attempt: int = 0) -> dict:
        """The pipeline output of ``dataset[idx]`` for counter ``k``; an
        unreadable sample is replaced (:func:`load_or_replace`)."""

        def load(index: int, replacement: int) -> dict:
            # replacement 0 keeps the seeds of a run without bad samples
            entropy = (seed, k, branch, attempt) + (
                (replacement, ) if replacement else ())
            with seeded_global_rngs(*entropy):
                return dataset[index]

        return load_or_replace(dataset, idx, load, seed, k, branch,
                               self.max_replacements)

    def __getitem__(self, index) -> dict:
        if not self._fully_initialized:
            self.full_init()
        if isinstance(index, UDAIndex):
            k, seed, src_idx, tgt_idx, cls = index
        else:
            k, seed, cls = int(index), self.seed, -1
            src_idx = k % len(self.source)
            tgt_idx = stream_index(seed, TARGET_STREAM, k, len(self.target))
        source = self._prepare(self.source, src_idx, seed, k, SOURCE_BRANCH)
        replaced = BAD_SAMPLE_KEY in source['data_samples'].metainfo
        # A stand-in for an unreadable image was not drawn for the rare
        # class: no re-crops for the class then.
        rcs = self.rcs if cls >= 0 else None
        if rcs is not None and not replaced:
            for attempt in range(1, rcs.max_recrops + 1):
                gt = source['data_samples'].gt_sem_seg.data
                if int((gt == cls).sum()) > rcs.crop_min_pixels:
                    break
                source = self._prepare(self.source, src_idx, seed, k,
                                       SOURCE_BRANCH, attempt)
        target = self._prepare(self.target, tgt_idx, seed, k, TARGET_BRANCH)
        return {'source': source, 'target': target}
