"""Iteration-based training loop for UDA data with O(1) resume."""
import logging
from typing import Dict, List, Optional, Tuple, Union

from mmengine.logging import print_log
from mmengine.runner.loops import BaseLoop, IterBasedTrainLoop
from mmengine.runner.utils import calc_dynamic_intervals
from mmseg.registry import LOOPS
from torch.utils.data import DataLoader

from ...utils.openmmlab_private import (
    infinite_dataloader_iterator,
    init_iter_loop_counters,
    update_val_interval,
)
from ...utils.rank_agreement import raise_on_any_rank


def _find_sampler(dataloader):
    """The sampler of a DataLoader that supports ``set_start``, or None."""
    for sampler in (getattr(dataloader, 'sampler', None),
                    getattr(getattr(dataloader, 'batch_sampler', None),
                            'sampler', None)):
        if sampler is not None and hasattr(sampler, 'set_start'):
            return sampler
    return None


def _batch_size(dataloader) -> int:
    if getattr(dataloader, 'batch_size', None):
        return int(dataloader.batch_size)
    return int(dataloader.batch_sampler.batch_size)


@LOOPS.register_module()
class UDAIterBasedTrainLoop(IterBasedTrainLoop):
    """``IterBasedTrainLoop`` for ``UDADataset`` + ``UDASampler``.

    Same arguments and behaviour as mmengine's loop, except:

    - the dataloader iterator is created when training starts, not when the
      loop is built (so no worker prefetches batches that a resume would
      throw away);
    - on resume, mmengine's loop calls ``next(dataloader)`` ``runner.iter``
      times (loading and transforming every skipped batch); this loop sets
      the sampler's start position to ``iter * batch_size`` samples of this
      rank instead (``UDASampler.set_start``), so resuming costs the same at
      any iteration and the sample stream continues exactly where it
      stopped (same seed, same world size and batch size). A sampler without
      ``set_start`` falls back to mmengine's behaviour;
    - hooks that clean up after themselves (signal handlers, optimizer
      hooks: ``teardown(runner)``) are torn down also when training raises
      (mmengine calls no hook then);
    - a batch that fails to load on one rank stops every rank with the
      same error (see :meth:`_next_batch`).

    The fault-tolerance hooks (docs/fault_tolerance.md) are declared in the
    configs (``configs/_base_/default_hooks.py``, ``RandomStateHook`` in the
    UDA method bases); the loop registers none.
    """

    def __init__(
            self,
            runner,
            dataloader: Union[DataLoader, Dict],
            max_iters: int,
            val_begin: int = 1,
            val_interval: int = 1000,
            dynamic_intervals: Optional[List[Tuple[int, int]]] = None
    ) -> None:
        # Not IterBasedTrainLoop.__init__: it starts iterating the loader.
        BaseLoop.__init__(self, runner, dataloader)
        if int(max_iters) != max_iters:
            raise ValueError(f'max_iters must be an integer, got {max_iters}')
        init_iter_loop_counters(self, max_iters)
        self.val_begin = val_begin
        self.val_interval = val_interval
        self.stop_training = False
        if hasattr(self.dataloader.dataset, 'metainfo'):
            self.runner.visualizer.dataset_meta = \
                self.dataloader.dataset.metainfo
        self.dataloader_iterator = None
        self.dynamic_milestones, self.dynamic_intervals = \
            calc_dynamic_intervals(self.val_interval, dynamic_intervals)

    def _start_iterator(self) -> None:
        sampler = _find_sampler(self.dataloader)
        if self.iter > 0 and sampler is not None:
            consumed = self.iter * _batch_size(self.dataloader)
            sampler.set_start(consumed)
            print_log(
                f'Resuming the UDA sample stream at iteration {self.iter} '
                f'({consumed} samples per rank) without reading the skipped '
                'batches',
                logger='current')
            self.dataloader_iterator = infinite_dataloader_iterator(
                self.dataloader)
            return
        if sampler is not None:
            sampler.set_start(0)
        self.dataloader_iterator = infinite_dataloader_iterator(
            self.dataloader)
        if self.iter > 0:
            print_log(
                f'The sampler has no set_start: advancing the dataloader '
                f'{self.iter} steps to skip the trained data',
                logger='current',
                level=logging.WARNING)
            for _ in range(self.iter):
                next(self.dataloader_iterator)

    def _next_batch(self):
        """The next training batch. A loading error on one rank (an
        unreadable sample past the dataset's replacements, a broken
        pipeline) stops every rank with the same error naming it, instead
        of leaving the other ranks in the step's gradient all-reduce until
        the process group times out (one scalar all-reduce per iteration
        in distributed runs)."""
        error, data_batch = None, None
        try:
            data_batch = next(self.dataloader_iterator)
        except Exception as e:  # noqa: BLE001 (re-raised on every rank)
            error = e
        raise_on_any_rank(
            error, f'Loading the training batch of iteration {self.iter + 1}')
        return data_batch

    def run(self):
        """Launch training (mmengine's loop with the O(1) resume)."""
        try:
            return self._run()
        finally:
            # Signal handlers and optimizer hooks must not outlive the run,
            # also when it raised (after_train is not called then).
            for hook in self.runner.hooks:
                teardown = getattr(hook, 'teardown', None)
                if callable(teardown):
                    teardown(self.runner)

    def _run(self):
        self.runner.call_hook('before_train')
        self.runner.call_hook('before_train_epoch')
        self._start_iterator()
        while self.iter < self.max_iters and not self.stop_training:
            self.runner.model.train()
            data_batch = self._next_batch()
            self.run_iter(data_batch)
            update_val_interval(self)
            if (self.runner.val_loop is not None
                    and self.iter >= self.val_begin
                    and (self.iter % self.val_interval == 0
                         or self.iter == self.max_iters)):
                self.runner.val_loop.run()
        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')
        return self.runner.model

