"""Helpers for models that run several backward passes per optimizer step
under DistributedDataParallel."""
from collections import defaultdict
from contextlib import contextmanager, nullcontext

import torch
import torch.distributed as dist
import torch.nn as nn
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors
from torch.nn.parallel import DistributedDataParallel

from ...utils.openmmlab_private import add_backward_count


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


@torch.no_grad()
def average_buffers(module: nn.Module) -> int:
    """Average across ranks, in place, the running statistics (floating
    point buffers named ``running_*``: BN, SyncBN, mmcv's SyncBN, instance
    norm with ``track_running_stats``) of the submodules of ``module`` that
    are in training mode; returns how many were averaged (0 without a
    process group).

    Only these buffers can differ across ranks. Layers in eval mode (a
    frozen ImageNet model, BN with ``norm_eval``), other buffers (e.g. the
    data preprocessor's mean/std, which an average over 3 ranks could move
    by one rounding step per iteration) and integer buffers
    (``num_batches_tracked``: every rank runs the same forwards) are left
    alone. One coalesced all-reduce per dtype and device; no host
    synchronisation.

    BN's running-statistics update is linear, so averaging after every
    step gives the running mean of the global batch (as SyncBN); the
    running variance is the mean of the per-rank variances (SyncBN also
    counts the spread of the per-rank means).
    """
    if not (dist.is_available() and dist.is_initialized()):
        return 0
    world_size = dist.get_world_size()
    if world_size == 1:
        return 0
    groups = defaultdict(list)
    for sub in module.modules():
        if not sub.training:
            continue
        for name, buf in sub.named_buffers(recurse=False):
            if name.startswith('running_') and buf.is_floating_point():
                groups[(buf.dtype, buf.device)].append(buf)
    for tensors in groups.values():
        flat = _flatten_dense_tensors(tensors)
        dist.all_reduce(flat)
        flat.div_(world_size)
        for buf, synced in zip(tensors,
                               _unflatten_dense_tensors(flat, tensors)):
            buf.copy_(synced)
    return sum(len(t) for t in groups.values())


# Gap: mmengine's OptimWrapper counts backward() calls (``_inner_count``)
# to decide when to skip the gradient all-reduce (``optim_context``), how
# to scale the loss (``scale_loss``) and when to step (``update_params``)
# under gradient accumulation (``accumulative_counts``). A UDA step runs
# several backward passes, so it must count as one: ``step_backward``
# leaves the count unchanged and ``finish_step`` advances it once.
def step_backward(optim_wrapper, loss, **kwargs) -> None:
    """One of the backward passes of a UDA training step: the loss scaled
    for gradient accumulation, backward (AMP-aware), without counting."""
    optim_wrapper.backward(optim_wrapper.scale_loss(loss), **kwargs)
    add_backward_count(optim_wrapper, -1)  # counted once, in finish_step


def finish_step(optim_wrapper) -> bool:
    """End of a UDA training step: count it, and apply the optimizer step
    (then zero the gradients) if it completes an accumulation window;
    returns whether it did. Without accumulation, every step applies."""
    add_backward_count(optim_wrapper, 1)
    if not optim_wrapper.should_update():
        return False
    optim_wrapper.step()
    optim_wrapper.zero_grad()
    return True
