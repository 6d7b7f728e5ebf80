"""HRDA's detail crop: every side of the detail crop and of the training
crop must be a multiple of ``crop_coord_divisible``, in config validation
(``PreflightCheckHook``) and when the model is built directly."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmseg.registry import MODELS

from mmseg_uda.engine.config_validation import (
    UDAConfigError,
    validate_uda_config,
)
from tests.helpers import REPO

HRDA_MODEL = osp.join(REPO, 'configs', '_base_', 'models',
                      'hrda_daformer_sepaspp_mitb5.py')


def hrda_cfg(hr_crop, crop=(1024, 1024)):
    """A DACS(HRDA) config reduced to what the HRDA check reads."""
    segmentor = Config.fromfile(HRDA_MODEL).model
    segmentor.hr_crop_size = hr_crop
    segmentor.data_preprocessor.size = crop
    return dict(model=dict(type='DACS', segmentor=segmentor),
                custom_hooks=[dict(type='EMATeacherHook')])


def test_divisible_detail_crop_passes():
    assert Config.fromfile(HRDA_MODEL).model.crop_coord_divisible == 8
    validate_uda_config(hrda_cfg((512, 256)))


@pytest.mark.parametrize('hr_crop', [(512, 260), (260, 512)])
def test_detail_crop_divisible_on_one_side_only_is_rejected(hr_crop):
    """(512, 260) and (260, 512): one side a multiple of 8, the other not.
    Rules out checking only one side, or requiring only *some* side to be
    divisible (``all`` instead of ``any`` over the non-divisible sides)."""
    with pytest.raises(UDAConfigError) as exc:
        validate_uda_config(hrda_cfg(hr_crop))
    assert (f'model.segmentor.hr_crop_size={hr_crop} is not divisible by '
            'model.segmentor.crop_coord_divisible=8') in str(exc.value)


@pytest.mark.parametrize('crop', [(1024, 1020), (1020, 1024)])
def test_training_crop_divisible_on_one_side_only_is_rejected(crop):
    """The same for the training crop (here the preprocessor's size): the
    LR and HR predictions would not align on the other side."""
    with pytest.raises(UDAConfigError) as exc:
        validate_uda_config(hrda_cfg((512, 512), crop=crop))
    assert (f'model.segmentor.data_preprocessor.size={crop} is not '
            'divisible by model.segmentor.crop_coord_divisible=8'
            ) in str(exc.value)


@pytest.mark.parametrize('hr_crop', [(64, 60), (60, 64)])
def test_model_rejects_detail_crop_divisible_on_one_side_only(hr_crop):
    """A model built without ``tools/train.py`` (``init_model``, a notebook)
    refuses the one-sided crop too. Rules out a constructor that accepts a
    crop misaligned on one side (the LR/HR fusion would be shifted)."""
    import mmseg_uda  # noqa: F401
    cfg = Config.fromfile(HRDA_MODEL).model
    cfg.backbone.init_cfg = None
    cfg.hr_crop_size = hr_crop
    with pytest.raises(ValueError, match='not divisible by '
                       'crop_coord_divisible=8 on every side'):
        MODELS.build(cfg)
