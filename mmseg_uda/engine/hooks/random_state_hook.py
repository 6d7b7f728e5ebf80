"""Save and restore the global random number generators with checkpoints,
so a resumed run draws the same random numbers as the uninterrupted one."""
import logging
import random
from typing import List, Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_dist_info
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmseg.registry import HOOKS

from ...utils.openmmlab_private import built_train_loop

#: Key of the random states in a checkpoint.
CHECKPOINT_KEY = 'random_state'
#: Key of the training sampler's seed in ``checkpoint['meta']``.
SAMPLER_SEED_KEY = 'uda_sampler_seed'


def capture_random_state() -> dict:
    """The states of ``random``, ``numpy.random`` and torch (CPU and every
    initialised CUDA device) of this process, as tensors and plain Python
    values (loadable with ``torch.load(weights_only=True)``)."""
    py_version, py_state, py_gauss = random.getstate()
    _, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = dict(
        python=dict(
            version=int(py_version),
            state=torch.tensor(py_state, dtype=torch.int64),
            gauss=py_gauss),
        numpy=dict(
            keys=torch.from_numpy(np_keys.astype(np.int64)),
            pos=int(np_pos),
            has_gauss=int(np_has_gauss),
            cached_gaussian=float(np_gauss)),
        torch=torch.get_rng_state(),
        cuda=[])
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = [s.cpu() for s in torch.cuda.get_rng_state_all()]
    return state


def restore_random_state(state: dict) -> None:
    """Inverse of :func:`capture_random_state`."""
    py = state['python']
    random.setstate((py['version'], tuple(int(v) for v in py['state']),
                     py['gauss']))
    npy = state['numpy']
    np.random.set_state(('MT19937', npy['keys'].numpy().astype(np.uint32),
                         npy['pos'], npy['has_gauss'],
                         npy['cached_gaussian']))
    torch.set_rng_state(state['torch'].cpu())
    cuda = state.get('cuda') or []
    if cuda and torch.cuda.is_available():
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
        else:
            print_log(
                f'The checkpoint holds {len(cuda)} CUDA generator states but '
                f'{torch.cuda.device_count()} devices are visible; CUDA '
                'random states are not restored.',
                logger='current',
                level=logging.WARNING)


def _train_sampler(runner):
    loop = built_train_loop(runner)
    loader = getattr(loop, 'dataloader', None)
    if loader is None or isinstance(loader, dict):
        return None
    for sampler in (getattr(loader, 'sampler', None),
                    getattr(getattr(loader, 'batch_sampler', None),
                            'sampler', None)):
        if sampler is not None and hasattr(sampler, 'seed'):
            return sampler
    return None


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Checkpoint the global random states and the training sampler seed.

    DACS draws ClassMix classes and the strong augmentation from the global
    torch generator, dropout and drop-path too, HRDA its detail crop from
    numpy's; mmengine's resume restores none of them (it re-seeds with the
    configured seed), so without this hook a resumed run diverges from the
    uninterrupted one from its first iteration on.

    - ``before_save_checkpoint``: ``checkpoint['random_state']`` holds the
      states of every rank (gathered by :meth:`gather` when the checkpoint
      is saved by :class:`SafeCheckpointHook`, which calls it on all ranks;
      otherwise only the saving rank's) and ``meta['uda_sampler_seed']`` the
      seed of the training sampler (with ``randomness=dict(seed=None)`` the
      Runner draws a new seed at every start and builds the sampler with it
      before mmengine's resume restores the checkpoint's seed).
    - on resume the sampler seed is set back in ``before_train`` and the
      random states in the first ``before_train_iter``: after everything
      that draws random numbers only when (re)starting (model
      initialisation, the data loader's base seed).
    - validation never changes the training stream: the states are saved in
      ``before_val`` and restored after it (an uninterrupted run validates
      between two iterations, a resumed one may not).
    """

    priority = 'HIGHEST'

    def __init__(self) -> None:
        self._pending: Optional[dict] = None
        self._pending_seed: Optional[int] = None
        self._gathered: Optional[List[dict]] = None
        self._val_state: Optional[dict] = None

    # -- saving ------------------------------------------------------------
    def gather(self, runner) -> None:
        """Collect every rank's states for the next checkpoint (call on all
        ranks, right before ``runner.save_checkpoint``)."""
        state = capture_random_state()
        _, world_size = get_dist_info()
        self._gathered = (all_gather_object(state)
                          if world_size > 1 else [state])

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        ranks = self._gathered or [capture_random_state()]
        self._gathered = None
        checkpoint[CHECKPOINT_KEY] = dict(ranks=ranks)
        sampler = _train_sampler(runner)
        if sampler is not None and sampler.seed is not None:
            checkpoint.setdefault('meta', {})[SAMPLER_SEED_KEY] = int(
                sampler.seed)

    # -- resuming ----------------------------------------------------------
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        saved = checkpoint.get(CHECKPOINT_KEY)
        self._pending = None
        if saved is not None:
            rank, world_size = get_dist_info()
            ranks = saved.get('ranks') or []
            if len(ranks) == world_size:
                self._pending = ranks[rank]
            elif ranks:
                print_log(
                    f'The checkpoint holds the random states of {len(ranks)}'
                    f' rank(s), this run has {world_size}: every rank '
                    'continues with the states of rank 0, so the random '
                    'draws differ from the interrupted run.',
                    logger='current',
                    level=logging.WARNING)
                self._pending = ranks[0]
        self._pending_seed = checkpoint.get('meta', {}).get(SAMPLER_SEED_KEY)

    def before_train(self, runner) -> None:
        if runner.iter == 0:  # load_from (fine-tuning), not a resume
            self._pending = self._pending_seed = None
            return
        sampler = _train_sampler(runner)
        if self._pending_seed is not None and sampler is not None:
            if sampler.seed != self._pending_seed:
                print_log(
                    f'Restoring the training sampler seed '
                    f'{self._pending_seed} of the checkpoint (was '
                    f'{sampler.seed})',
                    logger='current')
            sampler.seed = int(self._pending_seed)
        self._pending_seed = None
        if self._pending is None:
            print_log(
                'The resumed checkpoint holds no random states (saved '
                'without RandomStateHook): random draws (ClassMix, strong '
                'augmentation, dropout) differ from the interrupted run.',
                logger='current',
                level=logging.WARNING)

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        if self._pending is not None:
            restore_random_state(self._pending)
            self._pending = None

    # -- validation does not consume the training stream ------------------
    def before_val(self, runner) -> None:
        self._val_state = capture_random_state()

    def after_val_epoch(self, runner, metrics=None) -> None:
        if self._val_state is not None:
            restore_random_state(self._val_state)

    def after_val(self, runner) -> None:
        if self._val_state is not None:
            restore_random_state(self._val_state)
            self._val_state = None
