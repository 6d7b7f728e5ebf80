"""Infinite, seeded, rank-sharded and resumable sampler of UDA pairs.

The stream is indexed by a global sample counter ``k = 0, 1, 2, ...``;
rank ``r`` of ``world_size`` takes the ``k`` with ``k % world_size == r``.
Everything a sample needs is a pure function of ``(seed, k)``:

- source index: without rare class sampling, the k-th element of the
  concatenation of per-epoch permutations of ``range(len(source))`` (epoch
  ``e`` shuffled with a generator seeded by ``(seed, 0, e)``), so the ranks
  together cover each epoch once and never overlap inside it; with rare
  class sampling, (class, image) drawn from a generator seeded by
  ``(seed, 2, k)`` (see :class:`RareClassSampling`);
- target index: the same permutation scheme with the independent stream
  ``(seed, 1, e)``;
- the transforms' random draws: :class:`UDADataset` seeds them from
  ``(seed, k)``.

So a run that resumes at counter ``k`` reproduces exactly the samples of an
uninterrupted run, and ``set_start`` moves there in O(1) without reading
the skipped batches.
"""
from functools import lru_cache
from typing import Iterator, NamedTuple, Optional

import numpy as np
from mmengine.dist import get_dist_info, sync_random_seed
from mmseg.registry import DATA_SAMPLERS
from torch.utils.data import Sampler

SOURCE_STREAM = 0
TARGET_STREAM = 1
RCS_STREAM = 2


class UDAIndex(NamedTuple):
    """What :class:`UDASampler` yields and :class:`UDADataset` reads."""
    k: int  # global sample counter
    seed: int
    source: int
    target: int
    rare_class: int = -1  # class drawn by rare class sampling, -1 if none


@lru_cache(maxsize=16)
def _epoch_order(seed: int, stream: int, epoch: int, size: int,
                 shuffle: bool) -> np.ndarray:
    if not shuffle:
        return np.arange(size)
    return np.random.default_rng([seed, stream, epoch]).permutation(size)


def stream_index(seed: int, stream: int, k: int, size: int,
                 shuffle: bool = True) -> int:
    """k-th element of the concatenated per-epoch permutations."""
    if size <= 0:
        raise ValueError('cannot sample from an empty dataset')
    epoch, pos = divmod(int(k), size)
    return int(_epoch_order(int(seed), stream, epoch, size, shuffle)[pos])


def rcs_rng(seed: int, k: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), RCS_STREAM, int(k)])


def make_index(dataset, seed: int, k: int, shuffle: bool = True) -> UDAIndex:
    """The :class:`UDAIndex` of global counter ``k`` for a UDA dataset
    (anything with ``source``, ``target`` and ``rcs`` attributes)."""
    n_src, n_tgt = len(dataset.source), len(dataset.target)
    target = stream_index(seed, TARGET_STREAM, k, n_tgt, shuffle)
    rcs = getattr(dataset, 'rcs', None)
    if rcs is not None:
        cls, source = rcs.draw(rcs_rng(seed, k))
        return UDAIndex(int(k), int(seed), source, target, int(cls))
    source = stream_index(seed, SOURCE_STREAM, k, n_src, shuffle)
    return UDAIndex(int(k), int(seed), source, target, -1)


@DATA_SAMPLERS.register_module()
class UDASampler(Sampler):
    """Infinite sampler of (source, target) pairs for :class:`UDADataset`.

    Args:
        dataset (UDADataset): the paired dataset (``source``, ``target`` and
            optional rare class sampling state ``rcs``).
        shuffle (bool): shuffle each epoch of the source/target streams.
            Defaults to True.
        seed (int, optional): base seed; None draws one on rank 0 and
            broadcasts it (mmengine's ``sync_random_seed``). The Runner
            passes its own seed.

    Resume: :meth:`set_start` sets how many samples this rank has already
    consumed (``iteration * batch_size``); the next ``__iter__`` starts
    there directly. ``UDAIterBasedTrainLoop`` calls it.
    """

    def __init__(self,
                 dataset,
                 shuffle: bool = True,
                 seed: Optional[int] = None,
                 rank: Optional[int] = None,
                 world_size: Optional[int] = None) -> None:
        dist_rank, dist_world = get_dist_info()
        self.rank = dist_rank if rank is None else rank
        self.world_size = dist_world if world_size is None else world_size
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f'rank {self.rank} / world {self.world_size}')
        for attr in ('source', 'target'):
            if not hasattr(dataset, attr):
                raise TypeError(
                    'UDASampler needs a UDADataset (with source and target), '
                    f'got {type(dataset).__name__}')
        self.dataset = dataset
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else int(seed)
        self._start = 0

    def set_start(self, num_consumed: int) -> None:
        """Continue after ``num_consumed`` samples of this rank."""
        if num_consumed < 0:
            raise ValueError('num_consumed must be >= 0')
        self._start = int(num_consumed)

    def global_counter(self, local_index: int) -> int:
        return local_index * self.world_size + self.rank

    def index(self, local_index: int) -> UDAIndex:
        return make_index(self.dataset, self.seed,
                          self.global_counter(local_index), self.shuffle)

    def __iter__(self) -> Iterator[UDAIndex]:
        i = self._start
        while True:
            yield self.index(i)
            i += 1

    def __len__(self) -> int:
        return len(self.dataset)

    def set_epoch(self, epoch: int) -> None:
        """Not used: the stream is infinite (kept for API compatibility)."""
