"""Fault tolerance of 2-process (gloo) training.

- DAFormer (DACS + rare class sampling + feature distance) through
  ``tools/dist_train.sh``: one uninterrupted 2-process run, and a run
  launched as two nodes (``NNODES=2 NODE_RANK=0/1``, two launchers of one
  process each, as on a 2-node cluster) that receives SIGTERM on one rank
  at a random iteration, checkpoints, stops and is resumed with
  ``--resume`` by two new launchers. Every logged loss of every iteration
  on both ranks, and the final student, teacher (parameters and buffers)
  and optimizer state are bit-identical to the uninterrupted run.
- One launch of tests/test_engine/dist_worker.py (``faults``): MIC(HRDA)
  killed and resumed the same way on data with an unreadable target image
  (replaced deterministically, recorded), and runs where one rank fails (a
  bad-sample limit, a non-finite loss, a loading error) stop every rank
  with the same error.
"""
import glob
import json
import os
import os.path as osp
import random
import shutil
import subprocess
import sys

import pytest
import torch

from tests.e2e_helpers import FAST_CONFIG_ENV
from tests.helpers import REPO
from tests.processes import kill_process_tree
from tests.test_engine.dist_hooks import read_losses
from tests.test_engine.dist_launch import free_port, launch
from tests.test_engine.ft_helpers import assert_states_equal, daformer_cfg

DIST_TRAIN = osp.join(REPO, 'tools', 'dist_train.sh')


def _env(**extra):
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHON=sys.executable,
               PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH',
                                                             ''))
    env.pop('MMSEG_UDA_PREEMPT_EXIT_CODE', None)
    env[FAST_CONFIG_ENV] = '1'  # see tests/test_engine/dist_hooks
    env.update({k: str(v) for k, v in extra.items()})
    return env


def dist_train(cfg_path, work_dir, nodes=1, resume=False, timeout=400):
    """``tools/dist_train.sh`` with 2 processes: one launcher of 2, or
    ``nodes=2`` launchers of 1 (NNODES/NODE_RANK); returns the outputs."""
    args = [cfg_path, '2' if nodes == 1 else '1', '--work-dir', work_dir]
    if resume:
        args.append('--resume')
    port = free_port()
    procs = [
        subprocess.Popen(
            ['bash', DIST_TRAIN, *args], cwd=REPO,
            env=_env(NNODES=nodes, NODE_RANK=node, PORT=port),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for node in range(nodes)
    ]
    outs = []
    try:
        for proc in procs:
            outs.append(proc.communicate(timeout=timeout)[0])
    finally:
        for proc in procs:
            if proc.poll() is None:
                kill_process_tree(proc.pid)
    for proc, out in zip(procs, outs):
        assert proc.returncode == 0, out[-5000:]
    return '\n'.join(outs)


def _write_cfg(cfg, path, hooks):
    cfg.custom_hooks = list(cfg.custom_hooks) + hooks
    cfg.custom_imports = dict(
        imports=['mmseg_uda', 'tests.test_engine.dist_hooks',
                 'tests.test_tools.rank_dump_hook'],
        allow_failed_imports=False)
    cfg.dump(path)
    return path


def _checkpoint(work_dir, it):
    ckpt = torch.load(osp.join(work_dir, f'iter_{it}.pth'),
                      map_location='cpu', weights_only=False)
    return ckpt['state_dict'], ckpt['optimizer']


def _assert_nested_equal(a, b, where):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_nested_equal(a[k], b[k], f'{where}.{k}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_nested_equal(x, y, f'{where}.{i}')
    else:
        assert a == b, where


def test_daformer_two_nodes_sigterm_one_rank_resume_is_exact(
        synthetic_roots, tmp_path):
    """Rules out: a stop flag not shared by the ranks (the signalled rank
    leaves, the other hangs or trains on), per-rank random states or
    sampler positions lost or swapped at resume (the non-zero rank's
    stream would restart), a checkpoint written before every rank
    finished the iteration, and a multi-node launch that trains two
    independent single-process runs."""
    max_iters = 5
    kill_at = random.randint(1, max_iters - 1)
    kill_rank = random.randint(0, 1)
    runs = {}
    for name in ('full', 'cut'):
        work = str(tmp_path / name)
        cfg = daformer_cfg(synthetic_roots, work, max_iters=max_iters,
                           ckpt_interval=max_iters)
        hooks = [dict(type='LossDumpHook'), dict(type='RankStateDumpHook')]
        if name == 'cut':
            hooks.append(dict(type='SignalRankHook', rank=kill_rank,
                              iteration=kill_at))
        runs[name] = (_write_cfg(cfg, str(tmp_path / f'{name}.py'), hooks),
                      work)
    dist_train(*runs['full'])
    out = dist_train(*runs['cut'], nodes=2)
    cut_dir = runs['cut'][1]
    assert f'saved the checkpoint of iteration {kill_at}' in out, out[-4000:]
    assert sorted(read_losses(cut_dir, 1 - kill_rank)) == list(
        range(kill_at)), 'the rank without the signal did not stop with it'
    # resume (without the signal hook: the job is re-queued)
    cfg = daformer_cfg(synthetic_roots, cut_dir, max_iters=max_iters,
                       ckpt_interval=max_iters)
    resume_cfg = _write_cfg(cfg, str(tmp_path / 'resume.py'),
                            [dict(type='LossDumpHook'),
                             dict(type='RankStateDumpHook')])
    out = dist_train(resume_cfg, cut_dir, nodes=2, resume=True)
    assert f'Resuming the UDA sample stream at iteration {kill_at}' in out

    full_dir = runs['full'][1]
    for rank in range(2):
        full, cut = read_losses(full_dir, rank), read_losses(cut_dir, rank)
        assert sorted(full) == sorted(cut) == list(range(max_iters))
        for it in full:
            assert full[it] == cut[it], (rank, it, kill_at)
        a = torch.load(osp.join(full_dir, f'rank{rank}_state.pth'))
        b = torch.load(osp.join(cut_dir, f'rank{rank}_state.pth'))
        _assert_nested_equal(a, b, f'rank {rank} state')
        assert any(k.startswith('teacher.') and k.endswith('running_var')
                   for k in a)
    # the two ranks hold one model
    _assert_nested_equal(
        torch.load(osp.join(full_dir, 'rank0_state.pth')),
        torch.load(osp.join(full_dir, 'rank1_state.pth')), 'ranks')
    state_a, optim_a = _checkpoint(full_dir, max_iters)
    state_b, optim_b = _checkpoint(cut_dir, max_iters)
    _assert_nested_equal(state_a, state_b, 'state_dict')
    _assert_nested_equal(optim_a, optim_b, 'optimizer')


@pytest.fixture(scope='module')
def faults(small_roots, tmp_path_factory):
    """One launch of the worker's fault scenarios on a copy of the small
    synthetic data whose first target training image is unreadable."""
    out = tmp_path_factory.mktemp('dist_faults')
    roots = dict(small_roots)
    roots['cityscapes'] = str(out / 'cityscapes')
    shutil.copytree(small_roots['cityscapes'], roots['cityscapes'])
    bad = sorted(glob.glob(osp.join(roots['cityscapes'], 'leftImg8bit',
                                    'train', '*', '*.png')))[0]
    with open(bad, 'wb') as f:
        f.write(b'\x89PNG broken')
    kill_rank, kill_at = random.randint(0, 1), random.randint(1, 3)
    proc = launch('faults', roots, out, timeout=500,
                  extra=(str(kill_rank), str(kill_at)))
    assert proc.returncode == 0, proc.stdout[-6000:]
    results = [torch.load(out / f'faults_rank{r}.pth', weights_only=False)
               for r in range(2)]
    return dict(out=out, bad=bad, kill_at=kill_at, kill_rank=kill_rank,
                ranks=results, log=proc.stdout)


def test_mic_hrda_sigterm_one_rank_resume_is_exact_with_bad_sample(faults):
    """MIC(HRDA), 2 processes, an unreadable target image met in training:
    SIGTERM on one rank at a random iteration and a resume reproduce the
    uninterrupted run exactly (losses of every iteration on both ranks,
    student, teacher and optimizer state), and the unreadable sample is
    replaced by the same stand-in in both runs and recorded identically.
    Rules out: a replacement depending on the rank/worker history or on
    the RNG state, a count lost at resume, a stop flag of one rank."""
    kill_at, out = faults['kill_at'], faults['out']
    max_iters = 4
    for rank, res in enumerate(faults['ranks']):
        full, cut, resumed = res['full'], res['cut'], res['resumed']
        assert full['world_size'] == cut['world_size'] == 2
        assert full['error'] is None and cut['error'] is None, (full, cut)
        assert resumed['error'] is None, resumed
        assert sorted(cut['losses']) == list(range(kill_at)), rank
        assert sorted(resumed['losses']) == list(range(kill_at, max_iters))
        for it, losses in {**cut['losses'], **resumed['losses']}.items():
            assert losses == full['losses'][it], (rank, it, kill_at)
        assert any(k.startswith('mic.') for k in full['losses'][0])
        assert_states_equal(full['state'], resumed['state'])
        assert any('teacher' in k and k.endswith('running_var')
                   for k in full['state'])
    records = {}
    for run in ('full', 'cut'):
        with open(out / run / 'bad_samples_runtime.json') as f:
            records[run] = json.load(f)
    assert records['full'] == records['cut']
    assert [r['path'] for r in records['full']] == [faults['bad']]
    assert records['full'][0]['occurrences'] >= 1
    assert f'Unreadable training sample {faults["bad"]}' in faults['log']


@pytest.mark.parametrize('case,error,text', [
    ('limit', 'BadSampleError', 'more than BadSampleHook.max_bad_samples=0'),
    ('nan', 'FloatingPointError', "rank 1: non-finite loss "
     "'src.decode.loss_ce' = nan"),
    ('load', 'RankFailure', 'unreadable samples in a row'),
])
def test_a_failing_rank_stops_every_rank_with_the_same_error(
        faults, case, error, text):
    """A bad-sample limit reached, a non-finite loss on rank 1 only, and a
    sample that cannot be loaded on one rank: both ranks raise the same
    error at the same iteration (the launch's timeout would catch a rank
    left waiting in a collective). Rules out per-rank decisions."""
    errors = [res[case] for res in faults['ranks']]
    assert errors[0] is not None and errors[0] == errors[1], errors
    assert errors[0]['type'] == error, errors[0]
    assert text in errors[0]['message'], errors[0]['message']
    if case != 'nan':
        assert faults['bad'] in errors[0]['message']
