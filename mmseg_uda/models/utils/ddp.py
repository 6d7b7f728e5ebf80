"""Helpers for models that run several backward passes per optimizer step
under DistributedDataParallel."""
from contextlib import contextmanager, nullcontext

import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside a (possibly nested) DDP wrapper."""
    while isinstance(module, DistributedDataParallel):
        module = module.module
    return module


@contextmanager
def grad_sync(module: nn.Module, enabled: bool):
    """Forward+backward inside this context synchronise gradients across
    ranks only if ``enabled``; otherwise they accumulate locally and are
    reduced, summed with the rest, by the next synchronised backward. Use
    ``enabled=False`` for every backward of a step but the last, so the step
    all-reduces once."""
    ctx = (module.no_sync() if not enabled and isinstance(
        module, DistributedDataParallel) else nullcontext())
    with ctx:
        yield
