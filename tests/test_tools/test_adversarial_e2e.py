"""End-to-end CPU runs of tiny AdaptSegNet / PFR / source-only DeepLab-v2
configs (the zoo configs with a narrow ResNet-18 and 64x64 crops) on the
synthetic data: train, validate, checkpoint, resume, and a 2-process gloo
run through tools/dist_train.sh."""
import copy
import os
import os.path as osp
import sys

import pytest
import torch
from mmengine.runner import Runner

import mmseg_uda  # noqa: F401
from tests.e2e_helpers import (
    REPO,
    resumed_run,
    tiny_adversarial_cfg,
)
from tests.processes import run_process_tree
from tests.test_engine.dist_launch import free_port


@pytest.mark.parametrize('name', ['advseg', 'pfr', 'source_only'])
def test_train_validate_checkpoint_resume(name, small_roots, tmp_path):
    cfg = tiny_adversarial_cfg(name, small_roots, tmp_path, max_iters=2)
    runner = Runner.from_cfg(copy.deepcopy(cfg))
    runner.train()
    metrics = runner.val_loop.run()
    assert 0 <= metrics['mIoU'] <= 100
    ckpt = torch.load(osp.join(tmp_path, 'iter_2.pth'), map_location='cpu',
                      weights_only=False)
    if name == 'source_only':
        assert any(k.startswith('decode_head.aspp')
                   for k in ckpt['state_dict'])
        return
    state = ckpt['state_dict']
    assert any(k.startswith('student.decode_head.aspp') for k in state)
    assert any(k.startswith('discriminator.layers') for k in state)
    expected = {'student', 'discriminator'}
    if name == 'advseg':  # the multi-level zoo config
        assert any(k.startswith('aux_discriminator.') for k in state)
        assert any(k.startswith('student.auxiliary_head.') for k in state)
        expected.add('aux_discriminator')
    assert set(ckpt['optimizer']) == expected
    assert set(ckpt['param_schedulers']) == expected
    # SGD poly 0.9 (head x10) and Adam poly 0.9, one step each per iteration
    lrs = runner.optim_wrapper.get_lr()
    factor = (1 - 2 / 250000)**0.9
    assert lrs['student.lr'][0] == pytest.approx(2.5e-4 * factor)
    assert max(lrs['student.lr']) == pytest.approx(2.5e-3 * factor)
    assert lrs['discriminator.lr'][0] == pytest.approx(1e-4 * factor)
    # resume: both optimizers and schedules continue
    runner = resumed_run(
        tiny_adversarial_cfg(name, small_roots, tmp_path, max_iters=3),
        osp.join(tmp_path, 'iter_2.pth'))
    assert runner.iter == 3
    factor = (1 - 3 / 250000)**0.9
    lrs = runner.optim_wrapper.get_lr()
    assert lrs['discriminator.lr'][0] == pytest.approx(1e-4 * factor)


@pytest.mark.parametrize('name', ['pfr'])
def test_two_gloo_processes_keep_ranks_identical(name, small_roots, tmp_path):
    """PFR (joint generator backward, two optimizers) under 2 CPU
    processes: student and discriminator parameters are identical on both
    ranks after training, although each rank saw different images."""
    cfg = tiny_adversarial_cfg(name, small_roots, tmp_path / 'work',
                               max_iters=3)
    cfg.default_hooks.checkpoint.interval = 100  # no checkpoint needed
    cfg_path = str(tmp_path / 'tiny.py')
    cfg.dump(cfg_path)
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHON=sys.executable,
               PORT=str(free_port()))
    env['PYTHONPATH'] = REPO + os.pathsep + env.get('PYTHONPATH', '')
    res = run_process_tree(
        ['bash', osp.join(REPO, 'tools', 'dist_train.sh'), cfg_path, '2'],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]
    def load(tag, rank):
        return torch.load(tmp_path / 'work' / f'params_{tag}_rank{rank}.pth',
                          weights_only=True)

    init, ranks = load('init', 0), [load('final', r) for r in range(2)]
    assert ranks[0].keys() == ranks[1].keys() == init.keys()
    for prefix in ('student.', 'discriminator.'):
        keys = [k for k in init if k.startswith(prefix)]
        assert keys
        # trained (so gradients flowed) and identical across ranks
        assert any(not torch.equal(init[k], ranks[0][k]) for k in keys)
        for k in keys:
            assert torch.equal(ranks[0][k], ranks[1][k]), k
