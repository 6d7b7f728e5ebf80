"""Save a checkpoint and stop cleanly when the job is pre-empted."""
import logging
import os
import signal
import threading
from typing import Dict, Optional, Sequence, Union

import torch
from mmengine.dist import all_reduce, barrier, get_dist_info
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log
from mmseg.registry import HOOKS

from ...utils.openmmlab_private import built_train_loop, save_checkpoint_now

#: Environment variable overriding the exit code after a pre-emption
#: (``tools/slurm_train.sh`` sets it to request a requeue).
EXIT_CODE_ENV = 'MMSEG_UDA_PREEMPT_EXIT_CODE'


def _signal_number(sig: Union[int, str]) -> int:
    if isinstance(sig, str):
        name = sig.upper()
        if not name.startswith('SIG'):
            name = 'SIG' + name
        return int(getattr(signal, name))
    return int(sig)


@HOOKS.register_module()
class PreemptionHook(Hook):
    """On SIGTERM (what Slurm sends before pre-empting or at the time
    limit with ``--signal``), finish the current training iteration, save a
    checkpoint and stop training normally.

    The signal handler only sets a flag. At the end of each training
    iteration (after ``CheckpointHook``) the flag is combined over all
    ranks (one all-reduce of a scalar, so every rank stops after the same
    iteration); if set, the checkpoint of the completed iterations is
    written (unless ``CheckpointHook`` just wrote it) through the
    registered ``CheckpointHook`` (atomic with :class:`SafeCheckpointHook`)
    and the loop stops. A signal during validation is handled when the
    validation ends. ``runner.train()`` then returns after the usual
    ``after_train`` hooks, and the process exits with ``exit_code``.

    Args:
        signals: signals to catch (names or numbers). Defaults to
            ``('SIGTERM',)``; add ``'SIGUSR1'`` for ``--signal=USR1@T``.
        exit_code: exit status after a pre-emption. None: the environment
            variable ``MMSEG_UDA_PREEMPT_EXIT_CODE`` or 0 (a clean exit).
            With a non-zero code, ``runner.train()`` raises ``SystemExit``
            at its end, so a job script can tell "pre-empted" from
            "finished" (``tools/slurm_train.sh`` requeues on it).
    """

    priority = 'LOWEST'

    def __init__(self,
                 signals: Sequence[Union[int, str]] = ('SIGTERM', ),
                 exit_code: Optional[int] = None) -> None:
        self.signals = [_signal_number(s) for s in signals]
        if exit_code is None:
            exit_code = int(os.environ.get(EXIT_CODE_ENV, 0))
        self.exit_code = int(exit_code)
        self.received: Optional[int] = None
        self.preempted = False
        self._previous: Dict[int, object] = {}

    # -- signal handling ---------------------------------------------------
    def _handler(self, signum, frame) -> None:
        self.received = signum

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            print_log(
                'PreemptionHook: not in the main thread, signal handlers '
                'are not installed', logger='current',
                level=logging.WARNING)
            return
        for sig in self.signals:
            if sig not in self._previous:
                self._previous[sig] = signal.signal(sig, self._handler)

    def teardown(self, runner=None) -> None:
        """Give the signals back to their previous handlers."""
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous = {}

    def before_train(self, runner) -> None:
        self.received = None
        self.preempted = False
        self.install()

    # -- acting on it ------------------------------------------------------
    def _requested(self) -> bool:
        flag = 1.0 if self.received is not None else 0.0
        _, world_size = get_dist_info()
        if world_size > 1:
            tensor = torch.tensor(flag)
            all_reduce(tensor, op='max')
            flag = float(tensor)
        return flag > 0

    def _save(self, runner, step: int) -> None:
        hooks = [h for h in runner.hooks if isinstance(h, CheckpointHook)]
        name = signal.Signals(self.received).name if self.received else \
            'a signal on another rank'
        if not hooks:
            filename = f'iter_{step}.pth'
            runner.save_checkpoint(
                runner.work_dir, filename,
                meta=dict(epoch=runner.epoch, iter=step), by_epoch=False)
            path = os.path.join(runner.work_dir, filename)
        else:
            hook = hooks[0]
            if hook.by_epoch:
                raise RuntimeError('PreemptionHook needs by_epoch=False '
                                   'checkpoints (iteration-based training)')
            path = os.path.join(hook.out_dir or runner.work_dir,
                                hook.filename_tmpl.format(step))
            if not (hook.last_ckpt and os.path.abspath(hook.last_ckpt)
                    == os.path.abspath(path)):
                if hasattr(hook, 'save_now'):
                    hook.save_now(runner, step)
                else:
                    save_checkpoint_now(hook, runner, step,
                                        dict(epoch=runner.epoch, iter=step))
        # Ranks > 0 must not exit (srun --kill-on-bad-exit) while rank 0
        # is still writing.
        if get_dist_info()[1] > 1:
            barrier()
        print_log(
            f'Received {name}: saved the checkpoint of iteration {step} to '
            f'{path} and stopped training (resume with --resume).',
            logger='current',
            level=logging.WARNING)

    def _stop(self, runner, step: int) -> None:
        self._save(runner, step)
        self.preempted = True
        runner.train_loop.stop_training = True

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if not self.preempted and self._requested():
            # mmengine's loop counts the iteration after the hooks.
            self._stop(runner, runner.iter + 1)

    def after_val_epoch(self, runner, metrics=None) -> None:
        # Validation runs after the iteration counter moved on.
        loop = built_train_loop(runner)
        if (not self.preempted and hasattr(loop, 'stop_training')
                and getattr(loop, 'iter', 0) > 0 and self._requested()):
            self._stop(runner, runner.iter)

    def after_train(self, runner) -> None:
        self.teardown()
        if self.preempted and self.exit_code != 0:
            raise SystemExit(self.exit_code)
