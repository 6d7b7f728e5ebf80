"""Safe checkpoints: a kill while saving never leaves ``last_checkpoint``
pointing at a truncated file, and ``resume`` falls back from a damaged
latest checkpoint to the previous good one, saying so."""
import glob
import os
import os.path as osp

import pytest
import torch
from mmengine.fileio import LocalBackend

from mmseg_uda.engine.hooks import SafeCheckpointHook
from mmseg_uda.utils.checkpoint_safety import (
    checkpoint_problem,
    find_resumable_checkpoint,
)
from tests.test_engine.ft_helpers import (
    Killed,
    LossRecorder,
    build_runner,
    daformer_cfg,
)


def _last(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def _log_text(runner):
    logs = glob.glob(osp.join(runner.log_dir, '*.log'))
    with open(logs[0]) as f:
        return f.read()


def test_checkpoint_problem(tmp_path):
    good = str(tmp_path / 'good.pth')
    torch.save({'w': torch.arange(1000.)}, good)
    assert checkpoint_problem(good) is None
    data = open(good, 'rb').read()
    cut = str(tmp_path / 'cut.pth')
    with open(cut, 'wb') as f:
        f.write(data[:len(data) // 2])
    assert 'not a complete' in checkpoint_problem(cut)
    flipped = bytearray(data)
    flipped[len(data) // 3] ^= 0xFF  # inside the tensor data
    bad = str(tmp_path / 'bad.pth')
    with open(bad, 'wb') as f:
        f.write(bytes(flipped))
    assert checkpoint_problem(bad) is not None
    open(str(tmp_path / 'empty.pth'), 'wb').close()
    assert checkpoint_problem(str(tmp_path / 'empty.pth')) == 'file is empty'
    assert 'does not exist' in checkpoint_problem(str(tmp_path / 'no.pth'))


def test_truncated_latest_checkpoint_falls_back(synthetic_roots, tmp_path):
    cfg = daformer_cfg(synthetic_roots, tmp_path / 'run', max_iters=3,
                       ckpt_interval=1)
    runner = build_runner(cfg)
    runner.train()
    # The schedule says max_keep_ckpts=1; the previous one is kept too.
    assert isinstance(
        [h for h in runner.hooks if h.__class__.__name__.endswith(
            'CheckpointHook')][0], SafeCheckpointHook)
    work_dir = str(tmp_path / 'run')
    assert {'iter_2.pth', 'iter_3.pth'} <= set(os.listdir(work_dir))
    assert not osp.exists(osp.join(work_dir, 'iter_1.pth'))
    latest = _last(work_dir)
    assert latest.endswith('iter_3.pth')
    size = osp.getsize(latest)
    with open(latest, 'r+b') as f:
        f.truncate(size // 2)

    assert find_resumable_checkpoint(work_dir).endswith('iter_2.pth')
    cfg.train_cfg.max_iters = 4
    recorder = LossRecorder()
    resumed = build_runner(cfg, resume=True, hooks=[recorder])
    resumed.train()
    assert sorted(recorder.losses) == [2, 3]  # iterations 3 and 4 again
    log = _log_text(resumed)
    assert f'Cannot resume from {latest}' in log
    assert 'Falling back to the previous checkpoint' in log
    assert 'iter_2.pth' in log


def test_kill_while_saving_keeps_last_checkpoint_valid(
        synthetic_roots, tmp_path, monkeypatch):
    cfg = daformer_cfg(synthetic_roots, tmp_path / 'run', max_iters=3,
                       ckpt_interval=1)
    work_dir = str(tmp_path / 'run')
    original = LocalBackend.put

    def dying_put(self, obj, filepath):
        if osp.basename(str(filepath)).startswith('iter_3'):
            with open(filepath, 'wb') as f:  # half written, then killed
                f.write(obj[:len(obj) // 2])
            raise Killed('killed while saving')
        return original(self, obj, filepath)

    monkeypatch.setattr(LocalBackend, 'put', dying_put)
    with pytest.raises(Killed):
        build_runner(cfg).train()
    monkeypatch.setattr(LocalBackend, 'put', original)

    # The partial file has a temporary name; last_checkpoint and the
    # previous checkpoints are intact.
    assert osp.exists(osp.join(work_dir, 'iter_3.pth.tmp'))
    assert not osp.exists(osp.join(work_dir, 'iter_3.pth'))
    latest = _last(work_dir)
    assert latest.endswith('iter_2.pth') and checkpoint_problem(
        latest) is None
    assert checkpoint_problem(osp.join(work_dir, 'iter_1.pth')) is None

    recorder = LossRecorder()
    build_runner(cfg, resume=True, hooks=[recorder]).train()
    assert sorted(recorder.losses) == [2]
    assert not osp.exists(osp.join(work_dir, 'iter_3.pth.tmp'))
    assert _last(work_dir).endswith('iter_3.pth')
    assert checkpoint_problem(_last(work_dir)) is None


def test_resume_with_no_complete_checkpoint_fails_clearly(synthetic_roots,
                                                          tmp_path):
    work_dir = tmp_path / 'run'
    work_dir.mkdir()
    bad = work_dir / 'iter_4.pth'
    bad.write_bytes(b'PK\x03\x04 truncated')
    (work_dir / 'last_checkpoint').write_text(str(bad))
    cfg = daformer_cfg(synthetic_roots, work_dir, max_iters=6)
    with pytest.raises(RuntimeError, match='no checkpoint of .* is complete'):
        build_runner(cfg, resume=True).train()
