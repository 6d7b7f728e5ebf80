"""Launch helpers shared by tools/train.py and tools/test.py."""
import pytest
from mmengine.config import Config, ConfigDict

from tests.helpers import REPO, load_tool

enable_amp = load_tool('tools/launch_utils.py').enable_amp


def test_amp_single_wrapper():
    wrapper = ConfigDict(type='OptimWrapper', optimizer=dict(type='SGD'))
    assert enable_amp(wrapper)
    assert wrapper.type == 'AmpOptimWrapper'
    assert wrapper.loss_scale == 'dynamic'
    assert not enable_amp(wrapper)  # already on


def test_amp_per_network_wrappers():
    cfg = Config.fromfile(
        REPO + '/configs/advseg/'
        'advseg_deeplabv2-r101_1xb1-150k_gta2cityscapes-512x512.py')
    assert enable_amp(cfg.optim_wrapper)
    children = [k for k, v in cfg.optim_wrapper.items()
                if isinstance(v, dict) and 'optimizer' in v]
    assert {'student', 'discriminator'} <= set(children)
    for name in children:
        assert cfg.optim_wrapper[name].type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.constructor == 'MultiOptimWrapperConstructor'


def test_amp_refuses_unknown_wrapper_naming_the_key():
    wrapper = ConfigDict(student=dict(type='Custom', optimizer=dict()))
    with pytest.raises(ValueError, match='optim_wrapper.student.type'):
        enable_amp(wrapper)
