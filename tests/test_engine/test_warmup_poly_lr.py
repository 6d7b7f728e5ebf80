"""WarmupPolyLR against the reference formula (mmcv 1.x poly with linear
warmup, as DAFormer's configs/_base_/schedules/poly10warm.py uses it)."""
import pytest
import torch
from mmengine.optim.scheduler import LinearLR, PolyLR

import mmseg_uda  # noqa: F401
from mmseg_uda.engine.schedulers import WarmupPolyLR

BASE = 6e-5


def reference_lr(t, base=BASE, max_iters=40000, warmup=1500, ratio=1e-6):
    """mmcv 1.x poly policy with linear warmup, written out by hand."""
    regular = base * (1 - t / max_iters)**1.0
    if t < warmup:
        return regular * (1 - (1 - t / warmup) * (1 - ratio))
    return regular


def lrs_over(schedulers_fn, iters):
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=BASE)
    schedulers = schedulers_fn(opt)
    out = []
    for _ in range(iters):
        out.append(opt.param_groups[0]['lr'])
        opt.step()
        for s in schedulers:
            s.step()
    return out


@pytest.fixture(scope='module')
def ours():
    return lrs_over(
        lambda opt: [WarmupPolyLR(opt, max_iters=40000, warmup_iters=1500,
                                  warmup_ratio=1e-6, power=1.0)], 40000)


@pytest.mark.parametrize('t', [0, 750, 1500, 20000, 39999])
def test_matches_reference_formula(ours, t):
    assert ours[t] == pytest.approx(reference_lr(t), rel=1e-12, abs=0)


def test_hand_values(ours):
    # t=0: 6e-5 * 1e-6; t=750: 6e-5 * (1 - 750/40000) * (0.5 + 0.5e-6)
    assert ours[0] == pytest.approx(6e-11, rel=1e-12)
    assert ours[750] == pytest.approx(6e-5 * 0.98125 * 0.5000005, rel=1e-12)
    assert ours[1500] == pytest.approx(6e-5 * 0.9625, rel=1e-12)
    assert ours[20000] == pytest.approx(3e-5, rel=1e-12)
    assert ours[39999] == pytest.approx(6e-5 / 40000, rel=1e-9)


def test_equals_composed_builtin_schedulers(ours):
    """The reference schedule equals LinearLR(1e-6, end=1501) +
    PolyLR(end=40001) composed (and LinearLR(end=1500) + PolyLR(begin=1500)
    does not)."""
    composed = lrs_over(
        lambda opt: [
            LinearLR(opt, start_factor=1e-6, by_epoch=False, begin=0,
                     end=1501),
            PolyLR(opt, power=1.0, eta_min=0, by_epoch=False, begin=0,
                   end=40001)
        ], 40000)
    for t in (1, 10, 750, 1499, 1500, 1501, 20000, 39999):
        assert ours[t] == pytest.approx(composed[t], rel=1e-9)


def test_bad_values():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match='warmup_ratio'):
        WarmupPolyLR(opt, max_iters=10, warmup_ratio=0.0)
    with pytest.raises(ValueError, match='by_epoch'):
        WarmupPolyLR(opt, max_iters=10, by_epoch=True)
