"""``tools/analysis_tools/seed_report.py``: per-class mean ± std over seed
runs read from the logs the val loop / tools/test.py write, collapsed
classes flagged, against hand computations."""
import json
import math

import pytest

from tests.helpers import load_tool

seed_report = load_tool('tools/analysis_tools/seed_report.py')


def _log(ious, extra_rows=()):
    """An mmengine log holding IoUMetric's per-class table."""
    head = '2026/12/07 17:21:16 - mmengine - INFO - '
    lines = [head + 'Iter(train) [4/4]  loss: 1.0',
             head + 'per class results:', head,
             '+-------+-------+-------+', '| Class |  IoU  |  Acc  |',
             '+-------+-------+-------+']
    lines += [f'|  {c}  | {v} | 50.0 |' for c, v in ious.items()]
    lines += ['+-------+-------+-------+',
              head + 'Iter(val) [4/4]    aAcc: 50.0  mIoU: 1.0']
    return '\n'.join(list(extra_rows) + lines) + '\n'


def _run(root, name, ious, older=None, health=None):
    work = root / name
    stamp = work / '20261207_120000'
    stamp.mkdir(parents=True)
    (stamp / '20261207_120000.log').write_text(_log(ious))
    if older is not None:  # an earlier run in the same work dir
        old = work / '20261207_110000'
        old.mkdir()
        (old / '20261207_110000.log').write_text(_log(older))
    if health is not None:
        (stamp / 'health.json').write_text(json.dumps([health]))
    return str(work)


def test_mean_std_and_collapse_flag(tmp_path, capsys):
    """road 60/50/70: mean 60, std 10. car collapses in run 2 (1.0 < 0.25
    * mean(40, 36) = 19); rider is low everywhere (0 in run 2, but the
    mean of the others, 2.5, is below min_iou 5: not flagged); person
    10/10/2.5: 2.5 == 0.25 * 10 is not below (rules out <=). mIoU: mean
    over the non-nan classes per run ('nan' class skipped). The newest log
    of a work dir is read (rules out the first one found: run 0 holds an
    older table with road 0)."""
    runs = [
        _run(tmp_path, 's0', dict(road=60, car=40, rider=2, person=10,
                                  bus='nan'),
             older=dict(road=0, car=0, rider=0, person=0, bus='nan'),
             health=dict(iter=4, confident_share=0.25, collapsed=[
                 dict(name='car')])),
        _run(tmp_path, 's1', dict(road=50, car=36, rider=3, person=10,
                                  bus='nan')),
        _run(tmp_path, 's2', dict(road=70, car=1, rider=0, person=2.5,
                                  bus='nan')),
    ]
    rows = seed_report.main(runs)
    out = capsys.readouterr().out
    assert rows['road']['mean'] == pytest.approx(60)
    assert rows['road']['std'] == pytest.approx(10)
    assert rows['car']['collapsed'] == [2]
    assert rows['rider']['collapsed'] == [] and rows['person']['collapsed'] \
        == []
    assert math.isnan(rows['bus']['mean'])
    mious = [(60 + 40 + 2 + 10) / 4, (50 + 36 + 3 + 10) / 4,
             (70 + 1 + 0 + 2.5) / 4]
    assert rows['mIoU']['values'] == pytest.approx(mious)
    assert 'collapsed classes: car' in out and 'COLLAPSED in [2]' in out
    assert '[0] health at iteration 4: confident share 0.250, collapse ' \
        'alarm: car' in out


def test_work_dir_without_table_names_it(tmp_path):
    (tmp_path / 'empty' / '20261207_1').mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match='empty'):
        seed_report.main([str(tmp_path / 'empty')])
