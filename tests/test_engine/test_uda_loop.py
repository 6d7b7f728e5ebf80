import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.runner import Runner

import mmseg_uda.engine.runner  # noqa: F401 (registers the loop)
from mmseg_uda.datasets import UDADataset
from tests.e2e_helpers import SYNTHETIC
from tests.helpers import REPO, on_synthetic_data, record_calls


@pytest.fixture
def uda_cfg(synthetic_roots):
    """The synthetic UDA dataset base on the generated data."""
    return on_synthetic_data(Config.fromfile(osp.join(REPO, SYNTHETIC)),
                             synthetic_roots)

RECORD = []


class _RecordingModel(BaseModel):
    """Records the (source, target) image pairs of each training batch."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, inputs=None, data_samples=None, mode='tensor'):
        return self.w

    def train_step(self, data, optim_wrapper):
        RECORD.append([(osp.basename(s.img_path), osp.basename(t.img_path))
                       for s, t in zip(data['source']['data_samples'],
                                       data['target']['data_samples'])])
        loss = ((self.w - 1)**2).sum()
        optim_wrapper.update_params(loss)
        return {'loss': loss}


def _runner(uda_cfg, work_dir, max_iters, resume_from=None):
    loader = copy.deepcopy(uda_cfg.train_dataloader)
    loader.dataset.rare_class_sampling = None
    return Runner(
        model=_RecordingModel(),
        work_dir=str(work_dir),
        train_dataloader=loader,
        train_cfg=dict(type='UDAIterBasedTrainLoop', max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=3,
                            by_epoch=False),
            logger=dict(type='LoggerHook', interval=100)),
        log_processor=dict(by_epoch=False),
        randomness=dict(seed=5),
        default_scope='mmseg',
        load_from=resume_from,
        resume=resume_from is not None)


def test_resume_continues_the_sample_stream_without_reading_it(
        uda_cfg, tmp_path, monkeypatch):
    RECORD.clear()
    _runner(uda_cfg, tmp_path / 'a', 8).train()
    full = list(RECORD)
    assert len(full) == 8 and len({tuple(b) for b in full}) > 1

    calls = record_calls(monkeypatch, UDADataset, '__getitem__')
    RECORD.clear()
    runner = _runner(uda_cfg, tmp_path / 'b', 8,
                     resume_from=str(tmp_path / 'a' / 'iter_6.pth'))
    runner.train()  # loads through the plugin's weights-only allow-list
    assert RECORD == full[6:]
    # only the two remaining batches were loaded (batch size 2)
    assert len(calls) == 4
    assert [c['index'].k for c in calls] == [12, 13, 14, 15]
