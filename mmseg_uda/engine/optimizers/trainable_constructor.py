"""mmengine's default optimizer constructor over the trainable modules only
(UDA models hold an EMA teacher and a frozen ImageNet backbone)."""
import inspect
from typing import List, Optional, Union

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS, OPTIMIZERS
from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS


def _frozen(module: nn.Module) -> bool:
    """True when ``module`` has parameters and none of them is trained."""
    flags = [p.requires_grad for p in module.parameters()]
    return bool(flags) and not any(flags)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class TrainableOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """``DefaultOptimWrapperConstructor`` (same arguments, same parameter
    groups for the trained parameters) that does not give the optimizer any
    module whose parameters are all frozen.

    Gap: mmengine's constructor visits every parameter and, with a
    ``paramwise_cfg``, logs one "is skipped since its requires_grad=False"
    warning per frozen parameter (218 lines for a DAFormer teacher), and
    without a ``paramwise_cfg`` it hands the frozen parameters to the
    optimizer. Here frozen modules (the EMA teacher, the ImageNet backbone
    of the feature distance, frozen backbone stages) are left out, with one
    log line naming them. Config::

        optim_wrapper = dict(constructor='TrainableOptimWrapperConstructor',
                             optimizer=..., paramwise_cfg=...)
    """

    def add_params(self,
                   params: List[dict],
                   module: nn.Module,
                   prefix: str = '',
                   is_dcn_module: Optional[Union[int, float]] = None) -> None:
        if _frozen(module):
            return
        super().add_params(params, module, prefix, is_dcn_module)

    def __call__(self, model: nn.Module) -> OptimWrapper:
        model = getattr(model, 'module', model)
        frozen = [name for name, child in model.named_children()
                  if _frozen(child)]
        if frozen:
            n = sum(p.numel() for name in frozen
                    for p in getattr(model, name).parameters())
            print_log(f'optimizer: frozen modules {frozen} ({n} parameters) '
                      'left out', logger='current')
        if self.paramwise_cfg:
            return super().__call__(model)
        # The no-paramwise branch of mmengine, with the trained parameters.
        optimizer_cfg = self.optimizer_cfg.copy()
        optimizer_cls = optimizer_cfg['type']
        if isinstance(optimizer_cls, str):
            with OPTIMIZERS.switch_scope_and_registry(None) as registry:
                optimizer_cls = registry.get(optimizer_cfg['type'])
        first_arg = next(iter(inspect.signature(optimizer_cls).parameters))
        optimizer_cfg[first_arg] = [
            p for p in model.parameters() if p.requires_grad
        ]
        optim_wrapper_cfg = self.optim_wrapper_cfg.copy()
        optim_wrapper_cfg.setdefault('type', 'OptimWrapper')
        return OPTIM_WRAPPERS.build(
            optim_wrapper_cfg,
            default_args=dict(optimizer=OPTIMIZERS.build(optimizer_cfg)))
