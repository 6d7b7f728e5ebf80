"""MergedGroupsOptimWrapperConstructor: what must arrive in the rebuilt
optimizer and wrapper (fused=False as well as True, the wrapper's own
options), and merge_param_groups' order and single-tensor groups."""
import torch
import torch.nn as nn
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from mmseg_uda.engine.optimizers.merged_groups_constructor import (
    merge_param_groups,
)


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.Linear(4, 2))


def _build(fused, **wrapper):
    init_default_scope('mmseg')
    return build_optim_wrapper(_net(), dict(
        type='OptimWrapper', constructor='MergedGroupsOptimWrapperConstructor',
        optimizer=dict(type='AdamW', lr=1e-2, weight_decay=0.01, fused=fused),
        paramwise_cfg=dict(norm_decay_mult=0.0), **wrapper))


def test_fused_false_is_passed_on_not_dropped():
    """``fused=False`` (not None: "never fused", also on CUDA) reaches the
    optimizer's defaults and every group. Rules out a truthiness test
    (``if fused:``) that treats False as "torch's default"."""
    optimizer = _build(False).optimizer
    assert optimizer.defaults['fused'] is False
    assert [g['fused'] for g in optimizer.param_groups] == [False, False]


def test_auto_on_cpu_is_torchs_default():
    """``fused='auto'`` with CPU parameters: torch's default (None), and
    the groups still merged (2: decayed, norms). Rules out 'auto' taken as
    True on CPU."""
    optimizer = _build('auto').optimizer
    assert optimizer.defaults['fused'] is None
    assert len(optimizer.param_groups) == 2


def test_the_wrappers_own_options_arrive():
    """The wrapper config's ``clip_grad`` and ``accumulative_counts`` reach
    the rebuilt wrapper. Rules out the wrapper rebuilt from its type
    alone."""
    wrapper = _build(True, clip_grad=dict(max_norm=0.5),
                     accumulative_counts=3)
    assert wrapper.clip_grad_kwargs == dict(max_norm=0.5)
    assert wrapper._accumulative_counts == 3
    assert all(g['foreach'] is None for g in wrapper.optimizer.param_groups)


def test_merge_keeps_first_appearance_order_and_single_tensors():
    """Groups A, B, A' (A' with A's options, one bare tensor): 2 groups, A
    first with A's and A''s parameters in order, then B. Rules out groups
    sorted by their options and a bare tensor iterated element-wise."""
    a, b, c, d = (torch.zeros(2, requires_grad=True) for _ in range(4))
    merged = merge_param_groups([
        dict(params=[a, b], lr=0.1), dict(params=[c], lr=0.01),
        dict(params=d, lr=0.1)])
    assert [g['lr'] for g in merged] == [0.1, 0.01]
    assert [[id(p) for p in g['params']] for g in merged] == [
        [id(a), id(b), id(d)], [id(c)]]


def test_one_group_with_fused_true_is_still_rebuilt_fused():
    """Without a paramwise config (one group) ``fused=True`` still reaches
    the optimizer, and a wrapper config without ``type`` gives mmengine's
    ``OptimWrapper``. Rules out the one-group shortcut taken whatever
    ``fused`` is."""
    init_default_scope('mmseg')
    wrapper = build_optim_wrapper(_net(), dict(
        constructor='MergedGroupsOptimWrapperConstructor',
        optimizer=dict(type='AdamW', lr=1e-2, fused=True)))
    assert type(wrapper).__name__ == 'OptimWrapper'
    assert wrapper.optimizer.defaults['fused'] is True
    assert len(wrapper.optimizer.param_groups) == 1
