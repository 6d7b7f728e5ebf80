"""IoU per ACDC condition and overall from one run, on generated val data in
the ACDC download's layout (``rgb_anon/<condition>/val``, ``gt/<condition>/
val``), uneven numbers of images per condition."""
# ruff: noqa: I001  (mmseg_uda first: it installs the mmcv-lite shim)
import mmseg_uda  # noqa: F401
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmseg.registry import DATASETS, METRICS

CLASSES = tuple(f'c{i}' for i in range(19))
#: images per condition: uneven, so a mean of the four condition mIoUs is
#: not the overall mIoU
PER_CONDITION = dict(fog=1, night=3, rain=2, snow=1)


def acdc_val_tree(root):
    import cv2
    rng = np.random.default_rng(1)
    for condition, n in PER_CONDITION.items():
        seq = f'GOPR0{len(condition)}{n}'
        for i in range(n):
            stem = f'{seq}_frame_{i:06d}'
            h, w = 12 + 2 * i, 20 + 4 * i
            img = osp.join(root, 'rgb_anon', condition, 'val', seq,
                           f'{stem}_rgb_anon.png')
            gt = osp.join(root, 'gt', condition, 'val', seq,
                          f'{stem}_gt_labelTrainIds.png')
            for p in (img, gt):
                os.makedirs(osp.dirname(p), exist_ok=True)
            cv2.imwrite(img, rng.integers(0, 256, (h, w, 3), np.uint8))
            # few classes per condition, some ignored pixels
            label = rng.integers(0, 4 + len(condition), (h, w)).astype(
                np.uint8)
            label[0, :3] = 255
            cv2.imwrite(gt, label)


def predicted_samples(root):
    ds = DATASETS.build(dict(
        type='ACDCDataset', data_root=root, split='val',
        data_prefix=dict(img_path='rgb_anon', seg_map_path='gt'),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadAnnotations'),
                  dict(type='PackSegInputs')]))
    g = torch.Generator().manual_seed(0)
    samples = []
    for i in range(len(ds)):
        item = ds[i]['data_samples']
        gt = item.gt_sem_seg.data
        noise = torch.randint(0, 8, gt.shape, generator=g)
        keep = torch.rand(gt.shape, generator=g) < 0.6
        pred = torch.where(keep & (gt != 255), gt, noise)
        samples.append(dict(img_path=item.img_path,
                            gt_sem_seg=dict(data=gt),
                            pred_sem_seg=dict(data=pred)))
    return samples


def evaluate(cfg, samples):
    metric = METRICS.build(cfg)
    metric.dataset_meta = dict(classes=CLASSES)
    for s in samples:
        metric.process({}, [s])
    return metric.compute_metrics(metric.results)


def test_per_condition_table_and_overall_equal_to_iou_metric(tmp_path):
    """Overall aAcc/mIoU/mAcc are IoUMetric's on the same predictions; each
    condition's mIoU is IoUMetric's on that condition's images alone. Rules
    out the overall as the mean of the conditions and a condition read from
    another folder of the path."""
    root = str(tmp_path)
    acdc_val_tree(root)
    samples = predicted_samples(root)
    assert len(samples) == sum(PER_CONDITION.values())
    ours = evaluate(dict(type='ConditionIoUMetric'), samples)
    plain = evaluate(dict(type='IoUMetric'), samples)
    for key, value in plain.items():
        assert ours[key] == value, key
    per_condition = {}
    for condition in PER_CONDITION:
        subset = [s for s in samples
                  if f'{os.sep}{condition}{os.sep}' in s['img_path']]
        per_condition[condition] = evaluate(dict(type='IoUMetric'),
                                            subset)['mIoU']
        assert ours[f'mIoU.{condition}'] == pytest.approx(
            per_condition[condition], abs=0.006), condition
    assert abs(np.mean(list(per_condition.values())) - ours['mIoU']) > 0.1


def test_condition_missing_from_the_path_is_named(tmp_path):
    sample = dict(img_path='/data/acdc/rgb_anon/val/GOPR0001/x_rgb_anon.png',
                  gt_sem_seg=dict(data=torch.zeros(1, 2, 2, dtype=torch.long)),
                  pred_sem_seg=dict(data=torch.zeros(1, 2, 2,
                                                     dtype=torch.long)))
    with pytest.raises(ValueError, match='x_rgb_anon.png'):
        evaluate(dict(type='ConditionIoUMetric'), [sample])
