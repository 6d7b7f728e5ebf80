"""Drawing helpers shared by the quick-start demo and the analysis tools:
colourised label maps, heat maps and labelled image grids (numpy + OpenCV,
so the geometry of a grid is exact and testable)."""
from typing import List, Optional, Sequence

import cv2
import numpy as np
from mmseg.datasets import CityscapesDataset

CITYSCAPES_CLASSES = tuple(CityscapesDataset.METAINFO['classes'])
CITYSCAPES_PALETTE = np.array(
    CityscapesDataset.METAINFO['palette'], dtype=np.uint8)

WHITE = (255, 255, 255)
GAP = 4  # pixels between panels
HEADER = 22  # pixels of the column titles
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def colorize(label: np.ndarray,
             palette: np.ndarray = CITYSCAPES_PALETTE) -> np.ndarray:
    """``(H, W)`` integer label map -> ``(H, W, 3)`` uint8 RGB; values
    outside the palette (255 = ignore) are black."""
    label = np.asarray(label).astype(np.int64)
    out = np.zeros(label.shape + (3, ), np.uint8)
    valid = (label >= 0) & (label < len(palette))
    out[valid] = palette[label[valid]]
    return out


def heatmap(values: np.ndarray, vmin: float = 0.0,
            vmax: float = 1.0) -> np.ndarray:
    """``(H, W)`` floats -> ``(H, W, 3)`` uint8 RGB (viridis-like OpenCV
    colour map; ``vmin`` dark, ``vmax`` bright)."""
    v = (np.asarray(values, np.float32) - vmin) / max(vmax - vmin, 1e-12)
    v = (np.clip(np.nan_to_num(v), 0, 1) * 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(v, cv2.COLORMAP_VIRIDIS),
                        cv2.COLOR_BGR2RGB)


def _text(img: np.ndarray, text: str, org, scale: float = 0.45,
          color=(0, 0, 0)) -> None:
    cv2.putText(img, text, org, _FONT, scale, color, 1, cv2.LINE_AA)


def grid_geometry(rows: int, cols: int, panel_h: int,
                  panel_w: int) -> tuple:
    """``(height, width)`` of :func:`compose_grid`'s image part (without
    the legend): a title row plus ``rows`` x ``cols`` panels separated by
    :data:`GAP` white pixels."""
    return (HEADER + rows * panel_h + (rows - 1) * GAP,
            cols * panel_w + (cols - 1) * GAP)


def compose_grid(panels: Sequence[Sequence[np.ndarray]],
                 titles: Sequence[str],
                 legend: Optional[Sequence[int]] = None,
                 classes: Sequence[str] = CITYSCAPES_CLASSES,
                 palette: np.ndarray = CITYSCAPES_PALETTE) -> np.ndarray:
    """An RGB grid: one row per entry of ``panels`` (each a list of
    ``len(titles)`` RGB images, resized to the first panel's size), the
    column titles on top and, with ``legend`` (class indices), a colour
    legend below."""
    rows, cols = len(panels), len(titles)
    if rows == 0:
        raise ValueError('no panels to draw')
    ph, pw = panels[0][0].shape[:2]
    h, w = grid_geometry(rows, cols, ph, pw)
    out = np.full((h, w, 3), 255, np.uint8)
    for c, title in enumerate(titles):
        _text(out, title, (c * (pw + GAP) + 4, HEADER - 7))
    for r, row in enumerate(panels):
        if len(row) != cols:
            raise ValueError(f'row {r} has {len(row)} panels, expected '
                             f'{cols}')
        y = HEADER + r * (ph + GAP)
        for c, panel in enumerate(row):
            if panel.shape[:2] != (ph, pw):
                panel = cv2.resize(panel, (pw, ph),
                                   interpolation=cv2.INTER_NEAREST)
            x = c * (pw + GAP)
            out[y:y + ph, x:x + pw] = panel
    if legend:
        out = np.concatenate([out, legend_strip(legend, w, classes,
                                                palette)])
    return out


def legend_strip(indices: Sequence[int], width: int,
                 classes: Sequence[str] = CITYSCAPES_CLASSES,
                 palette: np.ndarray = CITYSCAPES_PALETTE) -> np.ndarray:
    """White strip of ``width`` px with a colour swatch and the name of each
    class in ``indices``."""
    entry_w, entry_h = 110, 18
    per_row = max(1, width // entry_w)
    indices = list(indices)
    n_rows = (len(indices) + per_row - 1) // per_row
    strip = np.full((GAP + n_rows * entry_h + GAP, width, 3), 255, np.uint8)
    for i, c in enumerate(indices):
        x = (i % per_row) * entry_w + 2
        y = GAP + (i // per_row) * entry_h
        strip[y + 3:y + 15, x:x + 12] = palette[c]
        _text(strip, str(classes[c]), (x + 16, y + 13), scale=0.4)
    return strip


def label_classes(*labels: np.ndarray, num_classes: int = 19) -> List[int]:
    """Sorted class indices that occur in any of ``labels``."""
    present = set()
    for lbl in labels:
        present.update(int(v) for v in np.unique(lbl) if v < num_classes)
    return sorted(present)


def save_rgb(path: str, rgb: np.ndarray) -> None:
    """Write an RGB uint8 image (PNG by extension)."""
    if not cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f'cannot write {path}')
