"""The checks before the first iteration run inside the run
(``PreflightCheckHook``, ``default_hooks.preflight``): the plugin's
``tools/train.py``, mmseg's own ``train.py`` (what ``mim train
mmsegmentation`` runs) and ``Runner.from_cfg(cfg).train()`` stop at the
same moment with the same named errors. Rules out checks that only the
plugin's tools call (mmseg's ``train.py`` trained 3 iterations on a label
holding the value 40 and exited 0)."""
import glob
import os
import os.path as osp
import re
import shutil

import numpy as np
import pytest
from mmengine.runner import Runner
from PIL import Image

from mmseg_uda.datasets.data_checks import DataCheckError
from tests.helpers import (
    QUICKSTART_DACS,
    QUICKSTART_SOURCE_ONLY,
    mmseg_tool,
    run_tool,
    short_cfg,
)

MMSEG_TRAIN = mmseg_tool('train.py')
NUM_CLASSES = 19


@pytest.fixture
def broken_roots(small_roots, tmp_path):
    """A copy of the small synthetic data with one source label holding
    the first invalid value (``num_classes``: an off-by-one check lets it
    through) and the RCS statistics file removed."""
    roots = {k: str(tmp_path / k) for k in small_roots}
    for k, root in small_roots.items():
        shutil.copytree(root, roots[k])
    label = sorted(glob.glob(osp.join(roots['gta'], 'labels',
                                      '*_labelTrainIds.png')))[2]
    ids = np.array(Image.open(label))
    ids[5, 7] = NUM_CLASSES
    Image.fromarray(ids).save(label)
    os.remove(osp.join(roots['gta'], 'sample_class_stats.json'))
    return roots, label


def _errors(output: str) -> list:
    """The listed problems of the DataCheckError in a command's output
    (one ``  - `` line each after the error's first line)."""
    head = 'DataCheckError: The data does not fit the config'
    assert head in output, output[-3000:]
    return _listed(output[output.rindex(head):])


def _listed(message: str) -> list:
    lines = message.splitlines()[1:]
    listed = []
    for line in lines:
        if not line.startswith('  - '):
            break
        listed.append(line[4:])
    return sorted(listed)


def test_same_errors_before_iteration_1_in_every_entry_point(
        broken_roots, tmp_path):
    roots, label = broken_roots
    cfg = short_cfg(QUICKSTART_DACS, roots, str(tmp_path / 'work'), 3, 3)
    path = str(tmp_path / 'broken.py')
    cfg.dump(path)

    with pytest.raises(DataCheckError) as info:
        Runner.from_cfg(cfg.copy()).train()
    in_process = _listed(str(info.value))
    assert any(label in e and f'[{NUM_CLASSES}]' in e
               for e in in_process), in_process
    assert any('rare_class_sampling' in e and 'sample_class_stats.json' in e
               for e in in_process), in_process

    plugin = run_tool(['tools/train.py', path])
    assert plugin.returncode != 0
    assert _errors(plugin.stdout) == in_process
    if not osp.isfile(MMSEG_TRAIN):
        pytest.skip(f'mmseg ships no {MMSEG_TRAIN}')
    theirs = run_tool([MMSEG_TRAIN, path])
    assert theirs.returncode != 0
    assert _errors(theirs.stdout) == in_process
    for out in (plugin.stdout, theirs.stdout):
        assert 'Iter(train)' not in out  # stopped before iteration 1
    assert not glob.glob(str(tmp_path / 'work' / '*.pth'))


def test_switched_off_checks_leave_the_dataset_errors(broken_roots,
                                                      tmp_path):
    """``default_hooks.preflight=None`` switches the checks off; the
    missing statistics are then refused by rare class sampling at the
    sampler's first draw, still before iteration 1 (rules out statistics
    read lazily and never checked)."""
    roots, _ = broken_roots
    cfg = short_cfg(QUICKSTART_DACS, roots, str(tmp_path / 'work'), 3, 3)
    path = str(tmp_path / 'broken.py')
    cfg.dump(path)
    proc = run_tool(['tools/train.py', path, '--cfg-options',
                     'default_hooks.preflight=None'])
    assert proc.returncode != 0
    assert 'DataCheckError' not in proc.stdout
    assert 'RCSStatsError' in proc.stdout and \
        'sample_class_stats.json' in proc.stdout, proc.stdout[-3000:]
    assert 'Iter(train)' not in proc.stdout


def test_source_only_runs_get_the_checks(broken_roots, tmp_path):
    """A source-only config (mmengine's plain ``IterBasedTrainLoop``) is
    checked too: the label is named before iteration 1."""
    roots, label = broken_roots
    cfg = short_cfg(QUICKSTART_SOURCE_ONLY, roots, str(tmp_path / 'work'),
                    3, 3)
    with pytest.raises(DataCheckError, match=re.escape(label) +
                       rf".*\[{NUM_CLASSES}\]"):
        Runner.from_cfg(cfg).train()
    assert not glob.glob(str(tmp_path / 'work' / '*.pth'))


def test_test_and_val_runs_check_their_data(small_roots, tmp_path):
    """``runner.test()`` and a validation-only ``runner.val()`` check their
    own set before the first batch (rules out checks only before
    training: ``tools/test.py`` and mmseg's ``test.py`` run no training),
    naming the key of the set and the label."""
    roots = dict(small_roots)
    roots['cityscapes'] = str(tmp_path / 'cityscapes')
    shutil.copytree(small_roots['cityscapes'], roots['cityscapes'])
    label = sorted(glob.glob(osp.join(roots['cityscapes'], 'gtFine', 'val',
                                      '*', '*_labelTrainIds.png')))[1]
    ids = np.array(Image.open(label))
    ids[0, 0] = NUM_CLASSES
    Image.fromarray(ids).save(label)
    for mode, key in (('test', 'test_dataloader'), ('val',
                                                     'val_dataloader')):
        cfg = short_cfg(QUICKSTART_SOURCE_ONLY, roots,
                        str(tmp_path / mode), 3, 3)
        with pytest.raises(DataCheckError,
                           match=rf'{key}\.dataset: .*{re.escape(label)}'
                           rf".*\[{NUM_CLASSES}\]"):
            getattr(Runner.from_cfg(cfg), mode)()
