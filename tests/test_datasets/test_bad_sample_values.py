"""Bad-sample replacement and ``BadSampleHook`` at their boundaries: the
stand-in index range, the replacement limit (0 included), the hook's limit
(exactly at it and one past), a report whose bad file is the last sample,
and the hook's records combined over 2 ranks."""
import json
import os
import os.path as osp
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from mmengine.dataset import BaseDataset
from mmseg.structures import SegDataSample

from mmseg_uda.datasets.bad_samples import (
    BAD_SAMPLE_KEY,
    BadSampleError,
    exclude_reported_bad_samples,
    load_or_replace,
    replacement_index,
    unreadable_file,
)
from mmseg_uda.engine.hooks.bad_sample_hook import BadSampleHook
from tests.processes import run_ranks


@pytest.mark.parametrize('failed', [0, 2, 4])
def test_stand_ins_cover_every_other_index(failed):
    """Over many draws the stand-ins of a failed sample of a 5-sample
    dataset are exactly the 4 other indices (first, middle and last failed).
    Rules out ``>`` for ``>=`` (the failed index itself drawn) and an index
    past the end."""
    drawn = {replacement_index(0, k, 1, 1, 5, failed) for k in range(200)}
    assert drawn == set(range(5)) - {failed}


def test_two_samples_have_one_stand_in_and_one_has_none():
    """Size 2: the stand-in is always the other sample; size 1: there is
    none (the failed index itself). Rules out the size guard at ``<= 2``
    or ``< 1``."""
    assert {replacement_index(0, k, 0, 1, 2, 1) for k in range(20)} == {0}
    assert replacement_index(0, 3, 0, 1, 1, 0) == 0


class _Files(BaseDataset):
    """A dataset of image files (``img_path`` only)."""

    def __init__(self, paths, **kwargs):
        self._paths = paths
        super().__init__(**kwargs)

    def load_data_list(self):
        return [dict(img_path=p) for p in self._paths]


def _images(tmp_path, n):
    paths = []
    for i in range(n):
        path = str(tmp_path / f'{i}.png')
        cv2.imwrite(path, np.full((4, 4, 3), i, np.uint8))
        paths.append(path)
    return paths


def _loader(dataset, bad):
    def load(index, replacement):
        path = dataset.get_data_info(index)['img_path']
        if index in bad:
            raise OSError(f'cannot read {path}')
        return dict(data_samples=SegDataSample(), index=index)

    return load


@pytest.mark.parametrize('max_replacements', [0, 2])
def test_replacement_limit_is_exact(tmp_path, max_replacements):
    """Every sample unreadable: ``max_replacements`` stand-ins are tried
    after the sample itself, then ``BadSampleError`` lists all
    ``max_replacements + 1``; with 0 (not "no limit") the first failure
    raises. Rules out an off-by-one in the number of tries."""
    ds = _Files(_images(tmp_path, 4), serialize_data=False)
    with pytest.raises(BadSampleError,
                       match=f'^{max_replacements + 1} unreadable samples'):
        load_or_replace(ds, 1, _loader(ds, {0, 1, 2, 3}), seed=0, k=5,
                        branch=0, max_replacements=max_replacements)


def test_the_last_allowed_stand_in_is_used(tmp_path):
    """Two unreadable samples in a row and ``max_replacements=2``: the third
    try (the last allowed) returns a readable sample, reporting both
    replaced files. Rules out the limit reached one try early."""
    ds = _Files(_images(tmp_path, 4), serialize_data=False)
    first = replacement_index(0, 5, 0, 1, 4, 1)
    sample = load_or_replace(ds, 1, _loader(ds, {1, first}), seed=0, k=5,
                             branch=0, max_replacements=2)
    records = sample['data_samples'].metainfo[BAD_SAMPLE_KEY]
    assert [r['index'] for r in records] == [1, first]
    assert sample['index'] not in (1, first)


def test_unreadable_file_names_the_file_or_nothing(tmp_path):
    """A ValueError naming the label is that label's fault; a KeyError
    (a pipeline bug) with decodable files is nobody's (None, re-raised by
    the caller), one with an undecodable image names the image."""
    img, ann = _images(tmp_path, 2)
    info = dict(img_path=img, seg_map_path=ann)
    assert unreadable_file(info, ValueError(f'size of {ann}')) == ann
    assert unreadable_file(info, KeyError('gt_seg_map')) is None
    with open(img, 'wb') as f:
        f.write(b'not a png')
    assert unreadable_file(info, KeyError('gt_seg_map')) == img


def test_a_report_of_the_last_sample_removes_it(tmp_path):
    """The converter's report lists the last of 6 files (outside the first
    few a check might sample): exactly that one is left out. With the
    dataset's ``bad_samples_file = None`` the report is not read."""
    paths = _images(tmp_path, 6)
    with open(tmp_path / 'bad_samples.json', 'w') as f:
        json.dump([{'image': '5.png'}], f)
    ds = _Files(paths, data_root=str(tmp_path), serialize_data=False)
    assert exclude_reported_bad_samples(ds) == 1
    assert [osp.basename(ds.get_data_info(i)['img_path'])
            for i in range(len(ds))] == [f'{i}.png' for i in range(5)]
    ds = _Files(paths, data_root=str(tmp_path), serialize_data=False)
    ds.bad_samples_file = None
    assert exclude_reported_bad_samples(ds) == 0 and len(ds) == 6


def _batch(paths):
    sample = SegDataSample()
    sample.set_metainfo({BAD_SAMPLE_KEY: [
        dict(path=p, error='OSError: gone', index=0, k=0, branch=0)
        for p in paths]})
    return dict(source=dict(data_samples=[sample]), target=None)


def _runner(tmp_path, it):
    return SimpleNamespace(work_dir=str(tmp_path), iter=it)


@pytest.mark.parametrize('limit', [0, 2])
def test_hook_raises_one_past_its_limit(tmp_path, limit):
    """``max_bad_samples`` distinct unreadable files are tolerated, one more
    raises (with 0: the first raises). A file met again does not count
    again. Rules out ``>=`` for ``>`` and a count of occurrences instead of
    files."""
    hook = BadSampleHook(max_bad_samples=limit)
    for i in range(limit):
        hook.before_train_iter(_runner(tmp_path, i), 0,
                               _batch([f'f{i}', 'f0']))
    with pytest.raises(BadSampleError, match=f'^{limit + 1} training'):
        hook.before_train_iter(_runner(tmp_path, 9), 0, _batch(['new']))


def test_hook_records_iteration_and_occurrences(tmp_path):
    """The record file lists each file with the iteration it was first met
    and how often; a checkpoint round trip keeps them."""
    hook = BadSampleHook()
    hook.before_train_iter(_runner(tmp_path, 3), 0, _batch(['a']))
    hook.before_train_iter(_runner(tmp_path, 7), 0, _batch(['a', 'b']))
    with open(tmp_path / 'bad_samples_runtime.json') as f:
        records = {r['path']: r for r in json.load(f)}
    assert {p: (r['first_iteration'], r['occurrences'])
            for p, r in records.items()} == {'a': (3, 2), 'b': (7, 1)}
    ckpt = {}
    hook.before_save_checkpoint(None, ckpt)
    resumed = BadSampleHook()
    resumed.after_load_checkpoint(None, ckpt)
    assert resumed.seen == hook.seen


def _hook_on_rank(rank, work_dir):
    hook = BadSampleHook(max_bad_samples=1)
    runner = SimpleNamespace(work_dir=f'{work_dir}/{rank}', iter=4)
    os.makedirs(runner.work_dir)
    try:
        hook.before_train_iter(runner, 0, _batch([f'rank{rank}.png']))
    except BadSampleError as e:
        return sorted(hook.seen), str(e)
    return sorted(hook.seen), None


def test_hook_combines_the_ranks_reports(tmp_path):
    """Rank 0 meets one unreadable file, rank 1 another: both hooks hold
    both files (their union, not only their own) and both raise past the
    limit of 1. Rules out a rank deciding on its own records only."""
    for status, (seen, error) in run_ranks(_hook_on_rank, str(tmp_path)):
        assert status == 'ok'
        assert seen == ['rank0.png', 'rank1.png']
        assert error is not None and error.startswith(
            '2 training samples could not be read, more than '
            'BadSampleHook.max_bad_samples=1')
