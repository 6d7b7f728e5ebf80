"""Helpers of the fault-tolerance tests: tiny configs of the quick-start
DAFormer / AdaptSegNet on the synthetic data (``synthetic_roots`` fixture of
tests/conftest.py), a runner builder, a loss recorder, a simulated kill, and
the kill-and-resume comparison."""
import copy
import os.path as osp
import random

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

import mmseg_uda  # noqa: F401 (registers the plugin)
from tests.helpers import on_synthetic_data

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DAFORMER_CFG = osp.join(REPO, 'configs', 'quickstart',
                        'daformer_mit-tiny_1xb2-1k_synthetic-128x128.py')
ADV_SCHEDULE = osp.join(REPO, 'configs', '_base_', 'schedules',
                        'sgd_adam_poly_150k.py')
ADV_UDA = osp.join(REPO, 'configs', '_base_', 'uda', 'advseg.py')

def set_crop(cfg, crop):
    for branch in ('source', 'target'):
        for t in cfg.train_dataloader.dataset[branch].pipeline:
            if t.type == 'RandomCrop':
                t.crop_size = (crop, crop)
    cfg.data_preprocessor.size = (crop, crop)
    seg = cfg.model.get('segmentor', cfg.model)
    seg.data_preprocessor.size = (crop, crop)


def daformer_cfg(roots, work_dir, max_iters=6, ckpt_interval=2,
                 val_interval=1000, random_state=True, crop=64) -> Config:
    """The quick-start DAFormer (tiny MiT + DAFormer head, DACS + RCS +
    feature distance + warmup) for a few CPU iterations on 64x64 crops
    (the 128x128 quick-start crops cost 10-40 s per iteration on a shared
    2-core machine, 64x64 about 1 s)."""
    cfg = Config.fromfile(DAFORMER_CFG)
    on_synthetic_data(cfg, roots)
    set_crop(cfg, crop)
    cfg.model.pseudo_weight_ignore_top = crop // 32
    cfg.model.pseudo_weight_ignore_bottom = crop * 15 // 64
    cfg.work_dir = str(work_dir)
    cfg.randomness = dict(seed=0)
    cfg.train_cfg.max_iters = max_iters
    cfg.train_cfg.val_interval = val_interval
    cfg.default_hooks.checkpoint.interval = ckpt_interval
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.pop('visualization', None)
    cfg.env_cfg.cudnn_benchmark = False
    if not random_state:
        cfg.custom_hooks = [
            h for h in cfg.custom_hooks if h.type != 'RandomStateHook'
        ]
    return cfg


def adversarial_cfg(roots, work_dir, max_iters=6, ckpt_interval=2) -> Config:
    """AdaptSegNet (single level) on a tiny DeepLab-v2 (narrow ResNet-18)
    with the adversarial schedule (SGD student, Adam discriminator)."""
    from tests.test_models.tiny_models import tiny_deeplabv2_segmentor
    cfg = daformer_cfg(roots, work_dir, max_iters, ckpt_interval)
    uda = Config.fromfile(ADV_UDA).uda
    sched = Config.fromfile(ADV_SCHEDULE)
    segmentor = tiny_deeplabv2_segmentor(num_classes=19, crop=(64, 64))
    uda.discriminator.channels = (8, 16, 32, 64)
    cfg.model = dict(segmentor=segmentor, **uda)
    cfg.optim_wrapper = sched.optim_wrapper
    cfg.param_scheduler = sched.param_scheduler
    cfg.custom_hooks = Config.fromfile(ADV_UDA).custom_hooks  # no EMA
    cfg.train_dataloader.dataset.rare_class_sampling = None
    return cfg


class LossRecorder(Hook):
    """Every logged value of every training iteration."""
    priority = 'LOWEST'

    def __init__(self):
        self.losses = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.losses[runner.iter] = {
            k: float(v)
            for k, v in (outputs or {}).items()
        }


class Killed(Exception):
    """Stands for the job being killed (no clean-up, no final save)."""


class KillAt(Hook):
    """Kill the run after iteration ``at`` (1-based, after its hooks: a
    checkpoint due at that iteration is written, as in a kill right after
    saving)."""
    priority = 'LOWEST'

    def __init__(self, at):
        self.at = at

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.at:
            raise Killed(f'killed after iteration {self.at}')


_RUN_ID = [0]


def build_runner(cfg, resume=False, hooks=()):
    cfg = copy.deepcopy(cfg)
    cfg.resume = resume
    _RUN_ID[0] += 1  # loggers and message hubs are per experiment name
    cfg.experiment_name = f'ft_{osp.basename(cfg.work_dir)}_{_RUN_ID[0]}'
    runner = Runner.from_cfg(cfg)
    for hook in hooks:
        runner.register_hook(hook)
    return runner


def final_state(runner) -> dict:
    model = runner.model
    state = {f'model.{k}': v.detach().clone()
             for k, v in model.state_dict().items()}
    optim = runner.optim_wrapper.state_dict()

    def flatten(prefix, node):
        if isinstance(node, dict):
            for k, v in node.items():
                flatten(f'{prefix}.{k}', v)
        elif isinstance(node, (list, tuple)):
            for i, v in enumerate(node):
                flatten(f'{prefix}.{i}', v)
        else:
            state[prefix] = node

    flatten('optim', optim)
    return state


def assert_states_equal(a: dict, b: dict):
    assert a.keys() == b.keys()
    for key in a:
        va, vb = a[key], b[key]
        if isinstance(va, torch.Tensor):
            assert torch.equal(va, vb), key
        else:
            assert va == vb, key


def run_kill_resume(cfg_fn, roots, tmp_path, max_iters=6, ckpt_interval=2,
                    kill_at=None, **cfg_kwargs):
    """Losses and final states of an uninterrupted run and of a run killed
    after ``kill_at`` and resumed (with another configured seed: the
    checkpoint's must win)."""
    if kill_at is None:
        kill_at = random.randint(ckpt_interval + 1, max_iters - 1)
    full_rec = LossRecorder()
    full = build_runner(
        cfg_fn(roots, tmp_path / 'full', max_iters, ckpt_interval,
               **cfg_kwargs), hooks=[full_rec])
    full.train()

    cut_cfg = cfg_fn(roots, tmp_path / 'cut', max_iters, ckpt_interval,
                     **cfg_kwargs)
    cut_rec = LossRecorder()
    cut = build_runner(cut_cfg, hooks=[cut_rec, KillAt(kill_at)])
    with pytest.raises(Killed):
        cut.train()
    assert sorted(cut_rec.losses) == list(range(kill_at))

    resumed_cfg = copy.deepcopy(cut_cfg)
    resumed_cfg.randomness = dict(seed=None)  # a new random seed
    res_rec = LossRecorder()
    resumed = build_runner(resumed_cfg, resume=True, hooks=[res_rec])
    resumed.train()
    last_ckpt = (kill_at // ckpt_interval) * ckpt_interval
    assert sorted(res_rec.losses) == list(range(last_ckpt, max_iters)), \
        f'kill_at={kill_at}'
    return dict(kill_at=kill_at, full=full_rec.losses, cut=cut_rec.losses,
                resumed=res_rec.losses, full_state=final_state(full),
                resumed_state=final_state(resumed))


def check_exact(result):
    kill_at = result['kill_at']
    full = result['full']
    for it, losses in result['cut'].items():
        assert losses == full[it], f'iteration {it}, kill_at={kill_at}'
    for it, losses in result['resumed'].items():
        assert losses == full[it], f'iteration {it}, kill_at={kill_at}'
    assert_states_equal(result['full_state'], result['resumed_state'])
