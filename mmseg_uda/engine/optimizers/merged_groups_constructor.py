"""Optimizer constructor that keeps one parameter group per set of options
(not one per parameter), and picks the fused optimizer kernel on CUDA."""
from typing import List

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS
from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS

from .trainable_constructor import TrainableOptimWrapperConstructor


def merge_param_groups(groups: List[dict]) -> List[dict]:
    """Merge parameter groups whose options (every key but ``params``) are
    equal, keeping the order of first appearance.

    An optimizer's update is elementwise, so merging groups with the same
    options gives the same update; the foreach/fused kernels then run once
    per merged group instead of once per parameter.
    """
    merged = {}
    for group in groups:
        options = {k: v for k, v in group.items() if k != 'params'}
        key = repr(sorted(options.items()))
        if key not in merged:
            merged[key] = dict(options, params=[])
        params = group['params']
        merged[key]['params'].extend(
            [params] if isinstance(params, torch.Tensor) else params)
    return list(merged.values())


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class MergedGroupsOptimWrapperConstructor(TrainableOptimWrapperConstructor):
    """:class:`TrainableOptimWrapperConstructor` (frozen modules left out)
    with merged parameter groups and an automatic fused optimizer on CUDA.

    Gap: with a ``paramwise_cfg`` (DAFormer's head ``lr_mult``, no decay on
    norms), mmengine's constructor puts every parameter in its own group,
    ~1000 groups for MiT-B5 + DAFormer head. torch's foreach and fused
    AdamW launch their kernels once per group, so one optimizer step was
    thousands of kernel launches; here groups with equal options are merged
    (3 groups for DAFormer: backbone, backbone norms, head).

    ``optimizer.fused='auto'`` (the plugin's AdamW configs) becomes
    ``fused=True`` when every trained parameter is on a CUDA device (one
    kernel per group for the whole update, and no host sync under
    ``AmpOptimWrapper``'s loss scaler) and torch's default otherwise (CPU:
    the for-loop implementation, as before). ``True``/``False`` are passed
    on unchanged.

    Note: an optimizer state saved with one group per parameter (a
    checkpoint of the default constructor) does not load into merged
    groups; resume such a run with
    ``constructor='TrainableOptimWrapperConstructor'``.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg=None):
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        self.fused = self.optimizer_cfg.pop('fused', None)
        if self.fused not in (None, True, False, 'auto'):
            raise ValueError("optim_wrapper.optimizer.fused must be True, "
                             f"False, None or 'auto', got {self.fused!r}")

    def __call__(self, model: nn.Module) -> OptimWrapper:
        wrapper = super().__call__(model)
        optimizer = wrapper.optimizer
        fused = self.fused
        if fused == 'auto':
            trained = [p for group in optimizer.param_groups
                       for p in group['params'] if p.requires_grad]
            fused = True if trained and all(p.is_cuda
                                            for p in trained) else None
        if len(optimizer.param_groups) == 1 and fused is None:
            return wrapper
        groups = merge_param_groups(optimizer.param_groups)
        kwargs = {}
        if fused is not None:
            kwargs['fused'] = fused
            for group in groups:
                group['fused'] = fused
                if fused:
                    group['foreach'] = None
        optimizer = type(optimizer)(groups, **kwargs)
        wrapper_cfg = self.optim_wrapper_cfg.copy()
        wrapper_cfg.setdefault('type', 'OptimWrapper')
        return OPTIM_WRAPPERS.build(
            wrapper_cfg, default_args=dict(optimizer=optimizer))
