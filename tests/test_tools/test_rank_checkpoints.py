"""``tools/analysis_tools/rank_checkpoints.py``: checkpoints of a work dir
ranked by label-free criteria on labelled and unlabelled target images,
JSON/CSV output, and its selection statistics against hand computations."""
import json
import os.path as osp
import shutil

import pytest
import torch
from mmengine.config import Config
from mmseg.registry import MODELS

from mmseg_uda.datasets.synthetic import use_synthetic_roots
from mmseg_uda.evaluation.label_free import DEFAULT_CRITERION
from tests.helpers import QUICKSTART_SOURCE_ONLY, load_tool

rank = load_tool('tools/analysis_tools/rank_checkpoints.py')


@pytest.fixture(scope='module')
def work_dir(synthetic_data, tmp_path_factory):
    """A work dir as tools/train.py leaves it: the config and two
    checkpoints (different random initialisations, so the criteria differ)."""
    work = tmp_path_factory.mktemp('rank') / 'run'
    work.mkdir()
    cfg = Config.fromfile(QUICKSTART_SOURCE_ONLY)
    use_synthetic_roots(cfg, synthetic_data)
    cfg.dump(str(work / 'source-only.py'))
    for i, seed in ((2, 0), (4, 1)):
        torch.manual_seed(seed)
        model = MODELS.build(cfg.model)
        model.init_weights()
        torch.save(dict(state_dict=model.state_dict(), meta=dict(iter=i)),
                   str(work / f'iter_{i}.pth'))
    return str(work)


def test_ranks_with_and_without_labels(work_dir, synthetic_data, tmp_path,
                                       capsys):
    """With labels: mIoU and the Spearman table; without (a copy of the
    target without gtFine): the same label-free values (rules out dropping
    another step than the annotation loader, e.g. the resize), no mIoU.
    Rows are sorted by the criterion; JSON and CSV hold them."""
    prefix = str(tmp_path / 'out')
    rows = rank.main([work_dir, '--source-stats', synthetic_data['gta'],
                      '--out', prefix, '--device', 'cpu'])
    out = capsys.readouterr().out
    assert [r['iter'] for r in rows] == [2, 4]
    assert all('mIoU' in r and 'class_balance' in r for r in rows)
    assert 'Spearman' in out and 'keep:' in out
    best = max(rows, key=lambda r: rank._oriented(r, DEFAULT_CRITERION))
    assert f'keep: {best["checkpoint"]}' in out
    with open(prefix + '.json') as f:
        assert json.load(f) == rows
    with open(prefix + '.csv') as f:
        assert f.readline().strip().split(',')[:3] == [
            'work_dir', 'checkpoint', 'iter']

    unlabelled = str(tmp_path / 'cityscapes')
    shutil.copytree(osp.join(synthetic_data['cityscapes'], 'leftImg8bit'),
                    osp.join(unlabelled, 'leftImg8bit'))
    bare = rank.main([work_dir, '--data-root', unlabelled, '--out',
                      str(tmp_path / 'bare'), '--device', 'cpu'])
    assert all('mIoU' not in r for r in bare)
    for a, b in zip(rows, bare):
        for key in ('snd', 'im', 'bnm', 'entropy', 'confidence'):
            assert b[key] == pytest.approx(a[key], rel=1e-6), key


def test_selection_statistics_by_hand():
    """Run A: im ranks its 3 checkpoints as the mIoU (Spearman 1, pick =
    best); run B: reversed (Spearman -1, pick loses 4 mIoU). entropy is
    oriented (lower is better). Across all 6: hand-computed ranks. Rules
    out an unoriented entropy and a regret taken from the worst instead of
    the pick."""
    rows = []
    for run, mious, ims in (('A', [10, 11, 12], [0.1, 0.2, 0.3]),
                            ('B', [20, 22, 24], [0.6, 0.5, 0.4])):
        for m, v in zip(mious, ims):
            rows.append(dict(work_dir=run, mIoU=m, im=v, entropy=-v))
    stats = rank.selection_stats(rows)
    # entropy = -im, oriented by -1: the same ranking as im
    for c in ('im', 'entropy'):
        assert stats[c]['within'] == pytest.approx([1.0, -1.0]), c
    assert stats['im']['regret'] == pytest.approx([0.0, 4.0])
    assert stats['im']['hits'] == 1
    # across: im ranks 1 2 3 6 5 4, mIoU ranks 1 2 3 4 5 6
    from scipy.stats import spearmanr
    assert stats['im']['across'] == pytest.approx(
        spearmanr([1, 2, 3, 6, 5, 4], [1, 2, 3, 4, 5, 6])[0])
    assert stats['entropy']['across'] == pytest.approx(
        stats['im']['across'])
    table = rank.selection_tables(rows)
    assert table.splitlines()[2].startswith('| im |')
