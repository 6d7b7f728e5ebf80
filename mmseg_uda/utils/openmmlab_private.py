"""Every use of a private attribute of mmengine, mmseg or mmcv by the plugin,
in one place.

Each is a gap of the pinned versions (mmengine 0.10, mmseg 1.2, mmcv 2.x):
something the plugin needs and the public API does not offer. Library code
and tools call the functions below instead of touching the attribute, and
``tests/test_utils/test_openmmlab_private.py`` checks every entry against the
installed packages, so an upgrade that renames or changes one fails there
with a message naming it, not deep inside a training run.

Attributes read or written through this module:

- ``OptimWrapper._inner_count`` (mmengine): the number of ``backward``
  calls, from which ``optim_context`` (skip the gradient all-reduce),
  ``scale_loss`` and ``should_update`` decide under gradient accumulation.
  A UDA step runs several backward passes and must count once
  (:func:`add_backward_count`; ``models/utils/ddp.py``).
- ``Runner._resume``, ``Runner._load_from`` (mmengine): what
  ``load_or_resume`` resumes; the Runner has no public way to choose the
  checkpoint it resumes (:func:`resumes_latest_checkpoint`,
  :func:`set_checkpoint_to_resume`; ``SafeCheckpointHook``).
- ``Runner._train_loop`` (mmengine): the train loop *if built*; the public
  ``runner.train_loop`` builds it from its config on first access (its
  dataloader too), which a hook called outside training (``runner.val()``)
  must not do (:func:`built_train_loop`; ``PreemptionHook``,
  ``RandomStateHook``).
- ``IterBasedTrainLoop._max_iters``, ``_max_epochs``, ``_epoch``, ``_iter``
  and ``_decide_current_val_interval`` (mmengine): the counters that its
  ``__init__`` sets, that its properties and ``run_iter`` read and
  advance, and its dynamic-interval step; ``UDAIterBasedTrainLoop``
  replaces ``__init__`` (mmengine's starts iterating the dataloader) and
  ``run`` (:func:`init_iter_loop_counters`, :func:`update_val_interval`).
- ``mmengine.runner.loops._InfiniteDataloaderIterator``: the iterator that
  restarts the dataloader at its end (and calls the sampler's
  ``set_epoch``) (:func:`infinite_dataloader_iterator`).
- ``CheckpointHook._save_checkpoint_with_step`` (mmengine): the one method
  that writes an iteration's checkpoint; ``SafeCheckpointHook`` overrides
  it (atomic writes) and ``PreemptionHook`` calls it on a plain
  ``CheckpointHook`` to save now (:func:`save_checkpoint_now`).
- ``SegDataPreProcessor._enable_normalize`` (mmseg): whether it normalises;
  ``UDADataPreProcessor`` repeats its steps for unlabelled batches
  (:func:`normalizes`).
- ``LoadAnnotations._load_seg_map`` (mmcv, inherited by mmseg's): the label
  loading step of ``transform``; ``LoadCheckedAnnotations`` overrides it to
  name the file on errors (an override, so only the test checks it).

torch's own private functions (``torch._foreach_*``,
``torch._utils._flatten_dense_tensors``) are not OpenMMLab's and are used
where they are needed.
"""


# ----------------------------------------------------------- optim wrapper
def add_backward_count(optim_wrapper, n: int) -> None:
    """Add ``n`` (may be negative) to the optim wrapper's count of backward
    calls (``OptimWrapper._inner_count``)."""
    optim_wrapper._inner_count += n


# ------------------------------------------------------------------ runner
def resumes_latest_checkpoint(runner) -> bool:
    """Whether ``runner.load_or_resume()`` will resume (``resume=True``)
    from the checkpoint mmengine finds itself (no ``load_from``)."""
    return bool(runner._resume) and runner._load_from is None


def set_checkpoint_to_resume(runner, path: str) -> None:
    """Make ``runner.load_or_resume()`` resume ``path``."""
    runner._load_from = path


def built_train_loop(runner):
    """The runner's train loop if it has been built, else None (a config
    dict or no training): never builds it."""
    loop = getattr(runner, '_train_loop', None)
    return None if loop is None or isinstance(loop, dict) else loop


# -------------------------------------------------------------- train loop
def init_iter_loop_counters(loop, max_iters: int) -> None:
    """Set the counters of an ``IterBasedTrainLoop`` as its ``__init__``
    does (0 iterations and epochs done, ``max_iters``, one epoch)."""
    loop._max_iters = int(max_iters)
    loop._max_epochs = 1
    loop._epoch = 0
    loop._iter = 0


def update_val_interval(loop) -> None:
    """``IterBasedTrainLoop``'s step of ``dynamic_intervals``: the
    validation interval of the current iteration."""
    loop._decide_current_val_interval()


def infinite_dataloader_iterator(dataloader):
    """mmengine's iterator that restarts ``dataloader`` when it ends."""
    from mmengine.runner.loops import _InfiniteDataloaderIterator
    return _InfiniteDataloaderIterator(dataloader)


# ------------------------------------------------------------------- hooks
def save_checkpoint_now(checkpoint_hook, runner, step: int,
                        meta: dict) -> None:
    """Make a ``CheckpointHook`` write the checkpoint of ``step`` now."""
    checkpoint_hook._save_checkpoint_with_step(runner, step, meta)


# ---------------------------------------------------------------- mmseg
def normalizes(data_preprocessor) -> bool:
    """Whether a ``SegDataPreProcessor`` normalises (mean and std given)."""
    return bool(data_preprocessor._enable_normalize)


__all__ = [
    'add_backward_count', 'built_train_loop', 'infinite_dataloader_iterator',
    'init_iter_loop_counters', 'normalizes', 'resumes_latest_checkpoint',
    'save_checkpoint_now', 'set_checkpoint_to_resume', 'update_val_interval'
]
