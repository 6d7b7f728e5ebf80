"""Test-only hook: every rank writes its model state after training, so a
test can compare ranks (imported by configs through custom_imports)."""
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS

from mmseg_uda.models.utils import unwrap


@HOOKS.register_module()
class RankStateDumpHook(Hook):

    def after_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        state = {}
        for name, child in model.named_children():
            for k, v in unwrap(child).state_dict().items():
                state[f'{name}.{k}'] = v.detach().cpu()
        torch.save(state, osp.join(runner.work_dir,
                                   f'rank{get_rank()}_state.pth'))
