"""``CheckpointHook`` whose checkpoints survive a kill at any moment."""
import os
import os.path as osp
from typing import Callable, Optional

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmseg.registry import HOOKS

from ...utils.checkpoint_safety import (
    LAST_CHECKPOINT_FILE,
    checkpoint_candidates,
    find_resumable_checkpoint,
    remove_stale_tmp_files,
)
from ...utils.io import TMP_SUFFIX, atomic_replace, atomic_write
from ...utils.openmmlab_private import (
    resumes_latest_checkpoint,
    set_checkpoint_to_resume,
)


def choose_resume_checkpoint(runner, choose: Callable[[str], Optional[str]]
                             ) -> None:
    """With ``resume=True`` and no ``load_from``, make the Runner's
    ``load_or_resume()`` resume ``choose(work_dir)`` (None: mmengine's own
    choice, the file named in ``last_checkpoint``).

    Gap in mmengine 0.10: the Runner has no public way to choose the
    checkpoint it resumes; ``load_or_resume`` reads the private ``_resume``
    and ``_load_from`` (``utils/openmmlab_private.py``).
    """
    if resumes_latest_checkpoint(runner):
        path = choose(runner.work_dir)
        if path is not None:
            set_checkpoint_to_resume(runner, path)


def _newest_complete_checkpoint(work_dir: str) -> Optional[str]:
    path = find_resumable_checkpoint(work_dir)
    if path is None and checkpoint_candidates(work_dir):
        raise RuntimeError(
            f'resume=True but no checkpoint of {work_dir} is complete (see '
            'the warnings above); remove them to start from scratch or set '
            'load_from')
    return path


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` with crash-safe saving.

    Same arguments, plus ``min_keep_ckpts``. Differences, for a local
    ``out_dir`` (other backends keep mmengine's behaviour):

    - the checkpoint is written to ``iter_N.pth.tmp``, flushed to disk and
      renamed to ``iter_N.pth`` (``os.replace``, atomic), then
      ``last_checkpoint`` is replaced the same way: a kill while saving
      leaves the previous checkpoint and ``last_checkpoint`` untouched;
    - outdated checkpoints are removed after the new one is complete, not
      before (mmengine removes first: a kill while saving with
      ``max_keep_ckpts=1`` left no checkpoint at all);
    - at least ``min_keep_ckpts`` (2) periodic checkpoints are kept, so that
      ``--resume`` has a previous good one to fall back to if the newest is
      damaged anyway (disk errors, a copy cut short);
    - ``*.tmp`` files of a killed save are removed when training starts;
    - with ``resume_fallback`` (default) and ``resume=True`` without
      ``load_from``, the newest *complete* checkpoint of the work dir is
      resumed (mmengine takes the file named in ``last_checkpoint`` even
      when it is truncated); a damaged latest one is skipped with a
      warning.

    Also gathers every rank's random states for :class:`RandomStateHook`
    before saving (all ranks call this hook, one rank writes).
    """

    def __init__(self,
                 *args,
                 min_keep_ckpts: int = 2,
                 resume_fallback: bool = True,
                 **kwargs):
        super().__init__(*args, **kwargs)
        if min_keep_ckpts < 1:
            raise ValueError('min_keep_ckpts must be >= 1')
        self.min_keep_ckpts = int(min_keep_ckpts)
        if 0 < self.max_keep_ckpts < self.min_keep_ckpts:
            self.max_keep_ckpts = self.min_keep_ckpts
        self.resume_fallback = resume_fallback

    def before_run(self, runner) -> None:
        # Runner.train() calls before_run right before load_or_resume().
        super().before_run(runner)
        if self.resume_fallback:
            choose_resume_checkpoint(runner, _newest_complete_checkpoint)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if self._is_local() and is_main_process():
            for path in remove_stale_tmp_files(self.out_dir):
                print_log(f'Removed {path} (a checkpoint save that was '
                          'interrupted)', logger='current')

    def _is_local(self) -> bool:
        return isinstance(getattr(self, 'file_backend', None), LocalBackend)

    def _gather_random_states(self, runner) -> None:
        for hook in runner.hooks:
            if hasattr(hook, 'gather') and type(
                    hook).__name__ == 'RandomStateHook':
                hook.gather(runner)

    def save_now(self, runner, step: int) -> None:
        """Save the checkpoint of ``step`` completed iterations (epochs if
        ``by_epoch``) now, e.g. on pre-emption."""
        if self.by_epoch:
            meta = dict(epoch=step, iter=runner.iter)
        else:
            meta = dict(epoch=runner.epoch, iter=step)
        self._save_checkpoint_with_step(runner, step, meta)

    def saved_step(self) -> str:
        """File name of the last checkpoint this hook wrote ('' if none)."""
        return osp.basename(self.last_ckpt) if self.last_ckpt else ''

    def _save_checkpoint_with_step(self, runner, step, meta):
        self._gather_random_states(runner)
        if not self._is_local():
            return super()._save_checkpoint_with_step(runner, step, meta)

        ckpt_filename = self.filename_tmpl.format(step)
        final_path = osp.join(self.out_dir, ckpt_filename)
        outdated = []
        if self.max_keep_ckpts > 0:
            kept = list(self.keep_ckpt_ids)
            if not kept or kept[-1] != step:
                kept.append(step)
            outdated = kept[:-self.max_keep_ckpts]
            kept = kept[-self.max_keep_ckpts:]
            self.keep_ckpt_ids.clear()
            self.keep_ckpt_ids.extend(kept)
            runner.message_hub.update_info('keep_ckpt_ids', kept)
        self.last_ckpt = final_path
        runner.message_hub.update_info('last_ckpt', final_path)

        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename + TMP_SUFFIX,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        atomic_replace(final_path + TMP_SUFFIX, final_path)
        atomic_write(
            osp.join(runner.work_dir, LAST_CHECKPOINT_FILE), final_path)
        for old in outdated:
            path = osp.join(self.out_dir, self.filename_tmpl.format(old))
            if osp.isfile(path) and path != final_path:
                os.remove(path)
