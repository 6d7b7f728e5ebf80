"""The reference learning-rate schedule (mmcv 1.x ``poly`` policy with linear
warmup) as one mmengine parameter scheduler: the design card's LR warmup."""
from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import _ParamScheduler
from mmseg.registry import PARAM_SCHEDULERS


class WarmupPolyParamScheduler(_ParamScheduler):
    """mmcv 1.x poly with linear warmup: ``regular(t) = (base - eta_min) *
    (1 - t / max_iters) ** power + eta_min``, multiplied during warmup
    (``t < warmup_iters``) by ``1 - (1 - t / warmup_iters) *
    (1 - warmup_ratio)``.

    The poly part runs over the whole schedule from ``t = 0`` (it is not
    restarted after warmup), so the value at ``t = warmup_iters`` is already
    decayed (0.9625 x base at 1500 of 40000). Closed form of ``t``, so resume
    and ``--cfg-options`` changes are exact.

    Args:
        max_iters: length of the poly decay (40000).
        warmup_iters: linear warmup length (1500); 0 disables warmup.
        warmup_ratio: the factor at ``t = 0`` (1e-6).
        power: poly power (1.0).
        eta_min: minimum value (0).
    """

    def __init__(self,
                 optimizer,
                 param_name: str,
                 max_iters: int,
                 warmup_iters: int = 1500,
                 warmup_ratio: float = 1e-6,
                 power: float = 1.0,
                 eta_min: float = 0.0,
                 begin: int = 0,
                 end: int = None,
                 last_step: int = -1,
                 by_epoch: bool = False,
                 verbose: bool = False):
        if by_epoch:
            raise ValueError('WarmupPoly schedules are iteration based; set '
                             'by_epoch=False')
        if max_iters <= 0 or warmup_iters < 0:
            raise ValueError(f'need max_iters > 0 and warmup_iters >= 0, got '
                             f'max_iters={max_iters}, '
                             f'warmup_iters={warmup_iters}')
        if not 0.0 < warmup_ratio <= 1.0:
            raise ValueError(
                f'warmup_ratio must be in (0, 1], got {warmup_ratio}')
        self.max_iters = max_iters
        self.warmup_iters = warmup_iters
        self.warmup_ratio = warmup_ratio
        self.power = power
        self.eta_min = eta_min
        super().__init__(
            optimizer,
            param_name=param_name,
            begin=begin,
            end=max_iters if end is None else end,
            last_step=last_step,
            by_epoch=False,
            verbose=verbose)

    def value(self, base: float, t: int) -> float:
        """The value at iteration ``t`` for the base value ``base``:
        ``((base - eta_min) * poly(t) + eta_min) * warmup(t)``."""
        t = min(max(t, 0), self.max_iters)
        regular = (base - self.eta_min) * (
            1 - t / self.max_iters)**self.power + self.eta_min
        if t < self.warmup_iters:
            regular *= 1 - (1 - t / self.warmup_iters) * (
                1 - self.warmup_ratio)
        return regular

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore the progress (step counters, base values) but keep this
        run's configured ``begin``/``end``/``max_iters``, and set the
        optimizer to the value of the restored step.

        Gap: mmengine restores every attribute, including the ``end`` that
        its Runner defaults to the *previous* run's ``max_iters``; a run
        resumed with a longer schedule would then keep the last value of
        the previous run instead of continuing the closed-form schedule.
        """
        keep = ('begin', 'end', 'max_iters', 'warmup_iters', 'warmup_ratio',
                'power', 'eta_min')
        self.__dict__.update(
            {k: v for k, v in state_dict.items() if k not in keep})
        if self.begin <= self._global_step < self.end:
            for group, value in zip(self.optimizer.param_groups,
                                    self._get_value()):
                group[self.param_name] = value
            self._last_value = [
                group[self.param_name]
                for group in self.optimizer.param_groups
            ]

    def _get_value(self):
        # Closed form of the global step: exact wherever the run resumes.
        t = self._global_step - self.begin
        return [self.value(base, t) for base in self.base_values]


@PARAM_SCHEDULERS.register_module()
class WarmupPolyLR(LRSchedulerMixin, WarmupPolyParamScheduler):
    """:class:`WarmupPolyParamScheduler` for the learning rate."""
