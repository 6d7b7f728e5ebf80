"""End-to-end CPU runs of tiny MIC(DAFormer) and MIC(HRDA) (the zoo configs
with a tiny MiT and 64x64 crops) on the synthetic data: train with the debug
record on, validate, checkpoint, resume; and MIC(DAFormer) under 2 gloo
processes through tools/dist_train.sh."""
import copy
import os
import os.path as osp
import sys

import pytest
import torch
from mmengine.runner import Runner

import mmseg_uda  # noqa: F401
from tests.e2e_helpers import (
    CROP,
    FAST_CONFIG_ENV,
    REPO,
    _unformatted,
    resumed_run,
    tiny_mic_cfg,
)
from tests.processes import run_process_tree
from tests.test_engine.dist_launch import free_port


@pytest.fixture(autouse=True)
def _unformatted_config(monkeypatch):
    monkeypatch.setattr('mmengine.config.config.FormatCode', _unformatted)


@pytest.mark.parametrize('name', ['daformer', 'hrda'])
def test_train_validate_checkpoint_resume(name, small_roots, tmp_path):
    cfg = tiny_mic_cfg(name, small_roots, tmp_path, max_iters=2)
    runner = Runner.from_cfg(copy.deepcopy(cfg))
    runner.model.record_debug = True
    runner.train()
    scalars = runner.message_hub.log_scalars
    for key in ('train/mix.decode.loss_ce', 'train/mic.decode.loss_ce'):
        assert key in scalars, sorted(scalars)
        assert torch.isfinite(torch.tensor(scalars[key].current()))
    if name == 'hrda':
        assert 'train/mic.decode.hr.loss_ce' in scalars
    debug = runner.model.debug_output
    assert debug['masked_image'].shape == (1, 3, *CROP)
    assert debug['masked_pred'].shape == (1, 1, *CROP)
    assert torch.all(debug['masked_image'] * (1 - debug['mic_mask']) == 0)
    metrics = runner.val_loop.run()
    assert 0 <= metrics['mIoU'] <= 100
    ckpt = torch.load(osp.join(tmp_path, 'iter_2.pth'), map_location='cpu',
                      weights_only=False)
    state = ckpt['state_dict']
    assert any(k.startswith('student.decode_head.') for k in state)
    assert any(k.startswith('teacher.') for k in state)
    assert any(k.startswith('imnet_backbone.') for k in state)
    assert not any(k.startswith('mic.') for k in state)  # no state
    # resume continues the schedule with the checkpointed teacher
    runner = resumed_run(
        tiny_mic_cfg(name, small_roots, tmp_path, max_iters=3),
        osp.join(tmp_path, 'iter_2.pth'))
    assert runner.iter == 3


def test_two_gloo_processes_keep_ranks_identical(small_roots, tmp_path):
    """MIC(DAFormer) under 2 CPU processes (MIC is the stage that syncs the
    gradients): the students are identical on both ranks after training,
    although each rank saw different images."""
    cfg = tiny_mic_cfg('daformer', small_roots, tmp_path / 'work', max_iters=3)
    cfg.default_hooks.checkpoint.interval = 100  # no checkpoint needed
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.train_cfg.val_interval = 100
    cfg_path = str(tmp_path / 'tiny.py')
    cfg.dump(cfg_path)
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHON=sys.executable,
               PORT=str(free_port()), **{FAST_CONFIG_ENV: '1'})
    env['PYTHONPATH'] = REPO + os.pathsep + env.get('PYTHONPATH', '')
    res = run_process_tree(
        ['bash', osp.join(REPO, 'tools', 'dist_train.sh'), cfg_path, '2'],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    log = res.stdout + res.stderr
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]
    assert 'mic.decode.loss_ce' in log
    ranks = [
        torch.load(tmp_path / 'work' / f'params_rank{r}.pth',
                   weights_only=True) for r in range(2)
    ]
    assert ranks[0].keys() == ranks[1].keys() and ranks[0]
    for k, v in ranks[0].items():
        assert torch.equal(v, ranks[1][k]), k
