"""A small synthetic domain-shift dataset for tests and the quick-start.

Both domains draw street-like scenes from the same layout distribution
(sky, buildings, vegetation, road, sidewalk, poles and signs, cars, persons,
riders, ...; 19 Cityscapes classes with very different frequencies, so rare
class sampling matters), but render them differently:

- source ("GTA5"): saturated palette, fine pixel noise, bright and sharp;
  written in the GTA5 layout with original-style label-ID palette PNGs
  (Cityscapes label ids, some void ids too), so the GTA5 converter runs on
  it;
- target ("Cityscapes"): hue-rotated and desaturated palette, blotchy
  low-frequency texture, darker (gamma) bluish lighting, blurred; written in
  the Cityscapes layout with ``*_gtFine_labelTrainIds.png``.

Everything is a pure function of the seed. Typical use::

    from mmseg_uda.datasets.synthetic import generate_synthetic_uda
    roots = generate_synthetic_uda('data/synthetic_uda', seed=0)
    # roots == dict(gta=..., cityscapes=...), GTA converted + RCS stats
"""
import os
import os.path as osp
from typing import Dict, Tuple

import cv2
import numpy as np
from PIL import Image

from ..utils.io import atomic_write_json
from .dataset_files import (
    BAD_SAMPLES_FILE,
    IGNORE_INDEX,
    NUM_CLASSES,
    cityscapes_id_to_train_id,
    class_pixel_counts,
    convert_ids,
    write_class_stats,
)

# Source palette (RGB), one colour per trainId.
_SOURCE_PALETTE = np.array(
    [[128, 64, 128], [244, 35, 232], [70, 70, 70], [102, 102, 156],
     [190, 153, 153], [153, 153, 153], [250, 170, 30], [220, 220, 0],
     [107, 142, 35], [152, 251, 152], [70, 130, 180], [220, 20, 60],
     [255, 0, 0], [0, 0, 142], [0, 0, 70], [0, 60, 100], [0, 80, 100],
     [0, 0, 230], [119, 11, 32]],
    dtype=np.float32)
_VOID_COLOUR = np.array([20, 20, 20], dtype=np.float32)

# Void Cityscapes label ids sprinkled into the source labels (-> 255).
_EGO_VEHICLE_ID = 1
_GROUND_ID = 6

CITIES = ('synthville', 'pixelburg')


def _target_palette() -> np.ndarray:
    """Hue-rotated, desaturated version of the source palette."""
    hsv = cv2.cvtColor(
        _SOURCE_PALETTE.astype(np.uint8)[None], cv2.COLOR_RGB2HSV).astype(
            np.float32)
    hsv[..., 0] = (hsv[..., 0] + 25) % 180  # about 50 degrees
    hsv[..., 1] *= 0.6
    hsv[..., 2] = 60 + 0.7 * hsv[..., 2]
    rgb = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0]
    return rgb.astype(np.float32)


def _rect(lbl, x0, y0, x1, y1, c):
    h, w = lbl.shape
    x0, x1 = max(0, int(x0)), min(w, int(x1))
    y0, y1 = max(0, int(y0)), min(h, int(y1))
    if x1 > x0 and y1 > y0:
        lbl[y0:y1, x0:x1] = c


def sample_layout(rng: np.random.Generator, width: int,
                  height: int) -> np.ndarray:
    """A street-like trainId map (uint8 HxW, 255 = void)."""
    w, h = width, height
    lbl = np.full((h, w), 10, dtype=np.uint8)  # sky
    horizon = int(h * rng.uniform(0.35, 0.5))
    road_top = horizon + int(h * rng.uniform(0.05, 0.12))
    lbl[horizon:, :] = 2  # building band
    for _ in range(rng.integers(2, 6)):  # buildings rising into the sky
        x0 = rng.uniform(-0.1, 0.9) * w
        _rect(lbl, x0, horizon - rng.uniform(0.05, 0.3) * h,
              x0 + rng.uniform(0.1, 0.35) * w, road_top, 2)
    for _ in range(rng.integers(1, 4)):  # trees
        cx, cy = int(rng.uniform(0, w)), int(horizon - rng.uniform(0, .1) * h)
        axes = (int(rng.uniform(.05, .15) * w), int(rng.uniform(.06, .14) * h))
        cv2.ellipse(lbl, (cx, cy), axes, 0, 0, 360, 8, -1)
    if rng.random() < 0.5:  # wall
        x0 = rng.uniform(0, 0.6) * w
        _rect(lbl, x0, road_top - 0.06 * h, x0 + rng.uniform(.15, .4) * w,
              road_top, 3)
    if rng.random() < 0.5:  # fence
        x0 = rng.uniform(0, 0.6) * w
        _rect(lbl, x0, road_top - 0.05 * h, x0 + rng.uniform(.1, .3) * w,
              road_top, 4)
    # ground: sidewalk, road trapezoid, terrain patches
    lbl[road_top:, :] = 1
    top_half = rng.uniform(0.1, 0.25) * w
    centre = w / 2 + rng.uniform(-0.1, 0.1) * w
    road = np.array([[centre - top_half, road_top], [centre + top_half,
                                                     road_top],
                     [w * 1.2, h], [-w * 0.2, h]], dtype=np.int32)
    cv2.fillPoly(lbl, [road], 0)
    if rng.random() < 0.4:
        side = rng.integers(2)
        x0 = 0 if side == 0 else w * 0.85
        _rect(lbl, x0, road_top, x0 + 0.15 * w, road_top + 0.15 * h, 9)
    # poles with signs and lights
    for _ in range(rng.integers(1, 4)):
        x = int(rng.uniform(0.02, 0.98) * w)
        top = horizon - rng.uniform(0.05, 0.25) * h
        pw = max(2, int(0.01 * w))
        _rect(lbl, x, top, x + pw, road_top + 0.05 * h, 5)
        r = rng.random()
        if r < 0.5:
            _rect(lbl, x - 3 * pw, top, x + 4 * pw, top + 0.06 * h, 7)
        elif r < 0.8:
            _rect(lbl, x - pw, top, x + 2 * pw, top + 0.08 * h, 6)

    def vehicle(c, wf, hf):
        cw, ch = wf * w * rng.uniform(0.8, 1.2), hf * h * rng.uniform(.8, 1.2)
        x0 = rng.uniform(0.1, 0.9) * w - cw / 2
        y1 = rng.uniform(road_top + 0.15 * h, h)
        _rect(lbl, x0, y1 - ch, x0 + cw, y1, c)

    for _ in range(rng.integers(0, 4)):
        vehicle(13, 0.14, 0.12)  # car
    for c, p, wf, hf in ((15, 0.15, 0.3, 0.25), (14, 0.15, 0.25, 0.2),
                         (16, 0.08, 0.45, 0.22)):  # bus, truck, train
        if rng.random() < p:
            vehicle(c, wf, hf)
    # people on the sidewalk, riders on two-wheelers
    for _ in range(rng.integers(0, 3)):
        x = rng.uniform(0.02, 0.95) * w
        y1 = rng.uniform(road_top + 0.1 * h, h)
        pw, ph = 0.025 * w, 0.16 * h
        _rect(lbl, x, y1 - ph, x + pw, y1, 11)
        cv2.circle(lbl, (int(x + pw / 2), int(y1 - ph)), max(1, int(pw / 2)),
                   11, -1)
    if rng.random() < 0.3:
        x = rng.uniform(0.1, 0.85) * w
        y1 = rng.uniform(road_top + 0.2 * h, h)
        bw, bh = 0.07 * w, 0.07 * h
        _rect(lbl, x, y1 - bh, x + bw, y1, 18 if rng.random() < .5 else 17)
        _rect(lbl, x + bw * 0.3, y1 - bh - 0.12 * h, x + bw * 0.7,
              y1 - bh * 0.5, 12)
    return lbl


def render(lbl: np.ndarray, rng: np.random.Generator,
           domain: str) -> np.ndarray:
    """Render a trainId map as a BGR uint8 image in ``domain`` style."""
    h, w = lbl.shape
    if domain == 'source':
        palette = _SOURCE_PALETTE
    elif domain == 'target':
        palette = _target_palette()
    else:
        raise ValueError(f'unknown domain {domain!r}')
    table = np.concatenate(
        [palette, np.repeat(_VOID_COLOUR[None], 256 - NUM_CLASSES, 0)])
    img = table[lbl]  # RGB float
    jitter = rng.uniform(-15, 15, size=(NUM_CLASSES + 1, 3))
    img += jitter[np.minimum(lbl, NUM_CLASSES)]  # per-image class shade
    if domain == 'source':
        img *= rng.uniform(0.9, 1.1)
        img += rng.normal(0, 10, size=img.shape)
    else:
        coarse = rng.normal(0, 25, size=(max(2, h // 16), max(2, w // 16),
                                         1)).astype(np.float32)
        img += cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)[
            ..., None]
        img += rng.normal(0, 4, size=img.shape)
        shade = np.linspace(0.8, 1.0, h, dtype=np.float32)[:, None, None]
        img = 255 * (np.clip(img * shade, 0, 255) / 255)**1.4
        img *= np.array([0.85, 0.9, 1.1], dtype=np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    if domain == 'target':
        img = cv2.GaussianBlur(img, (5, 5), 1.2)
    return cv2.cvtColor(img, cv2.COLOR_RGB2BGR)


def _train_id_to_label_id() -> np.ndarray:
    lut = np.zeros(256, dtype=np.uint8)  # 255 -> id 0 "unlabeled"
    for lid, tid in sorted(cityscapes_id_to_train_id().items(),
                           reverse=True):
        lut[tid] = lid
    return lut


def _cityscapes_id_palette():
    from cityscapesscripts.helpers.labels import labels
    pal = np.zeros((256, 3), dtype=np.uint8)
    for lab in labels:
        if 0 <= lab.id < 256:
            pal[lab.id] = lab.color
    return pal.ravel().tolist()


def _write_png(path: str, array: np.ndarray) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    if not cv2.imwrite(path, array):
        raise OSError(f'cannot write {path}')


def to_gta_label_ids(train_ids: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """TrainId map -> Cityscapes label ids like the real GTA5 labels, with
    some void ids (ego vehicle at the bottom, a ground patch)."""
    ids = _train_id_to_label_id()[train_ids]
    h, w = ids.shape
    if rng.random() < 0.5:
        ids[h - max(1, h // 30):, :] = _EGO_VEHICLE_ID
    if rng.random() < 0.5:
        y0, x0 = int(h * rng.uniform(0.7, 0.9)), int(w * rng.uniform(0, .8))
        ids[y0:y0 + h // 20, x0:x0 + w // 10] = _GROUND_ID
    return ids


def generate_synthetic_uda(out_dir: str,
                           num_source: int = 24,
                           num_target_train: int = 16,
                           num_target_val: int = 8,
                           source_size: Tuple[int, int] = (320, 180),
                           target_size: Tuple[int, int] = (256, 128),
                           seed: int = 0,
                           convert: bool = True) -> Dict[str, str]:
    """Write the synthetic source (GTA5 layout) and target (Cityscapes
    layout) under ``out_dir``; sizes are (W, H). With ``convert`` the source
    also gets what ``tools/dataset_converters/gta.py`` would write (trainId
    labels, RCS statistics, an empty bad-sample report; every generated
    sample is good); without it, tests run that converter themselves.

    Returns ``dict(gta=<source root>, cityscapes=<target root>)``.
    """
    gta = osp.join(out_dir, 'gta')
    cs = osp.join(out_dir, 'cityscapes')
    pal = _cityscapes_id_palette()
    id_to_train_id = cityscapes_id_to_train_id()
    records = []
    for i in range(num_source):
        rng = np.random.default_rng([seed, 0, i])
        lbl = sample_layout(rng, *source_size)
        _write_png(osp.join(gta, 'images', f'{i:05d}.png'),
                   render(lbl, rng, 'source'))
        ids = Image.fromarray(to_gta_label_ids(lbl, rng))
        ids.putpalette(pal)
        path = osp.join(gta, 'labels', f'{i:05d}.png')
        os.makedirs(osp.dirname(path), exist_ok=True)
        ids.save(path)
        if convert:
            train_ids = convert_ids(np.array(ids), id_to_train_id)
            name = f'labels/{i:05d}_labelTrainIds.png'
            _write_png(osp.join(gta, name), train_ids)
            records.append(
                dict(file=name, stats=class_pixel_counts(train_ids),
                     reason=None))
    for split, num, stream in (('train', num_target_train, 1),
                               ('val', num_target_val, 2)):
        for i in range(num):
            rng = np.random.default_rng([seed, stream, i])
            lbl = sample_layout(rng, *target_size)
            city = CITIES[i % len(CITIES)]
            stem = f'{city}_{i:06d}_000019'
            _write_png(
                osp.join(cs, 'leftImg8bit', split, city,
                         stem + '_leftImg8bit.png'), render(lbl, rng,
                                                            'target'))
            _write_png(
                osp.join(cs, 'gtFine', split, city,
                         stem + '_gtFine_labelTrainIds.png'), lbl)
    if convert:
        write_class_stats(gta, records)
        atomic_write_json(osp.join(gta, BAD_SAMPLES_FILE), [])
    return {'gta': gta, 'cityscapes': cs}


def use_synthetic_roots(cfg, roots: Dict[str, str]) -> None:
    """Point ``cfg``'s training dataset (a ``UDADataset``'s source and
    target, or a plain source dataset) and its val/test datasets at the
    ``roots`` returned by :func:`generate_synthetic_uda`, in place."""
    dataset = cfg.train_dataloader.dataset
    if dataset.type == 'UDADataset':
        dataset.source.data_root = roots['gta']
        dataset.target.data_root = roots['cityscapes']
    else:
        dataset.data_root = roots['gta']
    for key in ('val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = roots['cityscapes']


def synthetic_root_options(roots: Dict[str, str], uda: bool) -> list:
    """The ``--cfg-options`` of ``tools/train.py`` / ``tools/test.py``
    (``key=value`` strings) that do what :func:`use_synthetic_roots` does,
    for a config whose training set is a ``UDADataset`` (``uda``) or a
    plain source dataset."""
    opts = [f'val_dataloader.dataset.data_root={roots["cityscapes"]}',
            f'test_dataloader.dataset.data_root={roots["cityscapes"]}']
    if uda:
        opts += [
            f'train_dataloader.dataset.source.data_root={roots["gta"]}',
            f'train_dataloader.dataset.target.data_root={roots["cityscapes"]}'
        ]
    else:
        opts.append(f'train_dataloader.dataset.data_root={roots["gta"]}')
    return opts


__all__ = [
    'IGNORE_INDEX', 'generate_synthetic_uda', 'render', 'sample_layout',
    'synthetic_root_options', 'to_gta_label_ids', 'use_synthetic_roots'
]
