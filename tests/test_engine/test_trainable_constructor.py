"""TrainableOptimWrapperConstructor: the optimizer of a DACS model holds
the student's parameters in exactly mmengine's parameter groups, and never
sees the EMA teacher or the frozen ImageNet backbone (no per-parameter
"requires_grad=False" log lines)."""
import copy
import logging

import pytest
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmseg.registry import MODELS

import mmseg_uda  # noqa: F401
from tests.helpers import QUICKSTART_DACS


@pytest.fixture(scope='module')
def model_and_cfg():
    cfg = Config.fromfile(QUICKSTART_DACS)
    # the configs' constructor (MergedGroupsOptimWrapperConstructor) is a
    # TrainableOptimWrapperConstructor that also merges the groups; this
    # file tests the per-parameter groups of its base
    assert cfg.optim_wrapper['constructor'] in (
        'TrainableOptimWrapperConstructor',
        'MergedGroupsOptimWrapperConstructor')
    optim_cfg = copy.deepcopy(cfg.optim_wrapper)
    optim_cfg['constructor'] = 'TrainableOptimWrapperConstructor'
    optim_cfg['optimizer'].pop('fused', None)
    return MODELS.build(cfg.model), optim_cfg


def _groups(optim_wrapper):
    return [(tuple(id(p) for p in g['params']), g['lr'], g['weight_decay'])
            for g in optim_wrapper.optimizer.param_groups]


class _Collect(logging.Handler):

    def __init__(self, lines):
        super().__init__()
        self.lines = lines

    def emit(self, record):
        self.lines.append(record.getMessage())


def _log_lines(fn):
    """(fn(), the messages the current mmengine logger got meanwhile)."""
    logger = MMLogger.get_current_instance()
    lines = []
    handler = _Collect(lines)
    logger.addHandler(handler)
    try:
        out = fn()
    finally:
        logger.removeHandler(handler)
    return out, lines


def test_same_groups_as_mmengine_without_the_frozen_modules(model_and_cfg):
    """Rules out a constructor that drops trained parameters or changes
    their lr/weight decay, and one that still passes the teacher."""
    model, optim_cfg = model_and_cfg
    assert optim_cfg['constructor'] == 'TrainableOptimWrapperConstructor'
    ours, lines = _log_lines(
        lambda: build_optim_wrapper(model, copy.deepcopy(optim_cfg)))
    default_cfg = copy.deepcopy(optim_cfg)
    default_cfg.pop('constructor')
    default, default_lines = _log_lines(
        lambda: build_optim_wrapper(model, default_cfg))
    assert _groups(ours) == _groups(default)  # frozen ones were skipped
    frozen = {id(p) for name in ('teacher', 'imnet_backbone')
              for p in getattr(model, name).parameters()}
    seen = {id(p) for g in ours.optimizer.param_groups for p in g['params']}
    assert seen == {id(p) for p in model.student.parameters()}
    assert not seen & frozen
    assert sum('requires_grad=False' in m for m in default_lines) > 50
    assert not any('requires_grad' in m for m in lines)
    assert any("['teacher', 'imnet_backbone']" in m for m in lines)


def test_without_paramwise_cfg_only_trained_parameters(model_and_cfg):
    model, optim_cfg = model_and_cfg
    cfg = copy.deepcopy(optim_cfg)
    cfg.pop('paramwise_cfg')
    ours = build_optim_wrapper(model, cfg)
    params = [p for g in ours.optimizer.param_groups for p in g['params']]
    assert len(params) == len(list(model.student.parameters()))
    assert all(p.requires_grad for p in params)
