"""The private attributes of mmengine/mmseg/mmcv that the plugin uses (all
through ``mmseg_uda/utils/openmmlab_private.py``) are still there in the
installed versions, with the meaning the plugin relies on. A failure names
the attribute: an upgrade renamed or changed it, and the helper of that
module (and its callers) must follow."""
import glob
import inspect
import os.path as osp
import re
from types import SimpleNamespace

import pytest
import torch
from mmengine.hooks import CheckpointHook
from mmengine.optim import OptimWrapper
from mmengine.runner import Runner
from mmengine.runner.loops import BaseLoop, IterBasedTrainLoop

import mmseg_uda  # noqa: F401
from mmseg_uda.utils import openmmlab_private as private
from tests.helpers import REPO


def reads(function, *names):
    """Names of ``names`` that ``function``'s code does not use."""
    code = inspect.unwrap(function).__code__
    return [n for n in names if n not in code.co_names]


def changed(what: str, detail: str) -> str:
    return (f'the installed OpenMMLab version changed {what} ({detail}); '
            'update mmseg_uda/utils/openmmlab_private.py and its callers')


def test_optim_wrapper_inner_count():
    """``_inner_count`` is the int from which ``should_update`` decides
    (rules out a rename, or a counter that ``should_update`` stopped
    reading: the UDA step would then step the optimizer too often)."""
    wrapper = OptimWrapper(torch.optim.SGD(
        [torch.nn.Parameter(torch.zeros(1))], lr=0.1), accumulative_counts=2)
    wrapper.initialize_count_status(torch.nn.Linear(1, 1), 0, 4)
    assert isinstance(getattr(wrapper, '_inner_count', None), int), changed(
        'OptimWrapper._inner_count', 'no int attribute')
    assert wrapper.should_update()  # 0 backward calls: a window's end
    private.add_backward_count(wrapper, 1)
    assert not wrapper.should_update(), changed(
        'OptimWrapper._inner_count', 'should_update does not follow it')
    private.add_backward_count(wrapper, 1)
    assert wrapper.should_update()


def test_runner_resume_fields():
    """``Runner.__init__`` stores ``resume``/``load_from`` in ``_resume`` /
    ``_load_from`` and ``load_or_resume`` reads them; the train loop config
    or loop is ``_train_loop`` (its ``train_loop`` property builds it)."""
    missing = reads(Runner.__init__, '_resume', '_load_from', '_train_loop')
    assert not missing, changed('Runner.__init__', f'no {missing}')
    missing = reads(Runner.load_or_resume, '_resume', '_load_from')
    assert not missing, changed('Runner.load_or_resume', f'no {missing}')
    missing = reads(Runner.train_loop.fget, '_train_loop')
    assert not missing, changed('Runner.train_loop', f'no {missing}')
    runner = SimpleNamespace(_resume=True, _load_from=None,
                             _train_loop=dict(type='IterBasedTrainLoop'))
    assert private.resumes_latest_checkpoint(runner)
    private.set_checkpoint_to_resume(runner, 'a.pth')
    assert runner._load_from == 'a.pth'
    assert not private.resumes_latest_checkpoint(runner)
    assert private.built_train_loop(runner) is None  # a config: not built
    runner._train_loop = loop = IterBasedTrainLoop.__new__(
        IterBasedTrainLoop)
    assert private.built_train_loop(runner) is loop


def test_iter_loop_counters_and_val_interval():
    """The counters ``init_iter_loop_counters`` sets are those that the
    loop's properties read and ``run_iter`` advances (rules out a renamed
    counter: the UDA loop would never stop, or resume at 0)."""
    missing = reads(IterBasedTrainLoop.__init__, '_max_iters', '_max_epochs',
                    '_epoch', '_iter')
    assert not missing, changed('IterBasedTrainLoop.__init__',
                                f'no {missing}')
    calls = []
    runner = SimpleNamespace(
        call_hook=lambda name, **kw: calls.append(name),
        model=SimpleNamespace(train_step=lambda data, optim_wrapper: {}),
        optim_wrapper=None)
    loop = IterBasedTrainLoop.__new__(IterBasedTrainLoop)
    BaseLoop.__init__(loop, runner, [])
    private.init_iter_loop_counters(loop, 5)
    assert (loop.iter, loop.max_iters, loop.epoch, loop.max_epochs) == (
        0, 5, 0, 1), changed('IterBasedTrainLoop counters', 'properties')
    loop.run_iter({})
    assert loop.iter == 1, changed('IterBasedTrainLoop._iter',
                                   'run_iter does not advance it')
    loop.dynamic_milestones, loop.dynamic_intervals = [0, 1], [7, 3]
    loop.val_interval = 7
    private.update_val_interval(loop)
    assert loop.val_interval == 3, changed(
        'IterBasedTrainLoop._decide_current_val_interval', 'behaviour')


def test_infinite_dataloader_iterator():
    """It restarts the loader at its end (rules out mmengine's iterator
    renamed, or one that stops)."""
    it = private.infinite_dataloader_iterator(
        torch.utils.data.DataLoader(list(range(3))))
    assert [int(next(it)) for _ in range(4)] == [0, 1, 2, 0]


def test_checkpoint_hook_save_with_step():
    """``_save_checkpoint_with_step(runner, step, meta)`` is what
    ``CheckpointHook.after_train_iter`` saves with: ``SafeCheckpointHook``
    overrides it, ``PreemptionHook`` calls it (rules out a rename that
    would silently bypass the atomic saves)."""
    method = getattr(CheckpointHook, '_save_checkpoint_with_step', None)
    assert callable(method), changed(
        'CheckpointHook._save_checkpoint_with_step', 'missing')
    assert list(inspect.signature(method).parameters) == [
        'self', 'runner', 'step', 'meta'], changed(
            'CheckpointHook._save_checkpoint_with_step', 'signature')
    missing = reads(CheckpointHook.after_train_iter, '_save_checkpoint')
    missing += reads(CheckpointHook._save_checkpoint,
                     '_save_checkpoint_with_step')
    assert not missing, changed('CheckpointHook.after_train_iter',
                                f'does not save through {missing}')


def test_seg_data_preprocessor_normalize_switch():
    from mmseg.models import SegDataPreProcessor
    on = SegDataPreProcessor(mean=[1, 2, 3], std=[1, 1, 1])
    off = SegDataPreProcessor()
    assert private.normalizes(on) and not private.normalizes(off), changed(
        'SegDataPreProcessor._enable_normalize', 'meaning')


def test_load_annotations_load_seg_map():
    """``LoadCheckedAnnotations`` overrides ``_load_seg_map``, the label
    step of mmcv's ``LoadAnnotations.transform``."""
    from mmseg.datasets.transforms import LoadAnnotations
    missing = reads(LoadAnnotations.transform, '_load_seg_map')
    assert not missing, changed('LoadAnnotations.transform',
                                'does not call _load_seg_map')


def test_no_private_openmmlab_access_elsewhere():
    """Library and tools reach these attributes only through the module
    (rules out a new ``runner._x`` somewhere else, unlisted and untested).
    Overrides of mmengine/mmcv methods (``def _save_checkpoint_with_step``,
    ``super()._load_seg_map``) and torch's private functions are not
    accesses of an OpenMMLab object's state."""
    names = ('_inner_count', '_resume', '_load_from', '_train_loop',
             '_max_iters', '_max_epochs', '_epoch', '_iter',
             '_decide_current_val_interval', '_InfiniteDataloaderIterator',
             '_enable_normalize')
    pattern = re.compile(r'\.(%s)\b' % '|'.join(names))
    found = []
    files = glob.glob(osp.join(REPO, 'mmseg_uda', '**', '*.py'),
                      recursive=True) + glob.glob(
                          osp.join(REPO, 'tools', '**', '*.py'),
                          recursive=True)
    for path in files:
        if path.endswith('openmmlab_private.py'):
            continue
        with open(path) as f:
            for i, line in enumerate(f, 1):
                if pattern.search(line.split('#')[0]):
                    found.append(f'{osp.relpath(path, REPO)}:{i}')
    assert not found, found


@pytest.mark.parametrize('name', private.__all__)
def test_every_helper_is_documented(name):
    assert getattr(private, name).__doc__
