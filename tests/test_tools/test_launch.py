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
    assert wrapper.dtype in ('bfloat16', 'float16')
    assert not enable_amp(wrapper)  # already on


@pytest.mark.parametrize('cuda,major,expected', [
    (False, 0, 'float16'), (True, 7, 'float16'), (True, 8, 'bfloat16'),
    (True, 9, 'bfloat16')])
def test_amp_dtype_by_gpu_capability(monkeypatch, cuda, major, expected):
    # Rules out: fp16 (loss-scaled, slower on Hopper) chosen on a bf16 GPU,
    # or bf16 chosen on a pre-Ampere GPU that only emulates it.
    import torch
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: cuda)
    monkeypatch.setattr(torch.cuda, 'get_device_capability',
                        lambda *a: (major, 0))
    wrapper = ConfigDict(type='OptimWrapper', optimizer=dict(type='SGD'))
    enable_amp(wrapper)
    assert wrapper.dtype == expected
    named = ConfigDict(type='OptimWrapper', optimizer=dict(type='SGD'),
                       dtype='float16')
    enable_amp(named)
    assert named.dtype == 'float16'  # the config's own choice is kept


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
