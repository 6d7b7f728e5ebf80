"""End-to-end CPU runs of tiny MIC(DAFormer) and MIC(HRDA) (the zoo configs
with a tiny MiT and 64x64 crops) on the synthetic data: train with the debug
record on, validate, checkpoint, resume; and MIC(DAFormer) under 2 gloo
processes through tools/dist_train.sh."""
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
    daformer='configs/mic/'
    'mic-daformer_mitb5_1xb2-40k_gta2cityscapes-512x512.py',
    hrda='configs/mic/mic-hrda_mitb5_1xb2-40k_gta2cityscapes-1024x1024.py')
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


@pytest.fixture(autouse=True, scope='module')
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _unformatted_config(monkeypatch):
    monkeypatch.setattr('mmengine.config.config.FormatCode', _unformatted)


@pytest.fixture(scope='module')
def roots(tmp_path_factory):
    out = tmp_path_factory.mktemp('synthetic_mic')
    return generate_synthetic_uda(
        str(out), num_source=6, num_target_train=4, num_target_val=2,
        source_size=(96, 64), target_size=(96, 64), seed=0)


def tiny_cfg(name, roots, work_dir, max_iters=2):
    """The zoo config ``name`` with a tiny MiT, 64x64 crops (HRDA: 32x32
    context and detail crops) and the synthetic data."""
    cfg = Config.fromfile(osp.join(REPO, CONFIGS[name]))
    data = Config.fromfile(osp.join(REPO, SYNTHETIC))
    train = copy.deepcopy(data.train_dataloader)
    for branch in ('source', 'target'):
        for t in train.dataset[branch].pipeline:
            if t.type == 'RandomCrop':
                t.crop_size = CROP
            if t.type == 'Resize':
                t.scale = (96, 64)
    train.dataset.source.data_root = roots['gta']
    train.dataset.target.data_root = roots['cityscapes']
    train.dataset.rare_class_sampling = None
    train.batch_size = 1
    train.num_workers = 0
    train.persistent_workers = False
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

    seg = cfg.model.segmentor
    seg.data_preprocessor.size = CROP
    if cfg.get('data_preprocessor'):  # injected by the Runner into DACS
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
    cfg.default_hooks.checkpoint.interval = max_iters
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.visualization = dict(type='SegVisualizationHook')
    cfg.env_cfg.mp_cfg = dict(mp_start_method='fork', opencv_num_threads=1)
    cfg.randomness = dict(seed=0)
    cfg.work_dir = str(work_dir)
    cfg.custom_hooks = cfg.custom_hooks + [
        dict(type='MICRankParamsDumpHook')
    ]
    cfg.custom_imports = dict(
        imports=['mmseg_uda', 'tests.test_models.test_mic_e2e'],
        allow_failed_imports=False)
    return cfg


@pytest.mark.parametrize('name', ['daformer', 'hrda'])
def test_train_validate_checkpoint_resume(name, roots, tmp_path):
    cfg = tiny_cfg(name, roots, tmp_path, max_iters=2)
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
    cfg = tiny_cfg(name, roots, tmp_path, max_iters=3)
    cfg.resume = True
    cfg.load_from = osp.join(tmp_path, 'iter_2.pth')
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 3


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_gloo_processes_keep_ranks_identical(roots, tmp_path):
    """MIC(DAFormer) under 2 CPU processes (MIC is the stage that syncs the
    gradients): the students are identical on both ranks after training,
    although each rank saw different images."""
    cfg = tiny_cfg('daformer', roots, tmp_path / 'work', max_iters=3)
    cfg.default_hooks.checkpoint.interval = 100  # no checkpoint needed
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.train_cfg.val_interval = 100
    cfg_path = str(tmp_path / 'tiny.py')
    cfg.dump(cfg_path)
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHON=sys.executable,
               PORT=str(_free_port()), **{FAST_CONFIG_ENV: '1'})
    env['PYTHONPATH'] = REPO + os.pathsep + env.get('PYTHONPATH', '')
    res = subprocess.run(
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
