"""Config validation: UDA pieces that do not fit together fail before
training, with a message naming the keys."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from mmseg_uda.engine.config_validation import (
    UDAConfigError,
    validate_uda_config,
)
from tests.test_engine.ft_helpers import (
    DAFORMER_CFG,
    REPO,
    adversarial_cfg,
    daformer_cfg,
)

HRDA_MODEL = osp.join(REPO, 'configs', '_base_', 'models',
                      'hrda_daformer_sepaspp_mitb5.py')



@pytest.fixture
def cfg(synthetic_roots, tmp_path):
    return daformer_cfg(synthetic_roots, tmp_path, crop=128)


def _error(cfg) -> str:
    with pytest.raises(UDAConfigError) as exc:
        validate_uda_config(cfg)
    return str(exc.value)


def test_valid_configs_pass(cfg, synthetic_roots, tmp_path):
    validate_uda_config(cfg)
    validate_uda_config(adversarial_cfg(synthetic_roots, tmp_path))


@pytest.mark.parametrize(
    'path',
    sorted(p for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                                recursive=True) if '_base_' not in p))
def test_zoo_configs_pass_without_data(path):
    validate_uda_config(Config.fromfile(path))


def test_class_count_mismatch(cfg):
    cfg.model.segmentor.decode_head.num_classes = 16
    msg = _error(cfg)
    assert 'class count mismatch' in msg
    assert 'model.segmentor.decode_head.num_classes = 16' in msg
    assert 'train_dataloader.dataset.source (GTA5Dataset, classes) = 19' \
        in msg
    assert 'model.imnet_feature_dist.num_classes = 19' in msg


def test_missing_ema_teacher_hook_and_several_errors_at_once(cfg):
    cfg.custom_hooks = []
    cfg.model.segmentor.decode_head.num_classes = 7
    msg = _error(cfg)
    assert 'custom_hooks has no EMATeacherHook' in msg
    assert 'class count mismatch' in msg


def test_uda_model_needs_uda_dataset(cfg):
    cfg.train_dataloader.dataset = cfg.train_dataloader.dataset.source
    msg = _error(cfg)
    assert 'train_dataloader.dataset.type=GTA5Dataset is not a UDADataset'\
        in msg


def test_adversarial_needs_optimizer_per_child(synthetic_roots, tmp_path):
    cfg = adversarial_cfg(synthetic_roots, tmp_path)
    cfg.optim_wrapper = dict(type='OptimWrapper',
                             optimizer=dict(type='SGD', lr=0.01))
    assert 'optim_wrapper.constructor' in _error(cfg)


def test_hrda_crop_sizes(cfg):
    hrda = Config.fromfile(HRDA_MODEL).model
    hrda.data_preprocessor.size = (128, 128)
    cfg.model.segmentor = hrda
    msg = _error(cfg)
    assert ('model.segmentor.hr_crop_size=(512, 512) is larger than the '
            'training crop train_dataloader.dataset.source.pipeline[3]'
            '.crop_size=(128, 128)') in msg
    hrda.hr_crop_size = (60, 60)
    msg = _error(cfg)
    assert ('model.segmentor.hr_crop_size=(60, 60) is not divisible by '
            'model.segmentor.crop_coord_divisible=8') in msg
    hrda.hr_crop_size = (64, 64)
    validate_uda_config(cfg)
    for t in cfg.train_dataloader.dataset.target.pipeline:
        if t.type == 'RandomCrop':
            t.crop_size = (100, 100)
    msg = _error(cfg)
    assert ('train_dataloader.dataset.target.pipeline[3].crop_size=(100, '
            '100) is not divisible by model.segmentor.crop_coord_divisible'
            '=8') in msg


def test_quickstart_config_file_passes(synthetic_roots):
    cfg = Config.fromfile(DAFORMER_CFG)
    validate_uda_config(cfg)
