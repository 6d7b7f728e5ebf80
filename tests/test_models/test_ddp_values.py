"""Buffer averaging, gradient synchronisation and the one-count UDA step
under 2 gloo processes: each value is checked against what one process
computes from the ranks' own data, not only between the ranks (a sum in
place of a mean is identical on every rank too)."""
import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from torch.nn.parallel import DistributedDataParallel

from mmseg_uda.models.utils import average_buffers, grad_sync
from mmseg_uda.models.utils.ddp import finish_step, step_backward, unwrap
from mmseg_uda.models.wrappers import UDADistributedDataParallel
from tests.processes import run_ranks


class Net(nn.Module):
    """A BN layer in training mode, a frozen one in eval mode, a plain
    float buffer and a linear layer."""

    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm1d(3)
        self.frozen = nn.BatchNorm1d(3).eval()
        self.register_buffer('scale', torch.ones(3))  # not a norm
        self.lin = nn.Linear(3, 2)

    def forward(self, x):
        return self.lin(self.frozen(self.bn(x)))

    def train(self, mode=True):  # the frozen layer stays in eval mode
        super().train(mode)
        self.frozen.eval()
        return self

    def train_step(self, data, optim_wrapper):
        """One step as a UDA model's: forward (BN statistics updated)."""
        self(data)
        return {}


def _rank_data(rank):
    g = torch.Generator().manual_seed(10 + rank)
    return torch.randn(4, 3, generator=g) * (rank + 1) + 3 * rank


def _buffers(net):
    # names without the DDP wrappers' ``module.`` (the wrapper wraps bn)
    return {k.replace('module.', ''): v.clone()
            for k, v in net.named_buffers()}


def _own_buffers(rank):
    """The buffers of one rank's model after one training forward on its
    own data (no process group: what that rank holds before averaging)."""
    torch.manual_seed(0)
    net = Net().train()
    net.scale.mul_(rank + 2)  # uneven plain buffers, never averaged
    net(_rank_data(rank))
    return _buffers(net)


def _average(rank):
    torch.manual_seed(0)
    net = Net().train()
    net.scale.mul_(rank + 2)
    net(_rank_data(rank))
    count = average_buffers(net)
    return count, _buffers(net)


def test_average_buffers_is_the_mean_of_each_ranks_statistics():
    """Each rank's BN statistics come from its own (uneven) batch; after
    ``average_buffers`` both ranks hold the mean of the two, computed here
    from each rank's data alone. Rules out a sum (or a missing division by
    the world size), which is also identical on both ranks; the frozen BN,
    the non-``running_`` buffer and the integer ``num_batches_tracked`` keep
    each rank's own values; the count is 2 (running mean and variance)."""
    own = [_own_buffers(r) for r in range(2)]
    results = run_ranks(_average)
    for rank, (status, value) in enumerate(results):
        assert status == 'ok', value
        count, bufs = value
        assert count == 2
        for k in ('bn.running_mean', 'bn.running_var'):
            mean = (own[0][k] + own[1][k]) / 2
            assert not torch.allclose(own[0][k], own[1][k])
            torch.testing.assert_close(bufs[k], mean)
        for k in ('frozen.running_mean', 'frozen.running_var',
                  'scale', 'bn.num_batches_tracked'):
            torch.testing.assert_close(bufs[k], own[rank][k])
    # without a process group, or with one of a single rank, nothing is
    # averaged; unwrap of an unwrapped module is the module
    net = Net().train()
    assert average_buffers(net) == 0 and unwrap(net) is net
    assert run_ranks(_average, world_size=1)[0][1][0] == 0


def _wrapper_step(rank, sync_buffers):
    torch.manual_seed(0)
    model = UDADistributedDataParallel(
        Net().train(), **({} if sync_buffers else dict(sync_buffers=False)))
    ddp = model.module.bn
    assert not ddp.broadcast_buffers and not ddp.find_unused_parameters
    model.train_step(_rank_data(rank), None)
    return _buffers(model.module)


def test_wrapper_averages_buffers_after_each_step_only_when_asked():
    """``UDADistributedDataParallel.train_step``: with ``sync_buffers`` the
    BN statistics are the mean of the ranks' own (computed here), without it
    each rank keeps its own (the default is to average). DDP's own buffer
    broadcast and unused-parameter search are off by default. Rules out the
    flag ignored either way and those defaults flipped."""
    own = [_own_buffers(r) for r in range(2)]
    k = 'bn.running_mean'
    for sync in (True, False):
        for rank, (status, bufs) in enumerate(run_ranks(_wrapper_step,
                                                        sync)):
            assert status == 'ok', bufs
            expected = (own[0][k] + own[1][k]) / 2 if sync else own[rank][k]
            torch.testing.assert_close(bufs[k], expected)


def _two_backwards(rank, first_synced):
    torch.manual_seed(0)
    lin = nn.Linear(3, 2)
    ddp = DistributedDataParallel(lin)
    calls = []

    def counting_hook(state, bucket):
        calls.append(1)
        fut = torch.futures.Future()
        tensor = bucket.buffer()
        torch.distributed.all_reduce(tensor)
        fut.set_result(tensor / 2)
        return fut

    ddp.register_comm_hook(None, counting_hook)
    data = _rank_data(rank)
    with grad_sync(ddp, enabled=first_synced):
        ddp(data[:2]).pow(2).sum().backward()
    with grad_sync(ddp, enabled=True):
        ddp(data[2:]).sum().backward()
    return len(calls), lin.weight.grad.clone()


def _own_grad(rank):
    torch.manual_seed(0)
    lin = nn.Linear(3, 2)
    data = _rank_data(rank)
    lin(data[:2]).pow(2).sum().backward()
    lin(data[2:]).sum().backward()
    return lin.weight.grad


def test_grad_sync_reduces_once_the_sum_of_both_backwards():
    """Two backward passes per step, the first inside
    ``grad_sync(enabled=False)``: one all-reduce (counted by a DDP comm
    hook), and each rank's gradient is the mean over the ranks of its own
    two gradients (computed here without DDP). Rules out ``enabled``
    inverted or ignored (two all-reduces) and the first backward's
    gradient lost."""
    expected = (_own_grad(0) + _own_grad(1)) / 2
    for first_synced, reduces in ((False, 1), (True, 2)):
        for status, (calls, grad) in run_ranks(_two_backwards, first_synced):
            assert status == 'ok'
            assert calls == reduces
            torch.testing.assert_close(grad, expected)


def test_a_uda_step_of_several_backwards_counts_once():
    """Gradient accumulation of 4 over a run of 5 steps, each of 2 backward
    passes (``step_backward``, then ``finish_step``): the optimizer steps
    after the 4th step (gradients scaled by 1/4) and after the 5th, the
    last of the run (its remainder of 1: scaled by 1). Rules out each
    backward counted, the count moved the wrong way or by 2 (a count of
    -4 is a multiple of 4 too, but never the run's last, 5) and the loss
    not scaled."""
    torch.manual_seed(0)
    lin = nn.Linear(3, 1, bias=False)
    w0 = lin.weight.detach().clone()
    wrapper = OptimWrapper(torch.optim.SGD(lin.parameters(), lr=1.0),
                           accumulative_counts=4)
    wrapper.initialize_count_status(lin, 0, 5)
    xs = [torch.full((1, 3), float(i + 1)) for i in range(10)]
    applied = []
    for step in range(5):
        for x in xs[2 * step:2 * step + 2]:
            step_backward(wrapper, lin(x).sum())
        applied.append(finish_step(wrapper))
        if step < 3:
            torch.testing.assert_close(lin.weight.detach(), w0)
    assert applied == [False, False, False, True, True]
    # d(w.x)/dw = x; the first 8 losses scaled by 1/4, the last 2 by 1
    grad = sum(xs[:8]) / 4 + sum(xs[8:])
    torch.testing.assert_close(lin.weight.detach(), w0 - grad)
    assert lin.weight.grad is None or not lin.weight.grad.any()
