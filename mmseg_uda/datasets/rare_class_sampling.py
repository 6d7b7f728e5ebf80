"""Rare class sampling (RCS) statistics, as in DAFormer (Hoyer et al.,
CVPR 2022; reference ``mmseg/datasets/uda_dataset.py``).

``RareClassSampling`` reads the two statistics files that the dataset
converters write (``sample_class_stats.json`` and ``samples_with_class.json``,
see :mod:`mmseg_uda.datasets.dataset_files`), validates them against the
source dataset and holds:

- ``classes``: the class ids present, sorted by ascending pixel frequency,
- ``freq``: their frequency f_c = pixels of c / labelled pixels,
- ``probs``: P(c) = softmax((1 - f_c) / T), computed in float32 like the
  reference,
- ``samples``: for each class, the source indices of the images holding
  strictly more than ``min_pixels`` pixels of it.

Drawing (class, image) is a pure function of a seed and a counter, see
:meth:`RareClassSampling.draw`, so the stream is deterministic, identical on
every rank and resumable.
"""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from .dataset_files import SAMPLES_WITH_CLASS_FILE, STATS_FILE


class RCSStatsError(RuntimeError):
    """Missing, malformed or stale rare class sampling statistics."""


def _load_json(path: str, what: str):
    if not osp.isfile(path):
        raise RCSStatsError(
            f'Rare class sampling needs {what} {path!r}, which does not '
            'exist. Write it with the dataset converter (tools/'
            'dataset_converters/{gta,synthia,cityscapes,folder}.py), or set '
            'rare_class_sampling.stats_dir to the folder holding it.')
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise RCSStatsError(
            f'cannot read RCS statistics {path!r}: {e}') from e


def class_probabilities(sample_class_stats: List[dict],
                        temperature: float):
    """Classes sorted by ascending frequency, their frequencies and
    P(c) = softmax((1 - f_c) / T) (float32, as the reference)."""
    totals: Dict[int, int] = {}
    for entry in sample_class_stats:
        for key, n in entry.items():
            if key == 'file':
                continue
            totals[int(key)] = totals.get(int(key), 0) + int(n)
    ordered = sorted(totals.items(), key=lambda item: item[1])
    classes = [c for c, _ in ordered]
    counts = torch.tensor([n for _, n in ordered], dtype=torch.int64)
    freq = counts / torch.sum(counts)  # float32, as the reference
    probs = torch.softmax((1 - freq) / temperature, dim=-1)
    return classes, freq.numpy(), probs.numpy()


def source_class_frequencies(stats: str, num_classes: int) -> np.ndarray:
    """``(num_classes,)`` float64 pixel frequency of each class over the
    labelled source pixels, from the converters' ``sample_class_stats.json``
    (``stats``: the file or the dataset root holding it); 0 for classes not
    in it. Raises :class:`RCSStatsError` naming the file when it is missing,
    unreadable or names a class outside ``0..num_classes-1``."""
    path = osp.join(stats, STATS_FILE) if osp.isdir(stats) else stats
    entries = _load_json(path, 'the class statistics file')
    if not isinstance(entries, list) or not entries:
        raise RCSStatsError(f'{path!r} must hold a non-empty list')
    classes, freq, _ = class_probabilities(entries, temperature=1.0)
    bad = [c for c in classes if not 0 <= c < num_classes]
    if bad:
        raise RCSStatsError(f'{path!r}: class ids {bad} are outside the '
                            f'{num_classes} classes')
    out = np.zeros(num_classes, np.float64)
    out[classes] = freq
    return out


class PathMatcher:
    """Match the label paths written in the statistics files (relative to
    the dataset root, absolute, or bare file names as in the reference) to
    the indices of a dataset's ``seg_map_path``."""

    def __init__(self, seg_map_paths: Sequence[str]):
        self.paths = [osp.normpath(p).replace('\\', '/')
                      for p in seg_map_paths]
        self.by_name: Dict[str, List[int]] = {}
        for i, p in enumerate(self.paths):
            self.by_name.setdefault(osp.basename(p), []).append(i)

    def index(self, file: str) -> Optional[int]:
        file = osp.normpath(file).replace('\\', '/')
        candidates = self.by_name.get(osp.basename(file), [])
        if len(candidates) > 1:
            candidates = [
                i for i in candidates
                if self.paths[i] == file
                or self.paths[i].endswith('/' + file)
            ]
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            raise RCSStatsError(
                f'RCS statistics entry {file!r} matches several source '
                'samples; write paths relative to the dataset root')
        return None


class RareClassSampling:
    """Rare class sampling state for one source dataset.

    Args:
        seg_map_paths (list[str]): ``seg_map_path`` of every source sample,
            in dataset order.
        stats_dir (str): folder holding the two statistics files.
        class_temp (float): temperature T. Defaults to 0.01.
        min_pixels (int): an image is drawn for class c only if it holds
            strictly more than ``min_pixels`` pixels of c. Defaults to 3000.
        min_crop_ratio (float): a crop is accepted if it holds more than
            ``min_pixels * min_crop_ratio`` pixels of c. Defaults to 0.5.
        num_classes (int): number of classes of the dataset. Defaults to 19.
        max_recrops (int): re-crops before giving up. Defaults to 10.
    """

    def __init__(self,
                 seg_map_paths: Sequence[str],
                 stats_dir: str,
                 class_temp: float = 0.01,
                 min_pixels: int = 3000,
                 min_crop_ratio: float = 0.5,
                 num_classes: int = 19,
                 max_recrops: int = 10):
        self.stats_dir = stats_dir
        self.class_temp = float(class_temp)
        self.min_pixels = int(min_pixels)
        self.min_crop_ratio = float(min_crop_ratio)
        self.max_recrops = int(max_recrops)
        stats_file = osp.join(stats_dir, STATS_FILE)
        swc_file = osp.join(stats_dir, SAMPLES_WITH_CLASS_FILE)
        stats = _load_json(stats_file, 'the class statistics file')
        swc = _load_json(swc_file, 'the samples-with-class file')
        if not isinstance(stats, list) or not isinstance(swc, dict):
            raise RCSStatsError(
                f'{stats_file!r} must hold a list and {swc_file!r} a dict '
                '(DAFormer layout)')
        if not stats or not swc:
            raise RCSStatsError(
                f'{stats_file!r} or {swc_file!r} is empty: the statistics '
                'were written for no sample (e.g. a file pattern that '
                'matched nothing). Write them with '
                'tools/dataset_converters/folder.py (or the converter of '
                'your dataset).')
        self.classes, self.freq, self.probs = class_probabilities(
            stats, self.class_temp)
        bad = [c for c in self.classes if not 0 <= c < num_classes]
        if bad:
            raise RCSStatsError(
                f'{stats_file!r} is stale: class ids {bad} are outside the '
                f'{num_classes} classes of the dataset')

        matcher = PathMatcher(seg_map_paths)
        per_file = {}
        for entry in stats:
            if 'file' not in entry:
                raise RCSStatsError(f'{stats_file!r}: entry without "file"')
            idx = matcher.index(entry['file'])
            if idx is None:
                raise RCSStatsError(
                    f'{stats_file!r} is stale: {entry["file"]!r} is not a '
                    'sample of the source dataset. Re-run the converter on '
                    'this dataset or point stats_dir to its statistics.')
            per_file[idx] = {int(k): int(v) for k, v in entry.items()
                             if k != 'file'}

        #: source index -> {class: pixels} as read from the statistics
        self.sample_stats: Dict[int, Dict[int, int]] = per_file
        missing = [p for i, p in enumerate(seg_map_paths)
                   if i not in per_file]
        if missing:
            raise RCSStatsError(
                f'{stats_file!r} is stale: {len(missing)} of '
                f'{len(seg_map_paths)} source samples have no entry (e.g. '
                f'{missing[0]!r}), so rare class sampling would never draw '
                'them. Re-run the converter on this dataset (a sample '
                'whose label is missing or broken is then listed in '
                'bad_samples.json and left out of the dataset).')

        self.samples: Dict[int, np.ndarray] = {}
        for c in self.classes:
            indices = []
            for file, n in swc.get(str(c), []):
                idx = matcher.index(file)
                if idx is None or per_file.get(idx, {}).get(c) != int(n):
                    raise RCSStatsError(
                        f'{swc_file!r} is stale: its entry {file!r} for '
                        f'class {c} does not match {stats_file!r} or the '
                        'source dataset. Re-run the converter.')
                if int(n) > self.min_pixels:
                    indices.append(idx)
            if not indices:
                raise RCSStatsError(
                    f'class {c} is in {stats_file!r} but no source image '
                    f'holds more than min_pixels={self.min_pixels} pixels of '
                    f'it ({swc_file!r}); lower min_pixels')
            self.samples[c] = np.asarray(sorted(indices), dtype=np.int64)
        self._p64 = self.probs.astype(np.float64)
        self._p64 /= self._p64.sum()

    @property
    def crop_min_pixels(self) -> float:
        return self.min_pixels * self.min_crop_ratio

    def class_probs(self) -> Dict[int, float]:
        return dict(zip(self.classes, self.probs.tolist()))

    def draw(self, rng: np.random.Generator):
        """Draw (class, source index): c ~ P(c), then an image uniformly
        among those with more than ``min_pixels`` pixels of c."""
        c = self.classes[int(rng.choice(len(self.classes), p=self._p64))]
        candidates = self.samples[c]
        return c, int(candidates[int(rng.integers(len(candidates)))])
