"""Helpers of the end-to-end training tests (tests/test_tools/test_*_e2e.py)
and of the 2-process runs: tiny configs of the MIC and adversarial zoo
configs on the small synthetic data (``small_roots`` fixture of
tests/conftest.py) and test-only hooks. The training processes import this
module through ``custom_imports``."""
import copy
import os
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from tests.helpers import REPO

MIC_CONFIGS = dict(
    daformer='configs/mic/'
    'mic-daformer_mitb5_1xb2-40k_gta2cityscapes-512x512.py',
    hrda='configs/mic/mic-hrda_mitb5_1xb2-40k_gta2cityscapes-1024x1024.py')
ADVERSARIAL_CONFIGS = dict(
    advseg='configs/advseg/'
    'advseg_deeplabv2-r101_1xb1-150k_gta2cityscapes-512x512.py',
    pfr='configs/pfr/pfr_deeplabv2-r101_1xb1-150k_gta2cityscapes-512x512.py',
    source_only='configs/source_only/'
    'deeplabv2_r101_1xb1-150k_gta2cityscapes-512x512.py')
SYNTHETIC = 'configs/_base_/datasets/synthetic_uda.py'
CROP = (64, 64)
FAST_CONFIG_ENV = 'MMSEG_UDA_TEST_UNFORMATTED_CONFIG'


def _unformatted(code, **kwargs):
    return code, False


# mmengine formats the config with yapf three times per Runner (log, dump,
# visualizer): ~3 s each on a loaded CPU, most of a tiny run. The 2-process
# run imports this module (custom_imports) and skips it when asked to.
if os.environ.get(FAST_CONFIG_ENV) == '1':
    import mmengine.config.config as _mmengine_config
    _mmengine_config.FormatCode = _unformatted


@HOOKS.register_module(force=True)
class MICRankParamsDumpHook(Hook):
    """Test-only: every rank saves its student's parameters after
    training (the checkpoint is written by rank 0 only)."""

    def after_train(self, runner):
        model = getattr(runner.model, 'module', runner.model)
        params = {
            k.replace('.module.', '.'): v.detach().clone()
            for k, v in model.named_parameters() if k.startswith('student.')
        }
        torch.save(params, osp.join(runner.work_dir,
                                    f'params_rank{runner.rank}.pth'))


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


def _short_run(cfg, work_dir, max_iters):
    """Checkpoint at the end, log every iteration, seed 0, in work_dir."""
    cfg.default_hooks.checkpoint.interval = max_iters
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.visualization = dict(type='SegVisualizationHook')
    cfg.env_cfg.mp_cfg = dict(mp_start_method='fork', opencv_num_threads=1)
    cfg.randomness = dict(seed=0)
    cfg.work_dir = str(work_dir)


def small_synthetic_loaders(roots, crop):
    """Training (UDA, batch 1, no RCS) and val dataloaders of the synthetic
    base at 96x64 images and ``crop`` crops on ``roots``, and its
    evaluator."""
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
    train.update(batch_size=1, num_workers=0, persistent_workers=False)
    val = copy.deepcopy(data.val_dataloader)
    val.dataset.data_root = roots['cityscapes']
    for t in val.dataset.pipeline:
        if t.type == 'Resize':
            t.scale = (96, 64)
    val.update(num_workers=0, persistent_workers=False)
    return train, val, data.val_evaluator


def tiny_mic_cfg(name, roots, work_dir, max_iters=2):
    """The zoo config ``name`` with a tiny MiT, 64x64 crops (HRDA: 32x32
    context and detail crops) and the synthetic data."""
    cfg = Config.fromfile(osp.join(REPO, MIC_CONFIGS[name]))
    train, val, evaluator = small_synthetic_loaders(roots, CROP)
    cfg.train_dataloader = train
    cfg.val_dataloader = cfg.test_dataloader = val
    cfg.val_evaluator = cfg.test_evaluator = evaluator

    seg = cfg.model.segmentor
    seg.data_preprocessor.size = CROP
    if cfg.get('data_preprocessor'):  # the top-level one, kept consistent
        cfg.data_preprocessor.size = CROP
    seg.backbone.update(embed_dims=8, num_layers=[1, 1, 1, 1],
                        num_heads=[1, 2, 4, 8], init_cfg=None)
    seg.decode_head.update(in_channels=[8, 16, 32, 64], channels=16,
                           norm_cfg=dict(type='BN', requires_grad=True))
    seg.decode_head.decoder_params.embed_dims = 16
    seg.decode_head.decoder_params.fusion_cfg.norm_cfg = dict(
        type='BN', requires_grad=True)
    if name == 'hrda':
        seg.hr_crop_size = (32, 32)
        seg.decode_head.attention_embed_dim = 8
        seg.test_cfg.update(crop_size=CROP, stride=(32, 32))
        cfg.model.mic.mask_generator.block_size = 8  # 64 at 1024 crops
    else:
        cfg.model.mic.mask_generator.block_size = 4  # 32 at 512 crops
        cfg.model.update(pseudo_weight_ignore_top=2,
                         pseudo_weight_ignore_bottom=15)
    cfg.train_cfg.update(max_iters=max_iters, val_interval=max_iters)
    cfg.param_scheduler[0].update(max_iters=max_iters, warmup_iters=1)
    _short_run(cfg, work_dir, max_iters)
    cfg.custom_hooks = cfg.custom_hooks + [
        dict(type='MICRankParamsDumpHook')
    ]
    cfg.custom_imports = dict(
        imports=['mmseg_uda', 'tests.e2e_helpers'],
        allow_failed_imports=False)
    return cfg


def tiny_adversarial_cfg(name, roots, work_dir, max_iters=2, crop=(64, 64)):
    """The zoo config ``name`` with a narrow ResNet-18, 64x64 crops and
    the synthetic data."""
    cfg = Config.fromfile(osp.join(REPO, ADVERSARIAL_CONFIGS[name]))
    train, val, evaluator = small_synthetic_loaders(roots, crop)
    if name == 'source_only':
        train = dict(batch_size=1, num_workers=0, persistent_workers=False,
                     sampler=dict(type='InfiniteSampler', shuffle=True),
                     dataset=train.dataset.source)
    cfg.train_dataloader = train
    cfg.val_dataloader = cfg.test_dataloader = val
    cfg.val_evaluator = cfg.test_evaluator = evaluator

    seg = cfg.model.segmentor if name != 'source_only' else cfg.model
    # the segmentor's (and the top-level one, kept consistent)
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
    _short_run(cfg, work_dir, max_iters)
    cfg.custom_hooks = [dict(type='RankParamsDumpHook')]
    cfg.custom_imports = dict(
        imports=['mmseg_uda', 'tests.e2e_helpers'],
        allow_failed_imports=False)
    return cfg


def resumed_run(cfg, checkpoint: str):
    """Trains ``cfg`` resumed from ``checkpoint`` (weights, optimizers,
    schedules, iteration) and returns the runner."""
    from mmengine.runner import Runner
    cfg.resume = True
    cfg.load_from = checkpoint
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner
