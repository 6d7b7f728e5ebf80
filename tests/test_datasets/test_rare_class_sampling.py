import json
import os.path as osp

import numpy as np
import pytest
import torch

from mmseg_uda.datasets import RareClassSampling, RCSStatsError
from mmseg_uda.datasets.samplers.uda_sampler import rcs_rng


def _write_stats(root, stats):
    with open(osp.join(root, 'sample_class_stats.json'), 'w') as f:
        json.dump(stats, f)
    swc = {}
    for e in stats:
        for c, n in e.items():
            if c != 'file':
                swc.setdefault(c, []).append([e['file'], n])
    with open(osp.join(root, 'samples_with_class.json'), 'w') as f:
        json.dump(swc, f)


def _stats(num_files=30, seed=0):
    rng = np.random.default_rng(seed)
    stats = []
    for i in range(num_files):
        e = {'file': f'labels/{i:05d}_labelTrainIds.png'}
        for c in range(19):
            # frequent classes are large, rare ones small or absent
            if rng.random() < 0.3 + c / 30:
                e[str(c)] = int(rng.integers(3001, 200000) // (1 + c))
        stats.append(e)
    return stats


def _paths(root, n=30):
    return [osp.join(root, 'labels', f'{i:05d}_labelTrainIds.png')
            for i in range(n)]


def test_rcs_frequencies_match_softmax(tmp_path):
    stats = _stats()
    _write_stats(str(tmp_path), stats)
    rcs = RareClassSampling(_paths(str(tmp_path)), str(tmp_path),
                            class_temp=0.01, min_pixels=3000)
    # expected P(c) = softmax((1 - f_c) / T), f over labelled pixels
    totals = {}
    for e in stats:
        for c, n in e.items():
            if c != 'file':
                totals[int(c)] = totals.get(int(c), 0) + n
    all_px = sum(totals.values())
    classes = sorted(totals, key=lambda c: totals[c])
    assert rcs.classes == classes  # ascending frequency
    logits = torch.tensor([(1 - totals[c] / all_px) / 0.01 for c in classes])
    expected = dict(zip(classes, torch.softmax(logits, 0).tolist()))
    assert rcs.probs.dtype == np.float32
    draws = [rcs.draw(rcs_rng(0, k)) for k in range(20000)]
    counts = np.bincount([c for c, _ in draws], minlength=19) / len(draws)
    checked = 0
    for c, p in expected.items():
        if p > 0.01:
            checked += 1
            assert abs(counts[c] - p) / p < 0.1, (c, counts[c], p)
    assert checked >= 3
    # images drawn for a class hold strictly more than min_pixels of it
    per_idx = [{int(k): v for k, v in e.items() if k != 'file'}
               for e in stats]
    for c, i in draws[:2000]:
        assert per_idx[i][c] > 3000


def test_rcs_min_pixels_is_strict(tmp_path):
    stats = [{'file': 'a.png', '0': 3000, '1': 5000},
             {'file': 'b.png', '0': 3001, '1': 10}]
    _write_stats(str(tmp_path), stats)
    rcs = RareClassSampling([str(tmp_path / 'a.png'),
                             str(tmp_path / 'b.png')], str(tmp_path))
    assert rcs.samples[0].tolist() == [1]
    assert rcs.samples[1].tolist() == [0]


def test_rcs_missing_and_stale_files(tmp_path):
    with pytest.raises(RCSStatsError, match='sample_class_stats.json'):
        RareClassSampling(['x.png'], str(tmp_path))
    _write_stats(str(tmp_path), [{'file': 'labels/gone.png', '0': 5000}])
    with pytest.raises(RCSStatsError, match='gone.png'):
        RareClassSampling([str(tmp_path / 'labels' / 'x.png')],
                          str(tmp_path))
    _write_stats(str(tmp_path), [{'file': 'x.png', '25': 5000}])
    with pytest.raises(RCSStatsError, match='stale'):
        RareClassSampling([str(tmp_path / 'x.png')], str(tmp_path))
    _write_stats(str(tmp_path), [{'file': 'x.png', '0': 5000}])
    with open(tmp_path / 'samples_with_class.json', 'w') as f:
        json.dump({'0': [['x.png', 4000]]}, f)
    with pytest.raises(RCSStatsError, match='samples_with_class.json'):
        RareClassSampling([str(tmp_path / 'x.png')], str(tmp_path))
