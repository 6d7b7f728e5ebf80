"""Debug images of a UDA training step through mmengine's visualizer."""
from typing import Dict, Optional

import numpy as np
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS
from torch import Tensor


def _to_uint8_image(img: Tensor, mean: Tensor, std: Tensor) -> np.ndarray:
    """``(3, H, W)`` normalised RGB -> ``(H, W, 3)`` uint8 RGB."""
    img = img.float().cpu() * std.cpu() + mean.cpu()
    return img.clamp(0, 255).byte().permute(1, 2, 0).numpy()


def _colorize(label: Tensor, palette: np.ndarray) -> np.ndarray:
    """``(1, H, W)`` label -> ``(H, W, 3)``; 255 (ignore) is black."""
    lbl = label[0].long().cpu().numpy()
    out = np.zeros(lbl.shape + (3, ), np.uint8)
    valid = (lbl >= 0) & (lbl < len(palette))
    out[valid] = palette[lbl[valid]]
    return out


def _gray(weight: Tensor) -> np.ndarray:
    """``(1, H, W)`` values in [0, 1] -> ``(H, W, 3)`` uint8."""
    w = (weight[0].float().clamp(0, 1) * 255).byte().cpu().numpy()
    return np.repeat(w[..., None], 3, axis=2)


@HOOKS.register_module()
class UDAVisualizationHook(Hook):
    """Every ``interval`` iterations, ask the UDA model to keep the tensors
    of its step (``record_debug``) and write them as one image grid per
    sample through ``runner.visualizer.add_image`` (so the local,
    TensorBoard and W&B backends all receive it).

    The model's ``debug_output`` maps names to batched tensors: names ending
    in ``_image`` are normalised images, in ``_label`` label maps, anything
    else with one channel (confidence weights, masks) is drawn in gray.

    Args:
        interval: iterations between two debug grids.
        max_samples: samples of the batch drawn per grid.
    """

    priority = 'NORMAL'

    def __init__(self, interval: int = 1000, max_samples: int = 2):
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        self.interval = interval
        self.max_samples = max_samples

    @staticmethod
    def _model(runner):
        return runner.model.module if is_model_wrapper(
            runner.model) else runner.model

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        model = self._model(runner)
        self._active = (hasattr(model, 'record_debug')
                        and self.every_n_train_iters(runner, self.interval))
        if self._active:
            self._was_recording = model.record_debug
            model.record_debug = True

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if not getattr(self, '_active', False):
            return
        self._active = False
        model = self._model(runner)
        model.record_debug = self._was_recording
        debug: Dict[str, Tensor] = getattr(model, 'debug_output', {})
        if not debug:
            return
        meta = getattr(runner.train_dataloader.dataset, 'metainfo', {}) or {}
        palette = np.array(meta.get('palette', []), np.uint8).reshape(-1, 3)
        if len(palette) == 0:
            palette = np.random.default_rng(0).integers(
                0, 255, (256, 3), dtype=np.uint8)
        preprocessor = model.data_preprocessor
        mean = preprocessor.mean.view(3, 1, 1)
        std = preprocessor.std.view(3, 1, 1)
        grids = render_debug_grid(debug, palette, mean, std,
                                  self.max_samples)
        for i, grid in enumerate(grids):
            runner.visualizer.add_image(
                f'uda_debug_{i}', grid, step=runner.iter + 1)


def render_debug_grid(debug: Dict[str, Tensor], palette: np.ndarray,
                      mean: Tensor, std: Tensor,
                      max_samples: int = 2) -> list:
    """One ``(H, W * n_panels, 3)`` uint8 strip per sample of ``debug``."""
    n = min(max_samples, min(len(v) for v in debug.values()))
    strips = []
    for i in range(n):
        panels = []
        for name, value in debug.items():
            item = value[i]
            if name.endswith('_image'):
                panels.append(_to_uint8_image(item, mean, std))
            elif name.endswith('_label'):
                panels.append(_colorize(item, palette))
            elif item.dim() == 3 and item.shape[0] == 1:
                panels.append(_gray(item))
        h = max(p.shape[0] for p in panels)
        panels = [np.pad(p, ((0, h - p.shape[0]), (0, 0), (0, 0)))
                  for p in panels]
        strips.append(np.concatenate(panels, axis=1))
    return strips


__all__ = ['UDAVisualizationHook', 'render_debug_grid']
