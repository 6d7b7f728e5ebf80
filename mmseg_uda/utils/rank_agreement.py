"""Decisions that every rank of a distributed run must take together.

A rank that raises alone (a non-finite loss, a data error) leaves the others
waiting in the next collective (the gradient all-reduce) until the process
group times out, 30 minutes later, with an error that names nothing. The
helpers here turn a local condition into a collective one: every rank calls
them at the same point of the step, and either all go on or all raise the
same error, which names each failing rank and its reason.
"""
from typing import List, Optional

import torch
from mmengine.dist import all_gather_object, all_reduce, get_world_size


class RankFailure(RuntimeError):
    """Raised on every rank when one or more ranks failed (the message
    lists each failing rank with its error)."""


def count_over_ranks(count: int) -> int:
    """Sum of ``count`` over the ranks (``count`` itself without a process
    group). One all-reduce of a scalar; a collective: every rank calls it."""
    if get_world_size() == 1:
        return int(count)
    tensor = torch.tensor([int(count)], dtype=torch.int64)
    all_reduce(tensor, op='sum')
    return int(tensor.item())


def gather_over_ranks(obj) -> List:
    """``[obj of rank 0, obj of rank 1, ...]`` (a collective)."""
    if get_world_size() == 1:
        return [obj]
    return all_gather_object(obj)


def raise_on_any_rank(error: Optional[BaseException], what: str) -> None:
    """Raise on every rank if ``error`` is set on any rank (a collective).

    Without a process group the error itself is raised. Otherwise every
    rank raises :class:`RankFailure` with the same message,
    ``'<what> failed on rank 1: OSError: ...'``, chained to the local error
    on the ranks that had one.
    """
    if get_world_size() == 1:
        if error is not None:
            raise error
        return
    if count_over_ranks(error is not None) == 0:
        return
    local = None if error is None else f'{type(error).__name__}: {error}'
    reports = gather_over_ranks(local)
    text = '; '.join(f'rank {rank}: {msg}'
                     for rank, msg in enumerate(reports) if msg is not None)
    failed = [str(r) for r, m in enumerate(reports) if m is not None]
    raise RankFailure(f'{what} failed on rank {", ".join(failed)} of '
                      f'{len(reports)}; every rank stops. {text}') from error
