"""Decisions taken together by the ranks (``mmseg_uda.utils.
rank_agreement``), in 2 gloo processes, against what each rank reported."""
import pytest

from mmseg_uda.utils.rank_agreement import (
    RankFailure,
    count_over_ranks,
    gather_over_ranks,
    raise_on_any_rank,
)
from tests.processes import run_ranks


def _count_and_gather(rank):
    return count_over_ranks(rank + 2), gather_over_ranks(f'r{rank}')


def test_count_is_the_sum_and_gather_is_in_rank_order():
    """Rank 0 counts 2, rank 1 counts 3: both get 5 (not the mean, the
    maximum or their own count); the gathered objects are in rank order."""
    for status, value in run_ranks(_count_and_gather):
        assert status == 'ok', value
        assert value == (5, ['r0', 'r1'])


def _raise(rank, failing):
    error = OSError(f'disk {rank}') if rank in failing else None
    try:
        raise_on_any_rank(error, 'loading the batch')
    except RankFailure as e:
        cause = e.__cause__
        return str(e), None if cause is None else str(cause)
    return None


@pytest.mark.parametrize('failing', [(1, ), (0, 1)])
def test_every_rank_raises_when_one_rank_failed(failing):
    """Rank 1 fails (then both): both ranks raise the same
    ``RankFailure`` naming each failing rank and its error, chained to the
    local error where there is one. Rules out a rank that goes on because
    its own error is None (the next collective would hang) and a message
    that names the wrong rank."""
    results = run_ranks(_raise, failing)
    messages = set()
    for rank, (status, value) in enumerate(results):
        assert status == 'ok' and value is not None, (rank, value)
        message, cause = value
        messages.add(message)
        assert cause == (f'disk {rank}' if rank in failing else None)
    names = ', '.join(str(r) for r in failing)
    reasons = '; '.join(f'rank {r}: OSError: disk {r}' for r in failing)
    assert messages == {f'loading the batch failed on rank {names} of 2; '
                        f'every rank stops. {reasons}'}


def test_no_rank_failed_means_no_raise():
    """No error on any rank: neither raises (rules out a count compared
    with the wrong value)."""
    assert run_ranks(_raise, ()) == [('ok', None), ('ok', None)]


def test_without_a_process_group_the_error_itself_is_raised():
    """One process: the local error is raised as it is, None passes;
    counts and gathers are the rank's own."""
    with pytest.raises(OSError, match='disk'):
        raise_on_any_rank(OSError('disk'), 'loading')
    raise_on_any_rank(None, 'loading')
    assert count_over_ranks(3) == 3 and gather_over_ranks('a') == ['a']
