"""EMATeacherHook on a minimal runner (``model`` and ``iter`` are all the
hook reads): the copy at iteration 0, the EMA rate and its warm-up, the
interval, and no re-copy when a run resumes mid-schedule."""
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn

from mmseg_uda.engine.hooks import EMATeacherHook


def net(seed: int) -> nn.Module:
    """Conv + BN with seeded parameters and non-default BN statistics."""
    torch.manual_seed(seed)
    module = nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3))
    with torch.no_grad():
        module[1].weight.normal_()
        module[1].running_mean.normal_()
    return module


class UDAModel(nn.Module):
    """The attributes the hook needs of a UDA method."""

    def __init__(self):
        super().__init__()
        self.student = net(0)
        self.teacher = net(1)
        self.teacher.requires_grad_(False)


def params(module):
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def runner_at(model, iteration):
    return SimpleNamespace(model=model, iter=iteration)


def test_iteration_zero_copies_parameters_but_not_buffers():
    """At iteration 0 the teacher becomes the student (parameters only, as
    DAFormer's ``_init_ema_weights``). Rules out a missing initial copy (the
    teacher would stay at its random init and an EMA with rate 0 would still
    be needed to fix it) and copying the BN buffers too."""
    model = UDAModel()
    teacher_buffer = model.teacher[1].running_mean.clone()
    hook = EMATeacherHook(alpha=0.999)
    runner = runner_at(model, 0)
    hook.before_train(runner)
    hook.before_train_iter(runner, batch_idx=0)
    for k, v in model.student.named_parameters():
        assert torch.equal(dict(model.teacher.named_parameters())[k], v), k
    assert torch.equal(model.teacher[1].running_mean, teacher_buffer)
    assert not torch.equal(teacher_buffer, model.student[1].running_mean)


@pytest.mark.parametrize('alpha,iteration,rate', [
    (0.999, 1, 0.5),   # warm-up: min(1 - 1/(t+1), alpha)
    (0.3, 1, 0.3),     # alpha below the warm-up value
    (0.999, 3, 0.75),
])
def test_ema_rate(alpha, iteration, rate):
    """``teacher = a * teacher + (1 - a) * student`` with
    ``a = min(1 - 1/(t + 1), alpha)``. Rules out a rate without warm-up
    (0.999 at iteration 1), ``1 - 1/t`` (0 at iteration 1), and the two
    weights swapped (visible at 0.3 and 0.75)."""
    model = UDAModel()
    t0, s0 = params(model.teacher), params(model.student)
    hook = EMATeacherHook(alpha=alpha)
    hook.before_train_iter(runner_at(model, iteration), batch_idx=0)
    for k, v in model.teacher.named_parameters():
        torch.testing.assert_close(v, rate * t0[k] + (1 - rate) * s0[k])
    for k, v in model.student.named_parameters():
        assert torch.equal(v, s0[k])  # the student is never written


def test_resumed_iteration_updates_instead_of_copying():
    """The first iteration a fresh hook sees is 5 (a resumed run): the
    teacher restored from the checkpoint is averaged (rate 5/6), not
    re-copied from the student as DAFormer's code does on resume. Rules out
    "copy on the hook's first call" instead of "copy at iteration 0"."""
    model = UDAModel()
    t0, s0 = params(model.teacher), params(model.student)
    hook = EMATeacherHook(alpha=0.999)
    runner = runner_at(model, 5)
    hook.before_train(runner)
    hook.before_train_iter(runner, batch_idx=0)
    rate = 5 / 6
    for k, v in model.teacher.named_parameters():
        torch.testing.assert_close(v, rate * t0[k] + (1 - rate) * s0[k])


def test_interval():
    """With ``interval=2`` iteration 3 leaves the teacher alone and
    iteration 4 updates it. Rules out ignoring the interval."""
    model = UDAModel()
    t0 = params(model.teacher)
    hook = EMATeacherHook(alpha=0.999, interval=2)
    hook.before_train_iter(runner_at(model, 3), batch_idx=0)
    for k, v in model.teacher.named_parameters():
        assert torch.equal(v, t0[k]), k
    hook.before_train_iter(runner_at(model, 4), batch_idx=0)
    assert any(not torch.equal(v, t0[k])
               for k, v in model.teacher.named_parameters())


def test_model_without_teacher_fails_before_training():
    """A model without a teacher fails in ``before_train`` with the model's
    type named. Rules out a hook that silently does nothing."""
    runner = runner_at(nn.Linear(1, 1), 0)
    with pytest.raises(AttributeError, match='Linear'):
        EMATeacherHook().before_train(runner)
