"""TF32 matrix multiplications on CUDA for a run, declared in the config."""
import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

_PRECISIONS = ('highest', 'high', 'medium')


@HOOKS.register_module()
class MatmulPrecisionHook(Hook):
    """``torch.set_float32_matmul_precision(precision)`` for the run, on
    machines with a CUDA device (restored after the run).

    Gap: mmengine's ``env_cfg`` sets cuDNN benchmarking but not the float32
    matmul precision, and torch keeps full-fp32 matmuls by default. MiT is
    mostly ``Linear`` layers: ``'high'`` runs them on the TF32 tensor cores
    of Ampere and newer GPUs (10-bit mantissa products, fp32 accumulation),
    as cuDNN already does for convolutions by default. On the CPU the hook
    changes nothing (CPU numerics stay exact).

    Args:
        precision: ``'high'`` (TF32), ``'highest'`` (full fp32) or
            ``'medium'`` (bf16 products where supported).
    """

    priority = 'VERY_HIGH'

    def __init__(self, precision: str = 'high'):
        if precision not in _PRECISIONS:
            raise ValueError(f'MatmulPrecisionHook: precision must be one of '
                             f'{_PRECISIONS}, got {precision!r}')
        self.precision = precision
        self._previous = None

    def before_run(self, runner) -> None:
        if not torch.cuda.is_available():
            return
        self._previous = torch.get_float32_matmul_precision()
        torch.set_float32_matmul_precision(self.precision)

    def after_run(self, runner) -> None:
        if self._previous is not None:
            torch.set_float32_matmul_precision(self._previous)
            self._previous = None
