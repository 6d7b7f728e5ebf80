"""End-to-end CPU runs of tiny AdaptSegNet / PFR / source-only DeepLab-v2
configs (the zoo configs with a narrow ResNet-18 and 64x64 crops) on the
synthetic data: train, validate, checkpoint, resume, and a 2-process gloo
run through tools/dist_train.sh."""
import copy
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmseg.registry import HOOKS

import mmseg_uda  # noqa: F401
from mmseg_uda.datasets.synthetic import generate_synthetic_uda

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = dict(
    advseg='configs/advseg/'
    'advseg_deeplabv2-r101_1xb1-150k_gta2cityscapes-512x512.py',
    pfr='configs/pfr/pfr_deeplabv2-r101_1xb1-150k_gta2cityscapes-512x512.py',
    source_only='configs/source_only/'
    'deeplabv2_r101_1xb1-150k_gta2cityscapes-512x512.py')
SYNTHETIC = 'configs/_base_/datasets/synthetic_uda.py'


@HOOKS.register_module(force=True)
class RankParamsDumpHook(Hook):
    """Test-only: every rank saves its trainable parameters after training
    (the checkpoint is written by rank 0 only)."""

    def before_train(self, runner):
        self._dump(runner, 'init')

    def after_train(self, runner):
        self._dump(runner, 'final')

    @staticmethod
    def _dump(runner, tag):
        model = getattr(runner.model, 'module', runner.model)
        params = {
            k.replace('.module.', '.'): v.detach().clone()
            for k, v in model.named_parameters()
        }
        torch.save(params, osp.join(runner.work_dir,
                                    f'params_{tag}_rank{runner.rank}.pth'))


@pytest.fixture(autouse=True, scope='module')
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def roots(tmp_path_factory):
    out = tmp_path_factory.mktemp('synthetic_adv')
    return generate_synthetic_uda(
        str(out), num_source=6, num_target_train=4, num_target_val=2,
        source_size=(96, 64), target_size=(96, 64), seed=0)


def tiny_cfg(name, roots, work_dir, max_iters=2, crop=(64, 64)):
    """The zoo config ``name`` with a narrow ResNet-18, 64x64 crops and
    the synthetic data."""
    cfg = Config.fromfile(osp.join(REPO, CONFIGS[name]))
    data = Config.fromfile(osp.join(REPO, SYNTHETIC))
    train = copy.deepcopy(data.train_dataloader)
    for branch in ('source', 'target'):
        for t in train.dataset[branch].pipeline:
            if t.type == 'RandomCrop':
                t.crop_size = crop
            if t.type == 'Resize':
                t.scale = (96, 64)
    train.dataset.source.data_root = roots['gta']
    train.dataset.target.data_root = roots['cityscapes']
    train.dataset.rare_class_sampling = None
    train.batch_size = 1
    train.num_workers = 0
    train.persistent_workers = False
    if name == 'source_only':
        train = dict(batch_size=1, num_workers=0, persistent_workers=False,
                     sampler=dict(type='InfiniteSampler', shuffle=True),
                     dataset=train.dataset.source)
    cfg.train_dataloader = train
    val = copy.deepcopy(data.val_dataloader)
    val.dataset.data_root = roots['cityscapes']
    for t in val.dataset.pipeline:
        if t.type == 'Resize':
            t.scale = (96, 64)
    val.num_workers = 0
    val.persistent_workers = False
    cfg.val_dataloader = cfg.test_dataloader = val
    cfg.val_evaluator = cfg.test_evaluator = data.val_evaluator

    seg = cfg.model.segmentor if name != 'source_only' else cfg.model
    # the segmentor's and the top-level one (the Runner injects it)
    seg.data_preprocessor.size = crop
    cfg.data_preprocessor.size = crop
    seg.backbone.update(
        depth=18, base_channels=8, stem_channels=8, init_cfg=None,
        norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False)
    seg.decode_head.in_channels = 64
    if seg.get('auxiliary_head'):
        seg.auxiliary_head.in_channels = 32
    if name != 'source_only':
        for key in ('discriminator', 'aux_discriminator'):
            if cfg.model.get(key):
                cfg.model[key].channels = (16, 32, 32, 32)
    cfg.train_cfg.update(max_iters=max_iters, val_interval=max_iters)
    cfg.default_hooks.checkpoint.interval = max_iters
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.visualization = dict(type='SegVisualizationHook')
    cfg.env_cfg.mp_cfg = dict(mp_start_method='fork', opencv_num_threads=1)
    cfg.randomness = dict(seed=0)
    cfg.work_dir = str(work_dir)
    cfg.custom_hooks = [dict(type='RankParamsDumpHook')]
    cfg.custom_imports = dict(
        imports=['mmseg_uda', 'tests.test_models.test_adversarial_e2e'],
        allow_failed_imports=False)
    return cfg


@pytest.mark.parametrize('name', ['advseg', 'pfr', 'source_only'])
def test_train_validate_checkpoint_resume(name, roots, tmp_path):
    cfg = tiny_cfg(name, roots, tmp_path, max_iters=2)
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
    cfg = tiny_cfg(name, roots, tmp_path, max_iters=3)
    cfg.resume = True
    cfg.load_from = osp.join(tmp_path, 'iter_2.pth')
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 3
    factor = (1 - 3 / 250000)**0.9
    lrs = runner.optim_wrapper.get_lr()
    assert lrs['discriminator.lr'][0] == pytest.approx(1e-4 * factor)


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.parametrize('name', ['pfr'])
def test_two_gloo_processes_keep_ranks_identical(name, roots, tmp_path):
    """PFR (joint generator backward, two optimizers) under 2 CPU
    processes: student and discriminator parameters are identical on both
    ranks after training, although each rank saw different images."""
    cfg = tiny_cfg(name, roots, tmp_path / 'work', max_iters=3)
    cfg.default_hooks.checkpoint.interval = 100  # no checkpoint needed
    cfg_path = str(tmp_path / 'tiny.py')
    cfg.dump(cfg_path)
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHON=sys.executable,
               PORT=str(_free_port()))
    env['PYTHONPATH'] = REPO + os.pathsep + env.get('PYTHONPATH', '')
    res = subprocess.run(
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
