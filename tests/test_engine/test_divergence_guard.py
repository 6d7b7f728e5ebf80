"""Divergence guard: a NaN loss stops the run with a message naming the
loss term and the iteration, before the weights, the EMA teacher or a
checkpoint see it; ``action='skip'`` skips the step instead."""
import os.path as osp

import pytest
import torch
from mmengine.hooks import Hook

from mmseg_uda.engine.hooks import NonFiniteGuardHook
from tests.test_engine.ft_helpers import (
    build_runner,
    daformer_cfg,
)


class InjectNaN(Hook):
    """Make the mixed (second) student loss of iteration ``at`` NaN."""
    priority = 'HIGHEST'

    def __init__(self, at):
        self.at = at
        self.calls = 0
        self.snapshot = None

    def before_train(self, runner):
        head = runner.model.student.decode_head
        original = head.loss

        def loss(*args, **kwargs):
            losses = original(*args, **kwargs)
            if runner.iter + 1 == self.at:
                self.calls += 1
                if self.calls == 2:  # source first, then mixed
                    losses['loss_ce'] = losses['loss_ce'] * float('nan')
            return losses

        head.loss = loss

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 == self.at:
            self.snapshot = {
                k: v.detach().clone()
                for k, v in runner.model.state_dict().items()
                if 'student' in k or 'teacher' in k
            }


def _params_finite(model):
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def test_nan_loss_stops_with_the_term_and_iteration(synthetic_roots,
                                                     tmp_path):
    cfg = daformer_cfg(synthetic_roots, tmp_path / 'run', max_iters=4,
                       ckpt_interval=1)
    inject = InjectNaN(at=2)
    runner = build_runner(cfg, hooks=[inject])
    with pytest.raises(FloatingPointError) as exc:
        runner.train()
    message = str(exc.value)
    assert 'iteration 2' in message
    assert "'mix.decode.loss_ce' = nan" in message
    assert 'non-finite gradient of student.' in message
    assert 'src.decode.loss_ce' not in message  # finite terms not blamed
    # The step was not applied: weights as before iteration 2 (BN
    # statistics move in every forward), no checkpoint of iteration 2.
    assert _params_finite(runner.model)
    params = dict(runner.model.named_parameters())
    for name, value in inject.snapshot.items():
        if name in params and params[name].requires_grad:
            assert torch.equal(params[name].detach(), value), name
    assert osp.isfile(str(tmp_path / 'run' / 'iter_1.pth'))
    assert not osp.exists(str(tmp_path / 'run' / 'iter_2.pth'))
    with open(str(tmp_path / 'run' / 'last_checkpoint')) as f:
        assert f.read().strip().endswith('iter_1.pth')


def test_skip_mode_skips_the_step_and_goes_on(synthetic_roots, tmp_path):
    cfg = daformer_cfg(synthetic_roots, tmp_path / 'run', max_iters=3,
                       ckpt_interval=10)
    cfg.default_hooks.nonfinite.action = 'skip'
    runner = build_runner(cfg, hooks=[InjectNaN(at=2)])
    runner.train()
    guard = [h for h in runner.hooks if isinstance(h, NonFiniteGuardHook)]
    assert len(guard) == 1 and guard[0].skipped == 1
    assert _params_finite(runner.model)
    assert runner.iter == 3


def test_guard_rejects_unknown_action():
    with pytest.raises(ValueError, match='raise'):
        NonFiniteGuardHook(action='ignore')
