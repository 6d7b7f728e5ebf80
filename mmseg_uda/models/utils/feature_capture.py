"""Capture a module's input and output during a forward pass."""
from typing import Any, List, Tuple

import torch.nn as nn


class FirstCallCapture:
    """Context manager recording ``(input, output)`` of the first call of
    ``module`` inside the context, via a forward hook (works through DDP
    wrappers and for any segmentor that calls ``module``).

    Example:
        >>> with FirstCallCapture(segmentor.backbone) as cap:
        ...     losses = segmentor(inputs, samples, mode='loss')
        >>> image, feats = cap.input, cap.output
    """

    def __init__(self, module: nn.Module):
        self.module = module
        self.calls: List[Tuple[Any, Any]] = []
        self._handle = None

    def _hook(self, module, args, output):
        if not self.calls:
            self.calls.append((args[0], output))

    def __enter__(self) -> 'FirstCallCapture':
        self.calls.clear()
        self._handle = self.module.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc) -> None:
        self._handle.remove()
        self._handle = None

    @property
    def input(self):
        self._check()
        return self.calls[0][0]

    @property
    def output(self):
        self._check()
        return self.calls[0][1]

    def _check(self):
        if not self.calls:
            raise RuntimeError(f'{type(self.module).__name__} was not called '
                               'inside the capture context')
