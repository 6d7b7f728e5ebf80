"""``SelfTrainingHealthHook``: confident share, teacher-student agreement,
entropy, class shares, the collapse alarm and the self-training-off
warning, against hand computations (stand-in runner of health_helpers.py),
and in 2 gloo processes against one process fed with both ranks' data."""
import json
import logging
import math
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from mmseg_uda.engine.hooks import SelfTrainingHealthHook
from mmseg_uda.engine.hooks import self_training_health_hook as module
from tests.helpers import REPO
from tests.test_engine.dist_launch import free_port
from tests.test_engine.health_helpers import (
    TeacherStub,
    feed,
    make_runner,
    write_source_stats,
)


@pytest.fixture
def logs(monkeypatch):
    """(message, level) of every print_log of the hook module."""
    calls = []
    monkeypatch.setattr(
        module, 'print_log',
        lambda msg, logger=None, level=logging.INFO: calls.append(
            (msg, level)))
    return calls


def _labels(counts):
    """One 4x5 image per dict ``{class: pixels}`` (20 pixels each)."""
    out = []
    for c in counts:
        flat = torch.cat([torch.full((n, ), k) for k, n in c.items()])
        assert flat.numel() == 20
        out.append(flat.view(4, 5))
    return out


def _warnings(logs):
    return [m for m, level in logs if level == logging.WARNING]


def test_suppressed_class_raises_the_collapse_alarm(tmp_path, logs):
    """Source: road 50 %, car 40 %, rider 10 %. First validation (iteration
    9): car predicted on 40 %; the same suppression there would be silent,
    the check starts at 10 % of max_iters (100). Second (iteration 10):
    road 90 %, car 0 %, rider 10 %: car fell and is named, rider (at its
    source share) is not (rules out > instead of >= at the start)."""
    write_source_stats(str(tmp_path), {0: 50, 1: 40, 2: 10})
    hook = SelfTrainingHealthHook()
    runner = make_runner(str(tmp_path), name='collapse')
    hook.before_train(runner)
    labels = _labels([{0: 18, 2: 2}, {0: 18, 2: 2}])
    entry = feed(hook, runner, [0.5] * 9,
                 _labels([{0: 10, 1: 8, 2: 2}]))
    assert entry['iter'] == 9 and entry['collapsed'] == [] and not \
        _warnings(logs)
    entry = feed(hook, runner, [0.5], labels, start_iter=9)
    assert entry['iter'] == 10
    assert entry['class_share'] == pytest.approx([0.9, 0.0, 0.1])
    assert entry['source_freq'] == pytest.approx([0.5, 0.4, 0.1])
    assert [c['name'] for c in entry['collapsed']] == ['car']
    (alarm, ) = _warnings(logs)
    assert 'Class collapse at iteration 10: car' in alarm
    assert runner.message_hub.get_scalar('val/health/collapsed').current() \
        == 1


def test_class_never_predicted_is_no_collapse(tmp_path, logs):
    """car below a tenth of its source share at both validations, but never
    predicted more: not learned yet, no fall, no alarm (rules out the
    source comparison alone, which flags every class a young model does
    not predict yet)."""
    write_source_stats(str(tmp_path), {0: 50, 1: 40, 2: 10})
    hook = SelfTrainingHealthHook(collapse_begin=0)
    runner = make_runner(str(tmp_path), name='never')
    hook.before_train(runner)
    labels = _labels([{0: 18, 2: 2}])
    feed(hook, runner, [0.5], labels)
    entry = feed(hook, runner, [0.5], labels, start_iter=1)
    assert entry['collapsed'] == [] and not _warnings(logs)


def test_healthy_run_stays_silent(tmp_path, logs):
    """Predictions at the source shares: no alarm, no warning; the console
    line, the scalars of every backend and health.json are written."""
    write_source_stats(str(tmp_path), {0: 50, 1: 40, 2: 10})
    hook = SelfTrainingHealthHook()
    runner = make_runner(str(tmp_path), name='healthy')
    hook.before_train(runner)
    entry = feed(hook, runner, [0.5] * 20, _labels([{0: 10, 1: 8, 2: 2}]))
    assert entry['collapsed'] == [] and not _warnings(logs)
    assert any('Self-training health at iteration 20' in m for m, _ in logs)
    (step, shares), = runner.visualizer.scalars
    assert step == 20 and shares['health/class_share/car'] == \
        pytest.approx(0.4)
    with open(tmp_path / 'health.json') as f:
        assert json.load(f)[-1]['iter'] == 20


def test_confident_share_zero_warns_after_off_iters(tmp_path, logs):
    """off_iters=3: the warning comes after the third consecutive
    iteration below 0.01, once; a value equal to the threshold is not off
    (rules out <=, which would warn at iteration 3), and the run restarts
    after it (rules out counting all low iterations)."""
    hook = SelfTrainingHealthHook(interval=1, off_iters=3,
                                  off_threshold=0.01)
    runner = make_runner(str(tmp_path), name='off')
    fired = []
    for i, pw in enumerate([0.5, 0.0, 0.0, 0.01, 0.0, 0.0, 0.0, 0.0]):
        runner.iter = i
        hook.after_train_iter(runner, i, None,
                              dict(pseudo_weight=torch.tensor(pw)))
        fired.append(len(_warnings(logs)))
    assert fired == [0, 0, 0, 0, 0, 0, 1, 1]
    (msg, ) = _warnings(logs)
    assert 'Self-training is off' in msg and 'load_from' in msg
    assert 'classwise' in msg


def test_confident_share_agreement_and_entropy(tmp_path, logs):
    """Confident share: mean over the iterations since the last validation
    (then reset); agreement: the teacher predicts road everywhere, the
    student road on 8 of 20 pixels of the first image; agreement_images=1
    leaves the second image (all road) out (rules out counting it: 28/40);
    entropy: every pixel has softmax (0.9, 0.05, 0.05)."""
    teacher = TeacherStub(torch.zeros(4, 5, dtype=torch.long))
    hook = SelfTrainingHealthHook(agreement_images=1)
    runner = make_runner(str(tmp_path), teacher=teacher, name='agree')
    labels = _labels([{0: 8, 1: 12}, {0: 20}])
    entry = feed(hook, runner, [0.1, 0.2, 0.6], labels)
    assert entry['confident_share'] == pytest.approx(0.3)
    assert entry['agreement'] == pytest.approx(8 / 20)
    h = -(0.9 * math.log(0.9) + 0.1 * math.log(0.05))
    assert entry['entropy'] == pytest.approx(h, abs=1e-6)
    entry = feed(hook, runner, [0.4], labels, start_iter=3)
    assert entry['confident_share'] == pytest.approx(0.4)
    assert runner.message_hub.get_scalar(
        'val/health/agreement').current() == pytest.approx(0.4)


def test_source_frequencies_from_training_batches(tmp_path, logs):
    """Without a statistics file: class counts of the source labels of the
    training batches, ignore pixels (255) left out."""
    from tests.helpers import seg_samples
    hook = SelfTrainingHealthHook(collapse_begin=0)
    runner = make_runner(str(tmp_path / 'none'), name='counts')
    hook.before_train(runner)
    lbl = torch.tensor([[0, 0, 0, 1], [1, 2, 255, 255]])
    batch = dict(source=dict(data_samples=seg_samples(lbl[None])))
    hook.after_train_iter(runner, 0, batch, dict(pseudo_weight=torch.ones(())))
    feed(hook, runner, [], _labels([{0: 10, 1: 6, 2: 4}]), start_iter=1)
    entry = feed(hook, runner, [], _labels([{0: 20}]), start_iter=1)
    assert entry['source_freq'] == pytest.approx([0.5, 2 / 6, 1 / 6])
    assert [c['name'] for c in entry['collapsed']] == ['car', 'rider']


def test_two_ranks_equal_one_process_on_their_union(tmp_path):
    """2 gloo processes, each with its own pseudo-weights and validation
    images; rank 0's entry equals one process fed with both ranks' data
    (rules out averaging per-rank means: the ranks have different numbers
    of iterations and images, and rank-local statistics)."""
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH',
                                                             ''))
    worker = osp.join(REPO, 'tests', 'test_engine', 'health_dist_worker.py')
    proc = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
         f'--master_port={free_port()}', worker, str(tmp_path)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:]
    with open(tmp_path / 'dist' / 'health.json') as f:
        dist_entry = json.load(f)[-1]
    from tests.test_engine.health_dist_worker import RANK_DATA
    hook = SelfTrainingHealthHook(agreement_images=100, collapse_begin=0)
    os.makedirs(tmp_path / 'single')
    write_source_stats(str(tmp_path / 'single'), {0: 50, 1: 40, 2: 10})
    runner = make_runner(str(tmp_path / 'single'),
                         teacher=TeacherStub(torch.zeros(4, 5).long()),
                         name='single')
    hook.before_train(runner)
    pws = RANK_DATA[0]['pw'] + RANK_DATA[1]['pw']
    labels = _labels(RANK_DATA[0]['val'] + RANK_DATA[1]['val'])
    single = feed(hook, runner, pws, labels, start_iter=0)
    for key in ('confident_share', 'agreement', 'entropy', 'class_share'):
        assert dist_entry[key] == pytest.approx(single[key]), key
    # a rank-local or mean-of-ranks computation would differ here
    assert single['confident_share'] == pytest.approx(sum(pws) / len(pws))
    assert single['class_share'][1] == pytest.approx(
        (12 + 0 + 5) / 60)
