"""Pre-emption: on SIGTERM the run finishes its iteration, saves a
checkpoint and exits cleanly; ``--resume`` continues from it."""
import os
import os.path as osp
import re
import signal
import subprocess
import sys
import time

import pytest
from mmengine.hooks import Hook

from mmseg_uda.engine.hooks import PreemptionHook
from mmseg_uda.utils.checkpoint_safety import checkpoint_problem
from tests.test_engine.ft_helpers import (
    REPO,
    LossRecorder,
    build_runner,
    daformer_cfg,
)


def _wait_for(predicate, proc, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.5)
    return False


@pytest.mark.skipif(not hasattr(signal, 'SIGTERM'), reason='POSIX only')
def test_sigterm_saves_and_exits_cleanly(synthetic_roots, tmp_path):
    work_dir = tmp_path / 'run'
    cfg = daformer_cfg(synthetic_roots, work_dir, max_iters=1000,
                       ckpt_interval=1000)
    cfg_path = str(tmp_path / 'cfg.py')
    cfg.dump(cfg_path)
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO)
    env.pop('MMSEG_UDA_PREEMPT_EXIT_CODE', None)
    out_path = tmp_path / 'out.txt'
    out_file = open(out_path, 'w')  # not a pipe: it would fill and block
    proc = subprocess.Popen(
        [sys.executable, osp.join(REPO, 'tools', 'train.py'), cfg_path,
         '--work-dir', str(work_dir)],
        cwd=REPO, env=env, stdout=out_file, stderr=subprocess.STDOUT)
    try:
        log_seen = []

        def trained_two():
            logs = [osp.join(dp, f) for dp, _, fs in os.walk(work_dir)
                    for f in fs if f.endswith('.log')]
            for log in logs:
                with open(log) as f:
                    if 'Iter(train) [   2/1000]' in f.read():
                        log_seen.append(log)
                        return True
            return False

        assert _wait_for(trained_two, proc, 300), 'training did not start'
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        out_file.close()
    out = out_path.read_text()
    assert proc.returncode == 0, out[-3000:]
    match = re.search(r'Received SIGTERM: saved the checkpoint of iteration '
                      r'(\d+) to (\S+iter_\d+\.pth)', out)
    assert match, out[-3000:]
    step, path = int(match.group(1)), match.group(2)
    assert 2 <= step < 1000
    assert checkpoint_problem(path) is None
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read().strip() == path
    # it stopped right after that iteration
    assert f'Iter(train) [{step + 1:>4}/1000]' not in out

    # --resume continues from it (here: one more iteration)
    cfg.train_cfg.max_iters = step + 1
    recorder = LossRecorder()
    build_runner(cfg, resume=True, hooks=[recorder]).train()
    assert sorted(recorder.losses) == [step]


class _SendSignal(Hook):
    priority = 'HIGHEST'

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 == 2:
            os.kill(os.getpid(), signal.SIGTERM)


def test_preemption_exit_code_and_handler_restored(synthetic_roots,
                                                   tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    cfg = daformer_cfg(synthetic_roots, tmp_path / 'run', max_iters=50,
                       ckpt_interval=100)
    cfg.default_hooks.preemption.exit_code = 75
    recorder = LossRecorder()
    runner = build_runner(cfg, hooks=[recorder, _SendSignal()])
    with pytest.raises(SystemExit) as exc:
        runner.train()
    assert exc.value.code == 75
    assert sorted(recorder.losses) == [0, 1]
    assert osp.isfile(str(tmp_path / 'run' / 'iter_2.pth'))
    hook = [h for h in runner.hooks if isinstance(h, PreemptionHook)][0]
    assert hook.preempted
    assert signal.getsignal(signal.SIGTERM) == before
