"""The pre-flight data checks at their boundaries: label values at the first
invalid class and the last valid one, the ignore index exactly, the
sampled subset's size, and a missing file outside the sampled subset."""
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from mmengine.dataset import BaseDataset

from mmseg_uda.datasets.checked_dataset import (
    LabelValueError,
    check_label_values,
)
from mmseg_uda.datasets.data_checks import data_errors, sample_indices


@pytest.mark.parametrize('value,ignore,ok', [
    (4, 255, True),     # last valid class of 5
    (5, 255, False),    # first invalid one
    (255, 255, True),   # the ignore index exactly (and mmseg's pad)
    (254, 255, False),  # just below it
    (254, 254, True),   # another ignore index
    (-1, 255, False),
])
def test_label_values_at_the_class_count_and_the_ignore_index(
        value, ignore, ok):
    """5 classes: 4 is valid, 5 is not; the ignore index (255 or 254) is
    valid, the value next to it is not. Rules out ``>`` for ``>=`` at the
    class count and an ignore test off by one."""
    label = np.array([[0, value]])
    if ok:
        check_label_values(label, 5, ignore, 'x.png')
    else:
        with pytest.raises(LabelValueError, match=rf'\[{value}\]'):
            check_label_values(label, 5, ignore, 'x.png')


def test_sampled_subset_size_at_and_past_the_limit():
    """``n == max_samples``: every index; ``n = max_samples + 1``:
    ``max_samples`` indices with the first and the last. Rules out ``<``
    for ``<=`` and a spread that misses the last sample."""
    assert sample_indices(3, 3) == [0, 1, 2]
    picked = sample_indices(4, 3)
    assert len(picked) == 3 and picked[0] == 0 and picked[-1] == 3
    assert sample_indices(0, 3) == []


class _Pairs(BaseDataset):
    METAINFO = dict(classes=('a', 'b', 'c'))

    def __init__(self, root, n, **kwargs):
        self._root, self._n = root, n
        super().__init__(serialize_data=False, **kwargs)

    def load_data_list(self):
        return [dict(img_path=f'{self._root}/{i}.png',
                     seg_map_path=f'{self._root}/{i}_label.png')
                for i in range(self._n)]


def _runner(tmp_path, n=7, missing=(), bad_value=()):
    for i in range(n):
        cv2.imwrite(str(tmp_path / f'{i}.png'), np.zeros((4, 4, 3), np.uint8))
        label = np.full((4, 4), 9 if i in bad_value else 1, np.uint8)
        cv2.imwrite(str(tmp_path / f'{i}_label.png'), label)
    for name in missing:
        (tmp_path / name).unlink()
    ds = _Pairs(str(tmp_path), n)
    ds.data_prefix = dict(img_path=str(tmp_path), seg_map_path=str(tmp_path))
    ds.seg_map_suffix = '_label.png'
    return SimpleNamespace(cfg=dict(), val_dataloader=SimpleNamespace(
        dataset=ds))


@pytest.mark.parametrize('missing', ['5.png', '5_label.png'])
def test_a_missing_file_outside_the_sample_is_found(tmp_path, missing):
    """7 samples, 3 decoded (0, 3, 6): an image or a label missing at
    index 5, outside the decoded ones, is still reported (existence is
    checked for every file). Rules out the existence check run over the
    sampled subset only."""
    assert 5 not in sample_indices(7, 3)
    errors = data_errors(_runner(tmp_path, missing=[missing]), 'val',
                         max_samples=3)
    assert len(errors) == 1 and '1 of 7' in errors[0]


def test_label_values_are_checked_on_the_sampled_files(tmp_path):
    """A label with class 9 (of 3) at a decoded index (the last, 6) is
    reported naming the file; at an index outside the sample (5) it is not
    decoded (what ``max_samples`` trades for speed)."""
    errors = data_errors(_runner(tmp_path, bad_value=[6]), 'val',
                         max_samples=3)
    assert len(errors) == 1 and '6_label.png' in errors[0]
    assert data_errors(_runner(tmp_path, bad_value=[5]), 'val',
                       max_samples=3) == []


def test_reduce_zero_label_at_0_1_and_255(tmp_path):
    """``reduce_zero_label`` as mmseg's LoadAnnotations: 0 becomes the
    ignore 255, 1 becomes class 0, 255 stays 255 (not 254); a ``label_map``
    is applied after. Rules out the shift in the wrong direction and the
    ignore value left at 254."""
    from mmseg_uda.datasets.data_checks import load_label

    path = str(tmp_path / 'l.png')
    cv2.imwrite(path, np.array([[0, 1, 2, 255]], np.uint8))
    info = dict(seg_map_path=path, reduce_zero_label=True)
    assert load_label(info).tolist() == [255, 0, 1, 255]
    info['label_map'] = {1: 0, 0: 1}
    assert load_label(info).tolist() == [255, 1, 0, 255]


def test_which_datasets_each_mode_checks():
    """``train``: a plain training set and the validation set only when
    both ``val_dataloader`` and ``val_cfg`` are set; ``test``: the test set.
    Rules out a plain training set skipped and ``or`` for ``and``."""
    from mmseg_uda.datasets.data_checks import runner_datasets

    def runner(**cfg):
        return SimpleNamespace(
            cfg=cfg, train_dataloader=SimpleNamespace(dataset='TRAIN'),
            val_dataloader=SimpleNamespace(dataset='VAL'),
            test_dataloader=SimpleNamespace(dataset='TEST'))

    names = [[n for n, _, _ in runner_datasets(r, mode)] for r, mode in (
        (runner(val_dataloader=1, val_cfg=1), 'train'),
        (runner(val_dataloader=1, val_cfg=None), 'train'),
        (runner(), 'test'), (runner(), 'val'))]
    assert names == [['train', 'val'], ['train'], ['test'], ['val']]
