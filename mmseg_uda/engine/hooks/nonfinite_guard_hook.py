"""Stop (or skip the step) on a non-finite loss or gradient, before it
reaches the weights, the EMA teacher or a checkpoint."""
import logging
import math
from typing import Dict, List, Optional

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmseg.registry import HOOKS

from ...utils.rank_agreement import count_over_ranks, gather_over_ranks

_MAX_NAMES = 8


def _grads_finite(grads: List[torch.Tensor]) -> bool:
    """Whether every gradient is finite (one device synchronisation)."""
    try:
        norms = torch._foreach_norm(grads)
        return bool(torch.stack([n.float() for n in norms]).isfinite().all())
    except (RuntimeError, AttributeError, TypeError):  # mixed devices/dtypes
        return all(bool(torch.isfinite(g).all()) for g in grads)


def _is_finite_value(value) -> bool:
    if isinstance(value, torch.Tensor):
        return bool(torch.isfinite(value.detach()).all())
    if isinstance(value, (int, float)):
        return math.isfinite(value)
    return True


def _fmt(value) -> str:
    if isinstance(value, torch.Tensor):
        value = value.detach().float()
        value = value.item() if value.numel() == 1 else value.tolist()
    return str(value)


@HOOKS.register_module()
class NonFiniteGuardHook(Hook):
    """Divergence guard of UDA training.

    UDA methods back-propagate several losses and step the optimizers
    inside ``train_step``; a NaN/Inf there would be written into the
    student, averaged into the EMA teacher at the next iteration and saved
    in the next checkpoint. This hook:

    - registers a step pre-hook on every optimizer: if a gradient is not
      finite, all gradients of that optimizer are dropped (``grad=None``:
      torch optimizers then leave the parameters and their state untouched),
      so the step is not applied; the parameters are remembered;
    - after the iteration (before checkpointing, before the next EMA
      update) checks every logged loss term (keys holding ``'loss'``) and
      the recorded gradients; on a problem, ``action='raise'`` stops
      training with ``FloatingPointError`` naming the loss terms (e.g.
      ``'mix.decode.loss_ce'``), the parameters and the iteration;
      ``action='skip'`` logs a warning and goes on (the step was not
      applied), raising after ``max_consecutive_skips`` skipped iterations
      in a row, or at once if the model's buffers (BN statistics) became
      non-finite (a skipped step cannot undo them).

    In a distributed run the ranks take the verdict together (one scalar
    all-reduce per iteration): a non-finite loss on one rank stops (or
    skips on) every rank with the same message, naming the ranks.

    Under AMP (``AmpOptimWrapper``), the gradient scaler already skips
    overflowing steps (normal while the scale settles), so only non-finite
    loss terms are reported there.

    Args:
        action: ``'raise'`` (default) or ``'skip'``.
        max_consecutive_skips: with ``'skip'``, raise after this many
            consecutive skipped iterations (0: never).
        check_grads: check gradients before each optimizer step.
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 action: str = 'raise',
                 max_consecutive_skips: int = 10,
                 check_grads: bool = True) -> None:
        if action not in ('raise', 'skip'):
            raise ValueError(
                f"NonFiniteGuardHook action must be 'raise' or 'skip', got "
                f'{action!r}')
        self.action = action
        self.max_consecutive_skips = int(max_consecutive_skips)
        self.check_grads = check_grads
        self.skipped = 0  # total skipped iterations
        self._consecutive = 0
        self._handles: list = []
        self._bad_grads: Dict[str, List[str]] = {}
        self._param_names: Dict[int, str] = {}

    # -- gradients, before each optimizer step ----------------------------
    @staticmethod
    def _optim_wrappers(runner) -> Dict[str, OptimWrapper]:
        wrapper = runner.optim_wrapper
        if isinstance(wrapper, OptimWrapperDict):
            return dict(wrapper.items())
        if isinstance(wrapper, OptimWrapper):
            return {'optimizer': wrapper}
        return {}

    def _make_pre_hook(self, key: str):

        def pre_step(optimizer, args, kwargs):
            params = [
                p for group in optimizer.param_groups for p in group['params']
                if p.grad is not None
            ]
            if not params or _grads_finite([p.grad for p in params]):
                return None
            bad = [
                self._param_names.get(id(p), f'<{tuple(p.shape)}>')
                for p in params if not bool(torch.isfinite(p.grad).all())
            ]
            self._bad_grads.setdefault(key, []).extend(bad)
            for p in params:  # torch optimizers skip grad-less parameters
                p.grad = None
            return None

        return pre_step

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        self._param_names = {
            id(p): name
            for name, p in model.named_parameters()
        }
        self.teardown()
        if not self.check_grads:
            return
        for key, wrapper in self._optim_wrappers(runner).items():
            register = getattr(wrapper.optimizer, 'register_step_pre_hook',
                               None)
            if register is None:  # torch < 2.0
                continue
            self._handles.append(register(self._make_pre_hook(key)))

    def teardown(self, runner=None) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def after_train(self, runner) -> None:
        self.teardown()

    # -- losses and verdict, after the iteration --------------------------
    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        self._bad_grads = {}

    def _local_problem(self, outputs: Optional[dict]) -> Optional[str]:
        """This rank's non-finite loss terms and gradients, or None."""
        bad_losses = {
            key: value
            for key, value in (outputs or {}).items()
            if 'loss' in key and not _is_finite_value(value)
        }
        parts = []
        if bad_losses:
            terms = ', '.join(f'{k!r} = {_fmt(v)}'
                              for k, v in sorted(bad_losses.items()))
            parts.append(f'non-finite loss {terms}')
        for key, names in self._bad_grads.items():
            shown = ', '.join(names[:_MAX_NAMES])
            more = (f' and {len(names) - _MAX_NAMES} more'
                    if len(names) > _MAX_NAMES else '')
            parts.append(f'non-finite gradient of {shown}{more} '
                         f'(optimizer {key!r})')
        return '; '.join(parts) or None

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        # The verdict is taken by all ranks together (one scalar
        # all-reduce per iteration; the reports are gathered only on a
        # problem): a rank raising alone would leave the others waiting in
        # the next gradient all-reduce, and per-rank skip counters would
        # drift apart.
        local = self._local_problem(outputs)
        skipped_local = bool(self._bad_grads)
        self._bad_grads = {}
        if count_over_ranks(local is not None) == 0:
            self._consecutive = 0
            return
        reports = gather_over_ranks(
            (local, skipped_local, self._bad_buffers(runner)))
        iteration = runner.iter + 1  # as mmengine's log counts it
        if len(reports) == 1:
            what = reports[0][0]
        else:
            what = '; '.join(f'rank {rank}: {problem}'
                             for rank, (problem, _, _) in enumerate(reports)
                             if problem is not None)
        skipped_step = any(r[1] for r in reports)
        bad_buffers = sorted({name for r in reports for name in r[2]})

        if self.action == 'skip' and not bad_buffers:
            self.skipped += 1
            self._consecutive += 1
            limit = self.max_consecutive_skips
            if limit <= 0 or self._consecutive <= limit:
                print_log(
                    f'Iteration {iteration}: {what}. '
                    + ('The optimizer step was skipped'
                       if skipped_step else 'The gradients were finite')
                    + f' ({self.skipped} skipped iterations so far).',
                    logger='current',
                    level=logging.WARNING)
                return
            what += (f'; {self._consecutive} consecutive iterations were '
                     'non-finite')
        if bad_buffers:
            what += ('; non-finite buffers (normalisation statistics): '
                     + ', '.join(bad_buffers[:_MAX_NAMES]))
        message = (
            f'Training diverged at iteration {iteration}: {what}. '
            'Stopped before the optimizer step with non-finite gradients, '
            'the EMA teacher update and checkpointing; resume from the last '
            'checkpoint (--resume) with a lower learning rate, or configure '
            "NonFiniteGuardHook(action='skip').")
        print_log(message, logger='current', level=logging.ERROR)
        raise FloatingPointError(message)

    @staticmethod
    def _bad_buffers(runner) -> List[str]:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        return [
            name for name, buf in model.named_buffers()
            if buf.is_floating_point() and not bool(torch.isfinite(buf).all())
        ]
