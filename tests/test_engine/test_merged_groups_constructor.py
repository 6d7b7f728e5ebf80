"""MergedGroupsOptimWrapperConstructor: one parameter group per set of
options, the same updates as the one-group-per-parameter constructor,
frozen modules left out, and fused='auto' resolved by device."""
import copy

import pytest
import torch
import torch.nn as nn
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import mmseg_uda  # noqa: F401


class Net(nn.Module):

    def __init__(self):
        super().__init__()
        self.backbone = nn.ModuleDict(
            dict(fc=nn.Linear(4, 4), norm=nn.LayerNorm(4)))
        self.head = nn.Linear(4, 2)
        self.teacher = nn.Linear(4, 2).requires_grad_(False)

    def forward(self, x):
        return self.head(self.backbone.norm(self.backbone.fc(x)))


def cfg(constructor, fused='auto'):
    return dict(
        type='OptimWrapper', constructor=constructor,
        optimizer=dict(type='AdamW', lr=1e-2, weight_decay=0.01,
                       fused=fused),
        paramwise_cfg=dict(custom_keys=dict(
            head=dict(lr_mult=10.0), norm=dict(decay_mult=0.0))))


def test_groups_merged_and_updates_equal():
    # Rules out: merging groups with different options (the head's lr x10
    # or the norms' zero decay lost), dropping parameters, or a different
    # update than mmengine's per-parameter groups.
    init_default_scope('mmseg')
    torch.manual_seed(0)
    net = Net()
    ref = copy.deepcopy(net)
    default_cfg = cfg('TrainableOptimWrapperConstructor')
    default_cfg['optimizer'].pop('fused')
    ow_ref = build_optim_wrapper(ref, default_cfg)
    ow = build_optim_wrapper(net, cfg('MergedGroupsOptimWrapperConstructor'))
    assert len(ow_ref.optimizer.param_groups) == 6
    groups = ow.optimizer.param_groups
    assert len(groups) == 3  # backbone, backbone norm, head
    assert sorted((g['lr'], g['weight_decay'], len(g['params']))
                  for g in groups) == [(1e-2, 0.0, 2), (1e-2, 0.01, 2),
                                       (0.1, 0.01, 2)]
    assert not groups[0].get('fused')  # 'auto' on CPU: torch's default
    assert not any(p is net.teacher.weight for g in groups
                   for p in g['params'])
    x = torch.randn(8, 4)
    for _ in range(3):
        for model, wrapper in ((net, ow), (ref, ow_ref)):
            loss = model(x).square().mean()
            wrapper.update_params(loss)
    for (name, p), q in zip(net.named_parameters(), ref.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0, msg=name)


def test_fused_passed_on_and_bad_value():
    # Rules out: fused=True dropped when the groups are rebuilt (the
    # optimizer would silently run the per-group foreach kernels), or a
    # typo such as fused='yes' accepted.
    init_default_scope('mmseg')
    ow = build_optim_wrapper(
        Net(), cfg('MergedGroupsOptimWrapperConstructor', fused=True))
    assert all(g['fused'] for g in ow.optimizer.param_groups)
    assert ow.optimizer.defaults['fused']
    with pytest.raises(ValueError, match='fused'):
        build_optim_wrapper(
            Net(), cfg('MergedGroupsOptimWrapperConstructor', fused='yes'))
