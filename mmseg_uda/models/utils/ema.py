"""Exponential moving average of a student's parameters (the mean teacher
of DACS), as in the reference: parameters only, never buffers."""
import torch
import torch.nn as nn


def ema_alpha(iteration: int, alpha: float) -> float:
    """``min(1 - 1 / (t + 1), alpha)``: the reference's warm-up of the EMA
    rate, so the teacher follows the student closely early on."""
    return min(1.0 - 1.0 / (iteration + 1), alpha)


@torch.no_grad()
def copy_parameters(teacher: nn.Module, student: nn.Module) -> None:
    """``teacher <- student`` for parameters only (BN statistics are not
    copied, as in the reference)."""
    for t, s in _paired_parameters(teacher, student):
        t.data.copy_(s.data)


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, alpha: float) -> None:
    """``teacher <- alpha * teacher + (1 - alpha) * student`` on parameters."""
    pairs = _paired_parameters(teacher, student)
    t_params = [t.data for t, _ in pairs]
    s_params = [s.data for _, s in pairs]
    # One fused kernel per dtype/device group instead of one per tensor.
    torch._foreach_mul_(t_params, alpha)
    torch._foreach_add_(t_params, s_params, alpha=1.0 - alpha)


def _paired_parameters(teacher: nn.Module, student: nn.Module):
    t_named = dict(teacher.named_parameters())
    s_named = dict(student.named_parameters())
    if t_named.keys() != s_named.keys():
        missing = sorted(set(s_named) ^ set(t_named))[:5]
        raise ValueError('teacher and student have different parameters, '
                         f'e.g. {missing}')
    pairs = []
    for name, s in s_named.items():
        t = t_named[name]
        if t.shape != s.shape:
            raise ValueError(f'parameter {name}: teacher shape '
                             f'{tuple(t.shape)} != student {tuple(s.shape)}')
        pairs.append((t, s))
    return pairs
