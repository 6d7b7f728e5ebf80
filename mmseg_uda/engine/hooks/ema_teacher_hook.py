"""The EMA ("mean") teacher update of DACS as an mmengine hook."""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS

from ...models.utils import copy_parameters, ema_alpha, ema_update, unwrap


@HOOKS.register_module()
class EMATeacherHook(Hook):
    """Keep ``model.teacher`` an exponential moving average of
    ``model.student`` (parameters only, as the DAFormer reference
    ``mmseg/models/uda/dacs.py``, ``_update_ema``).

    Before iteration ``t`` (so before the teacher predicts, as the
    reference): at ``t == 0`` the teacher becomes a copy of the student;
    afterwards ``teacher = a_t * teacher + (1 - a_t) * student`` with
    ``a_t = min(1 - 1 / (t + 1), alpha)``. On resume, the teacher comes from
    the checkpoint and the schedule continues from the restored iteration
    (the reference re-copies the student: a bug not reproduced). Every rank
    applies the same update to identical students, so teachers stay
    identical without communication.

    Args:
        alpha: the EMA rate (0.999 in DAFormer/HRDA/MIC, 0.99 in the
            ablation).
        interval: update every ``interval`` iterations (1 in the reference).
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, alpha: float = 0.999, interval: int = 1):
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f'EMATeacherHook alpha must be in [0, 1), got '
                             f'{alpha}')
        if interval < 1:
            raise ValueError(f'EMATeacherHook interval must be >= 1, got '
                             f'{interval}')
        self.alpha = alpha
        self.interval = interval

    @staticmethod
    def _models(runner):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        teacher: Optional[object] = getattr(model, 'teacher', None)
        if teacher is None or not hasattr(model, 'student'):
            raise AttributeError(
                'EMATeacherHook needs a model with `student` and `teacher` '
                f'(a UDA method), got {type(model).__name__}')
        return unwrap(teacher), unwrap(model.student)

    def before_train(self, runner) -> None:
        self._models(runner)  # fail before the first iteration

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        t = runner.iter
        teacher, student = self._models(runner)
        if t == 0:
            copy_parameters(teacher, student)
        elif t % self.interval == 0:
            ema_update(teacher, student, ema_alpha(t, self.alpha))
