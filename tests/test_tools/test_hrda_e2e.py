"""HRDA experiment configs and end-to-end CPU runs.

- The zoo configs (``configs/hrda``, ``configs/source_only/hrda_*``) and the
  quick-start parse, carry HRDA's DACS settings and build their model (with
  a tiny backbone for the zoo).
- The tiny HRDA + DACS quick-start on the synthetic data (128x128 crops,
  64x64 detail crops): train with validation, checkpoint, resume (the EMA
  teacher continues from the checkpoint), and ``tools/test.py`` on the
  resumed checkpoint reproduces the in-run validation.
- ``tools/dist_train.sh`` with 2 gloo processes: student and teacher are
  identical on both ranks and equal to rank 0's checkpoint.
"""
import copy
import glob
import os
import os.path as osp
import re
import socket
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import MODEL_WRAPPERS as ROOT_MODEL_WRAPPERS
from mmengine.runner import Runner
from mmseg.registry import HOOKS, MODELS, TRANSFORMS

import mmseg_uda  # noqa: F401
from mmseg_uda.models.utils import unwrap
from tests.helpers import REPO, run_tool

BENCHMARKS = ('gta2cityscapes', 'synthia2cityscapes', 'cityscapes2acdc',
              'cityscapes2darkzurich')
ZOO = {
    b: osp.join(REPO, 'configs', 'hrda',
                f'hrda_mitb5_1xb2-40k_{b}-1024x1024.py')
    for b in BENCHMARKS
}
SOURCE_ONLY = {
    b: osp.join(REPO, 'configs', 'source_only',
                f'hrda_mitb5_1xb2-40k_{b}-1024x1024.py')
    for b in BENCHMARKS
}
QUICKSTART = osp.join(REPO, 'configs', 'quickstart',
                      'hrda_mit-tiny_1xb2-1k_synthetic-256x256.py')
# The synthetic_data fixture's native image sizes (W, H).
SOURCE_SIZE, TARGET_SIZE = (320, 180), (256, 128)


# ------------------------------------------------------------------ configs
def _shrink(seg: dict) -> None:
    """Tiny MiT/heads in place of MiT-B5 (structure kept), no weights."""
    seg.backbone.update(
        embed_dims=8, num_layers=[1, 1, 1, 1], num_heads=[1, 1, 2, 2],
        init_cfg=None)
    seg.decode_head.update(
        in_channels=[8, 16, 32, 64], channels=16, attention_embed_dim=16)
    seg.decode_head.decoder_params.embed_dims = 16


def _transforms(pipeline, name):
    return [t for t in pipeline if t['type'] == name]


def _check_hrda_segmentor(seg, crop=1024):
    assert seg.type == 'HRDAEncoderDecoder'
    assert seg.decode_head.type == 'HRDAHead'
    assert seg.scales == [1, 0.5] and seg.feature_scale == 0.5
    assert seg.hr_crop_size == (crop // 2, crop // 2)
    assert seg.crop_coord_divisible == 8
    assert seg.decode_head.hr_loss_weight == 0.1
    assert seg.decode_head.lr_loss_weight == 0
    assert seg.data_preprocessor.size == (crop, crop)
    assert seg.test_cfg.mode == 'slide'
    assert seg.test_cfg.crop_size == (crop, crop)
    assert seg.test_cfg.stride == (crop // 2, crop // 2)


def _check_schedule(cfg, max_iters=40000, warmup=1500, lr=6e-5):
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.optim_wrapper.optimizer.lr == lr
    keys = cfg.optim_wrapper.paramwise_cfg.custom_keys
    assert keys.head.lr_mult == 10.0
    assert keys.pos_block.decay_mult == 0.0
    assert cfg.optim_wrapper.paramwise_cfg.norm_decay_mult == 0.0
    (sched, ) = cfg.param_scheduler
    assert sched.type == 'WarmupPolyLR' and sched.power == 1.0
    assert (sched.max_iters, sched.warmup_iters) == (max_iters, warmup)
    assert sched.warmup_ratio == 1e-6
    assert cfg.train_cfg.max_iters == max_iters


def _check_dataset(cfg, path, crop=1024):
    uda = cfg.train_dataloader.dataset
    assert cfg.train_dataloader.batch_size == 2
    for pipeline in (uda.source.pipeline, uda.target.pipeline):
        assert _transforms(pipeline, 'RandomCrop')[0].crop_size == (crop,
                                                                    crop)
        for t in pipeline:
            assert TRANSFORMS.get(t['type']) is not None, t['type']
    assert _transforms(uda.source.pipeline,
                       'RandomCrop')[0].cat_max_ratio == 0.75
    assert uda.rare_class_sampling.min_crop_ratio == 2.0
    assert uda.rare_class_sampling.class_temp == 0.01
    # HRDA's ignore region is the target's valid_pseudo_mask (Cityscapes
    # targets only), not fixed rows
    mask = _transforms(uda.target.pipeline, 'GenerateValidPseudoMask')
    assert bool(mask) == ('2cityscapes' in osp.basename(path)
                          or 'synthetic' in osp.basename(path))
    if mask:
        assert mask[0].margins == (30, 240, 30, 30)


def _check_dacs(model):
    assert model.type == 'DACS'
    assert model.pseudo_threshold == 0.968
    assert model.pseudo_weight_ignore_top == 0
    assert model.pseudo_weight_ignore_bottom == 0
    assert model.imnet_feature_dist.loss_weight == 0.005
    assert model.get('mic') is None


def test_zoo_names():
    # the MiT-B5 zoo (HRDA on mmseg's models: tests/test_configs.py)
    found = {osp.basename(p) for p in glob.glob(
        osp.join(REPO, 'configs', 'hrda', 'hrda_mitb5_*.py'))}
    assert found == {osp.basename(p) for p in ZOO.values()}
    assert all(osp.isfile(p) for p in SOURCE_ONLY.values())


@pytest.mark.parametrize('benchmark', BENCHMARKS)
def test_hrda_zoo_config_parses_and_builds(benchmark):
    path = ZOO[benchmark]
    cfg = Config.fromfile(path)
    _check_dacs(cfg.model)
    _check_hrda_segmentor(cfg.model.segmentor)
    assert cfg.model.segmentor.backbone.init_cfg.checkpoint == \
        'pretrained/mit_b5.pth'
    assert cfg.model.segmentor.backbone.embed_dims == 64
    assert cfg.model.segmentor.backbone.num_layers == [3, 6, 40, 3]
    assert cfg.custom_hooks == [
        dict(type='EMATeacherHook', alpha=0.999),
        dict(type='UDAVisualizationHook', interval=1000),
        dict(type='RandomStateHook'),
        dict(type='SelfTrainingHealthHook'),
    ]
    # resolvable the way Runner.wrap_model looks it up (no default scope)
    wrapper = ROOT_MODEL_WRAPPERS.get(cfg.model_wrapper_cfg.type)
    assert wrapper.__name__ == 'UDADistributedDataParallel'
    assert cfg.train_cfg.type == 'UDAIterBasedTrainLoop'
    assert cfg.train_cfg.val_interval == 4000
    assert cfg.data_preprocessor.size == (1024, 1024)
    _check_schedule(cfg)
    _check_dataset(cfg, path)

    _shrink(cfg.model.segmentor)
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'DACS'
    assert type(model.student).__name__ == 'HRDAEncoderDecoder'
    assert type(model.teacher).__name__ == 'HRDAEncoderDecoder'
    assert model.imnet_backbone is not None
    assert model.ignore_top == model.ignore_bottom == 0
    assert not any(p.requires_grad for p in model.teacher.parameters())
    keys = model.state_dict().keys()
    assert any(k.startswith('student.decode_head.scale_attention.')
               for k in keys)
    assert any(k.startswith('teacher.decode_head.head.') for k in keys)


@pytest.mark.parametrize('benchmark', BENCHMARKS)
def test_hrda_source_only_config_parses_and_builds(benchmark):
    path = SOURCE_ONLY[benchmark]
    cfg = Config.fromfile(path)
    _check_hrda_segmentor(cfg.model)
    assert cfg.train_cfg.type == 'IterBasedTrainLoop'
    assert cfg.train_dataloader.sampler.type == 'InfiniteSampler'
    assert cfg.train_dataloader.batch_size == 2
    source = cfg.train_dataloader.dataset
    assert source.type in ('GTA5Dataset', 'SynthiaDataset',
                           'CityscapesDataset')
    assert _transforms(source.pipeline,
                       'RandomCrop')[0].crop_size == (1024, 1024)
    # exact resume and a stream independent of the validation interval
    assert cfg.custom_hooks == [dict(type='RandomStateHook')]
    _check_schedule(cfg)
    _shrink(cfg.model)
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'HRDAEncoderDecoder'


def test_quickstart_config_builds_unchanged():
    cfg = Config.fromfile(QUICKSTART)
    _check_dacs(cfg.model)
    _check_hrda_segmentor(cfg.model.segmentor, crop=256)
    assert cfg.data_preprocessor.size == (256, 256)
    assert cfg.model.segmentor.backbone.init_cfg is None
    _check_dataset(cfg, QUICKSTART, crop=256)
    _check_schedule(cfg, max_iters=1000, warmup=100, lr=6e-4)
    assert cfg.custom_hooks == [
        dict(type='EMATeacherHook', alpha=0.999),
        dict(type='UDAVisualizationHook', interval=1000),
        dict(type='RandomStateHook'),
        dict(type='SelfTrainingHealthHook'),
    ]
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.student.parameters()) < 1_000_000


# ------------------------------------------------------------- end to end
def tiny_cfg(roots, work_dir, max_iters):
    """The HRDA quick-start on the synthetic data at native size, 128x128
    crops, 64x64 detail crops, 128x128 test windows, 2 val images;
    validation and checkpoint at ``max_iters``, even iterations too."""
    cfg = Config.fromfile(QUICKSTART)
    uda = cfg.train_dataloader.dataset
    uda.source.data_root = roots['gta']
    uda.target.data_root = roots['cityscapes']
    val = cfg.val_dataloader
    val.dataset.data_root = roots['cityscapes']
    val.dataset.indices = 2
    for pipeline, size in ((uda.source.pipeline, SOURCE_SIZE),
                           (uda.target.pipeline, TARGET_SIZE),
                           (val.dataset.pipeline, TARGET_SIZE)):
        for t in pipeline:
            if t.type == 'RandomCrop':
                t.crop_size = (128, 128)
            if t.type == 'Resize':
                t.scale = size
    seg = cfg.model.segmentor
    # the segmentor's pad size (the top-level one kept consistent)
    cfg.data_preprocessor.size = seg.data_preprocessor.size = (128, 128)
    seg.hr_crop_size = (64, 64)
    seg.test_cfg.update(crop_size=(128, 128), stride=(64, 64))
    for loader in (cfg.train_dataloader, val):
        loader.update(num_workers=0, persistent_workers=False)
    cfg.test_dataloader = copy.deepcopy(val)
    cfg.train_cfg.update(max_iters=max_iters, val_interval=2)
    cfg.default_hooks.checkpoint.update(interval=2, max_keep_ckpts=3)
    cfg.default_hooks.logger.interval = 1
    cfg.randomness = dict(seed=0)
    cfg.work_dir = str(work_dir)
    return cfg


class Probe(Hook):
    """Records the training outputs, the ImageNet model's inputs (feature
    distance), the validation metrics and the teacher after its update."""

    priority = 'LOWEST'  # after EMATeacherHook

    def __init__(self):
        self.outputs, self.fd_inputs, self.metrics = [], [], []
        self.masks, self.teachers, self.start = [], {}, None

    def before_train(self, runner):
        model = unwrap(runner.model)
        self.start = runner.iter
        model.imnet_backbone.register_forward_hook(
            lambda m, args, out: self.fd_inputs.append(tuple(args[0].shape)))

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        teacher = unwrap(runner.model).teacher
        self.teachers[runner.iter] = {
            k: v.detach().clone() for k, v in teacher.named_parameters()}

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.outputs.append(outputs)
        self.masks.append([
            'valid_pseudo_mask' in s
            for s in data_batch['target']['data_samples']])

    def after_val_epoch(self, runner, metrics=None):
        self.metrics.append((runner.iter, metrics))


def _params(state, prefix):
    return {k[len(prefix):]: v for k, v in state.items()
            if k.startswith(prefix)}


def test_train_val_resume_and_test_tool(synthetic_data, tmp_path):
    work = tmp_path / 'work'
    cfg = tiny_cfg(synthetic_data, work, max_iters=2)
    runner = Runner.from_cfg(copy.deepcopy(cfg))
    probe = Probe()
    runner.register_hook(probe)
    runner.train()
    assert runner.iter == 2
    for out in probe.outputs:
        for key in ('src.decode.loss_ce', 'src.decode.hr.loss_ce',
                    'src.loss_imnet_feat_dist', 'pseudo_weight',
                    'mix.decode.loss_ce', 'mix.decode.hr.loss_ce'):
            assert torch.isfinite(out[key]), (key, out)
    assert probe.masks == [[True, True]] * 2
    # feature distance on the low-resolution context crop (128 / 2)
    assert probe.fd_inputs and set(probe.fd_inputs) == {(2, 3, 64, 64)}
    ((it, metrics), ) = probe.metrics
    assert it == 2 and 0 <= metrics['mIoU'] <= 100

    ckpt = torch.load(work / 'iter_2.pth', map_location='cpu',
                      weights_only=False)
    state = ckpt['state_dict']
    student, teacher = _params(state, 'student.'), _params(state, 'teacher.')
    assert student.keys() == teacher.keys()
    for part in ('decode_head.head.', 'decode_head.scale_attention.'):
        assert any(k.startswith(part) for k in student)
    assert any(k.startswith('imnet_backbone.') for k in state)
    # the teacher is an EMA, not the student
    assert any(not torch.equal(student[k], teacher[k]) for k in student)

    # resume to 3 iterations: the teacher and student come from the
    # checkpoint and the EMA continues with a_2 = 2/3
    cfg = tiny_cfg(synthetic_data, work, max_iters=3)
    cfg.resume = True
    runner = Runner.from_cfg(copy.deepcopy(cfg))
    probe = Probe()
    runner.register_hook(probe)
    runner.train()
    assert probe.start == 2 and runner.iter == 3
    assert list(probe.teachers) == [2]
    for name, value in probe.teachers[2].items():
        expected = 2 / 3 * teacher[name] + 1 / 3 * student[name]
        torch.testing.assert_close(value, expected, rtol=0, atol=1e-6)
    ((it, metrics), ) = probe.metrics
    assert it == 3 and osp.isfile(work / 'iter_3.pth')
    # the resumed iteration 2 used the 1k schedule's learning rate at t=2
    lr = runner.optim_wrapper.get_lr()['lr'][0]
    assert lr == pytest.approx(6e-4 * (1 - 2 / 1000) *
                               (1 - (1 - 2 / 100) * (1 - 1e-6)), rel=1e-9)

    # tools/test.py on the resumed checkpoint reproduces the validation
    cfg_path = str(tmp_path / 'tiny_hrda.py')
    cfg.dump(cfg_path)
    preds = tmp_path / 'preds'
    proc = run_tool([
        'tools/test.py', cfg_path,
        str(work / 'iter_3.pth'), '--work-dir',
        str(tmp_path / 'test'), '--out',
        str(preds)
    ], timeout=600)
    assert proc.returncode == 0, proc.stdout[-5000:]
    found = re.findall(r'mIoU: ([0-9.]+)', proc.stdout)
    assert found, proc.stdout[-3000:]
    assert float(found[-1]) == pytest.approx(metrics['mIoU'], abs=1e-6)
    assert len(glob.glob(str(preds / '*.png'))) == 2


# ---------------------------------------------------------- 2 processes
@HOOKS.register_module(force=True)
class HRDARankStateDumpHook(Hook):
    """Test-only: every rank saves its student and teacher parameters and
    the image paths of its first batch (checkpoints are rank 0's only)."""

    def before_train(self, runner):
        self.paths = None
        self._dump(runner, 'init')

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if self.paths is None:
            self.paths = [
                s.img_path for branch in ('source', 'target')
                for s in data_batch[branch]['data_samples']]

    def after_train(self, runner):
        self._dump(runner, 'final')

    def _dump(self, runner, tag):
        model = unwrap(runner.model)
        state = {
            k.replace('.module.', '.'): v.detach().clone()
            for k, v in model.named_parameters()
            if k.startswith(('student.', 'teacher.'))
        }
        torch.save(dict(params=state, paths=self.paths),
                   osp.join(runner.work_dir, f'{tag}_rank{runner.rank}.pth'))


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_dist_train_two_gloo_processes_keep_ranks_identical(
        synthetic_data, tmp_path):
    work = tmp_path / 'work'
    cfg = tiny_cfg(synthetic_data, tmp_path / 'unused', max_iters=100)
    cfg.custom_hooks.append(dict(type='HRDARankStateDumpHook'))
    cfg.custom_imports.imports.append('tests.test_tools.test_hrda_e2e')
    cfg_path = str(tmp_path / 'tiny_hrda.py')
    cfg.dump(cfg_path)
    env = dict(PYTHON=sys.executable, PORT=str(_free_port()),
               PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = run_tool([
        osp.join(REPO, 'tools', 'dist_train.sh'), cfg_path, '2',
        '--work-dir', str(work), '--cfg-options', 'train_cfg.max_iters=2',
        'default_hooks.checkpoint.interval=2'
    ], env_extra=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-6000:]

    def load(tag, rank):
        return torch.load(work / f'{tag}_rank{rank}.pth', weights_only=True)

    init = load('init', 0)['params']
    ranks = [load('final', r) for r in range(2)]
    # each rank trained on its own images...
    assert ranks[0]['paths'] != ranks[1]['paths']
    params = [r['params'] for r in ranks]
    assert params[0].keys() == params[1].keys() == init.keys()
    student = [k for k in init if k.startswith('student.')]
    teacher = [k for k in init if k.startswith('teacher.')]
    assert student and len(student) == len(teacher)
    # ...and yet, after 2 iterations, student and teacher are the same on
    # both ranks, trained, and are what rank 0 saved
    assert any(not torch.equal(init[k], params[0][k]) for k in student)
    assert any(not torch.equal(params[0][k], params[0]['teacher.' + k[8:]])
               for k in student)
    ckpt = torch.load(work / 'iter_2.pth', map_location='cpu',
                      weights_only=False)['state_dict']
    # plain keys (no DDP `.module.`): a non-distributed run (tools/test.py)
    # loads the student of a distributed run
    assert not [k for k in ckpt if '.module.' in k]
    for k in student + teacher:
        assert torch.equal(params[0][k], params[1][k]), k
        assert torch.equal(ckpt[k], params[1][k]), k
