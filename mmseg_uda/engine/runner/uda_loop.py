"""Iteration-based training loop for UDA data with O(1) resume."""
import logging
from typing import Dict, List, Optional, Tuple, Union

from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmengine.runner.loops import (
    BaseLoop,
    IterBasedTrainLoop,
    _InfiniteDataloaderIterator,
)
from mmengine.runner.utils import calc_dynamic_intervals
from mmseg.registry import LOOPS
from torch.utils.data import DataLoader

from ...utils.checkpoint_safety import (
    checkpoint_candidates,
    find_resumable_checkpoint,
)
from ...utils.rank_agreement import raise_on_any_rank
from ..hooks import (
    BadSampleHook,
    NonFiniteGuardHook,
    PreemptionHook,
    RandomStateHook,
    SafeCheckpointHook,
)

#: ``fault_tolerance`` of the loop: what each key enables.
DEFAULT_FAULT_TOLERANCE = dict(
    random_state=True,  # RandomStateHook
    safe_checkpoint=True,  # CheckpointHook -> SafeCheckpointHook
    resume_fallback=True,  # resume=True skips a damaged latest checkpoint
    preemption=dict(signals=('SIGTERM', )),  # PreemptionHook kwargs
    nonfinite=dict(action='raise'),  # NonFiniteGuardHook kwargs
    bad_samples=dict(max_bad_samples=100),  # BadSampleHook kwargs
)


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
    - fault tolerance (docs/fault_tolerance.md), configured by
      ``fault_tolerance`` (a dict merged into
      ``DEFAULT_FAULT_TOLERANCE``; ``False``/``None`` per key disables it,
      ``fault_tolerance=False`` all of them): unless the config registers
      them already, the loop registers :class:`RandomStateHook` (exact
      resume of the random draws), :class:`PreemptionHook` (SIGTERM:
      checkpoint, clean stop), :class:`NonFiniteGuardHook` (divergence
      guard) and :class:`BadSampleHook` (unreadable samples); a plain
      ``CheckpointHook`` becomes a
      :class:`SafeCheckpointHook` (atomic saves, previous checkpoint kept);
      with ``resume=True`` and no ``load_from``, the newest *complete*
      checkpoint of the work dir is resumed (a damaged latest one is
      skipped with a warning).
    """

    def __init__(
            self,
            runner,
            dataloader: Union[DataLoader, Dict],
            max_iters: int,
            val_begin: int = 1,
            val_interval: int = 1000,
            dynamic_intervals: Optional[List[Tuple[int, int]]] = None,
            fault_tolerance: Union[bool, dict, None] = True) -> None:
        # Not IterBasedTrainLoop.__init__: it starts iterating the loader.
        BaseLoop.__init__(self, runner, dataloader)
        self._max_iters = int(max_iters)
        if self._max_iters != max_iters:
            raise ValueError(f'max_iters must be an integer, got {max_iters}')
        self._max_epochs = 1
        self._epoch = 0
        self._iter = 0
        self.val_begin = val_begin
        self.val_interval = val_interval
        self.stop_training = False
        if hasattr(self.dataloader.dataset, 'metainfo'):
            self.runner.visualizer.dataset_meta = \
                self.dataloader.dataset.metainfo
        self.dataloader_iterator = None
        self.dynamic_milestones, self.dynamic_intervals = \
            calc_dynamic_intervals(self.val_interval, dynamic_intervals)
        self.fault_tolerance = _fault_tolerance_cfg(fault_tolerance)
        self._setup_fault_tolerance()

    def _setup_fault_tolerance(self) -> None:
        cfg = self.fault_tolerance
        runner = self.runner
        hooks = list(runner.hooks)

        def registered(cls) -> bool:
            return any(isinstance(h, cls) for h in hooks)

        if cfg['safe_checkpoint']:
            for hook in hooks:
                # Same state and arguments; only the saving differs.
                if type(hook) is CheckpointHook:
                    hook.__class__ = SafeCheckpointHook
                    hook.setup_safety()
        if cfg['random_state'] and not registered(RandomStateHook):
            runner.register_hook(RandomStateHook())
        if cfg['preemption'] is not None and not registered(PreemptionHook):
            runner.register_hook(PreemptionHook(**cfg['preemption']))
        if cfg['nonfinite'] is not None and not registered(
                NonFiniteGuardHook):
            runner.register_hook(NonFiniteGuardHook(**cfg['nonfinite']))
        if cfg['bad_samples'] is not None and not registered(BadSampleHook):
            runner.register_hook(BadSampleHook(**cfg['bad_samples']))
        # Runner.train() builds this loop before load_or_resume(): choose
        # the checkpoint to resume here (mmengine would take the file named
        # in last_checkpoint even when it is truncated).
        if (cfg['resume_fallback'] and getattr(runner, '_resume', False)
                and getattr(runner, '_load_from', None) is None):
            path = find_resumable_checkpoint(runner.work_dir)
            if path is not None:
                runner._load_from = path
            elif checkpoint_candidates(runner.work_dir):
                raise RuntimeError(
                    f'resume=True but no checkpoint of {runner.work_dir} is '
                    'complete (see the warnings above); remove them to '
                    'start from scratch or set load_from')

    def _start_iterator(self) -> None:
        sampler = _find_sampler(self.dataloader)
        if self._iter > 0 and sampler is not None:
            consumed = self._iter * _batch_size(self.dataloader)
            sampler.set_start(consumed)
            print_log(
                f'Resuming the UDA sample stream at iteration {self._iter} '
                f'({consumed} samples per rank) without reading the skipped '
                'batches',
                logger='current')
            self.dataloader_iterator = _InfiniteDataloaderIterator(
                self.dataloader)
            return
        if sampler is not None:
            sampler.set_start(0)
        self.dataloader_iterator = _InfiniteDataloaderIterator(
            self.dataloader)
        if self._iter > 0:
            print_log(
                f'The sampler has no set_start: advancing the dataloader '
                f'{self._iter} steps to skip the trained data',
                logger='current',
                level=logging.WARNING)
            for _ in range(self._iter):
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
            error, f'Loading the training batch of iteration {self._iter + 1}')
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
        while self._iter < self._max_iters and not self.stop_training:
            self.runner.model.train()
            data_batch = self._next_batch()
            self.run_iter(data_batch)
            self._decide_current_val_interval()
            if (self.runner.val_loop is not None
                    and self._iter >= self.val_begin
                    and (self._iter % self.val_interval == 0
                         or self._iter == self._max_iters)):
                self.runner.val_loop.run()
        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')
        return self.runner.model


def _fault_tolerance_cfg(value) -> dict:
    cfg = {k: (dict(v) if isinstance(v, dict) else v)
           for k, v in DEFAULT_FAULT_TOLERANCE.items()}
    if value is True:
        pass
    elif value in (False, None):
        cfg = dict.fromkeys(cfg)
    elif isinstance(value, dict):
        unknown = set(value) - set(cfg)
        if unknown:
            raise KeyError(
                f'train_cfg.fault_tolerance: unknown keys {sorted(unknown)}'
                f'; known: {sorted(cfg)}')
        for key, sub in value.items():
            if isinstance(sub, dict) and isinstance(cfg[key], dict):
                cfg[key].update(sub)
            elif sub is True and key in ('preemption', 'nonfinite',
                                         'bad_samples'):
                pass
            else:
                cfg[key] = sub
    else:
        raise TypeError('train_cfg.fault_tolerance must be a bool or a '
                        f'dict, got {type(value).__name__}')
    for key in ('preemption', 'nonfinite', 'bad_samples'):
        if cfg[key] is False:
            cfg[key] = None
    return cfg
