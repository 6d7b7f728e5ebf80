"""Foundation: import with mmcv-lite, version checks, checkpoint loading
under torch's weights-only unpickler, train + resume through the Runner."""
import collections
import io
import pickle
import subprocess
import sys
from unittest import mock

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmengine.runner import Runner

import mmseg_uda
from mmseg_uda.utils import check_versions, install_mmcv_lite_shim
from mmseg_uda.utils.version_check import SUPPORTED_VERSIONS
from tests.helpers import QUICKSTART_SOURCE_ONLY, short_cfg

GOOD = {'mmengine': '0.10.7', 'mmcv': '2.1.0', 'mmseg': '1.2.2',
        'torch': '2.13.0+cpu'}


def test_import_registers_and_mmseg_models_import():
    code = ('import mmseg_uda; from mmseg.models import *; '
            'import mmseg.utils; from mmengine.registry import DefaultScope;'
            'from mmseg.registry import MODELS, HOOKS, LOOPS, DATASETS;'
            "assert MODELS.get('DACS') and HOOKS.get('EMATeacherHook');"
            "assert LOOPS.get('UDAIterBasedTrainLoop');"
            "assert DATASETS.get('UDADataset')")
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


def test_version_check_accepts_supported_stack():
    check_versions(GOOD)


@pytest.mark.parametrize('name,version', [('mmcv', '2.2.0'),
                                          ('mmengine', '0.9.1'),
                                          ('mmseg', '1.3.0'),
                                          ('torch', '1.12.1')])
def test_version_check_names_package_range_and_fix(name, version):
    versions = dict(GOOD, **{name: version})
    with pytest.raises(ImportError) as err:
        check_versions(versions)
    msg = str(err.value)
    low, high, fix = SUPPORTED_VERSIONS[name]
    assert f'{name} {version} is not supported' in msg
    assert f'>={low}' in msg and f'<{high}' in msg and fix in msg


def test_version_check_missing_package():
    with pytest.raises(ImportError, match='mmcv is not installed'):
        check_versions(dict(GOOD, mmcv=None))


def test_mmcv_lite_shim_is_a_no_op_with_compiled_ops():
    import mmcv.ops as current_ops
    with mock.patch.dict(sys.modules), mock.patch(
            'mmseg_uda.utils.compat._has_compiled_mmcv_ops',
            return_value=True):
        sys.modules.pop('mmcv.ops', None)
        install_mmcv_lite_shim()
        assert 'mmcv.ops' not in sys.modules
    assert sys.modules['mmcv.ops'] is current_ops


def test_mmcv_lite_shim_ops():
    import mmcv.ops
    if not hasattr(mmcv.ops, '__doc__') or 'mmseg_uda shim' not in (
            mmcv.ops.__doc__ or ''):
        pytest.skip('full mmcv installed')
    grid = torch.rand(1, 3, 2)
    out = mmcv.ops.point_sample(torch.rand(1, 2, 4, 4), grid)
    assert out.shape == (1, 2, 3)
    with pytest.raises(RuntimeError, match='full mmcv'):
        mmcv.ops.sigmoid_focal_loss(None, None)


class Arbitrary:
    """A class no checkpoint should be allowed to instantiate."""


def _dumps(obj) -> io.BytesIO:
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return buf


def test_mmengine_objects_load_with_weights_only():
    hub = HistoryBuffer()
    hub.update(1.5)
    import numpy as np
    obj = {'message_hub': {'log': hub}, 'np': np.float64(2.0),
           'arr': np.arange(3), 'state': collections.OrderedDict(a=1)}
    loaded = torch.load(_dumps(obj))  # weights_only=True by default
    assert loaded['message_hub']['log'].current() == 1.5
    assert loaded['np'] == 2.0 and loaded['arr'].tolist() == [0, 1, 2]


def test_other_pickles_are_still_refused():
    with pytest.raises(pickle.UnpicklingError, match='Arbitrary'):
        torch.load(_dumps({'x': Arbitrary()}))

    class Evil:

        def __reduce__(self):
            import os
            return (os.system, ('echo pwned',))

    with pytest.raises(pickle.UnpicklingError, match='system'):
        torch.load(_dumps(Evil()))


def test_train_four_iterations_then_resume_to_six(synthetic_data, tmp_path):
    work_dir = str(tmp_path / 'run')
    cfg = short_cfg(QUICKSTART_SOURCE_ONLY, synthetic_data, work_dir,
                    max_iters=4, interval=4)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 4

    cfg = short_cfg(QUICKSTART_SOURCE_ONLY, synthetic_data, work_dir,
                    max_iters=6, interval=2)
    cfg.resume = True
    runner = Runner.from_cfg(cfg)
    seen = []

    class Probe(Hook):

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            seen.append((runner.iter, runner.optim_wrapper.get_lr()['lr'][0]))

    runner.register_hook(Probe(), priority='LOWEST')
    runner.train()
    assert [it for it, _ in seen] == [4, 5] and runner.iter == 6

    # WarmupPolyLR(max 1000, warmup 100, ratio 1e-6), base 6e-4: the
    # resumed iterations use the schedule's values at t = 4 and 5.
    def lr_at(t):
        return 6e-4 * (1 - t / 1000) * (1 - (1 - t / 100) * (1 - 1e-6))

    for it, lr in seen:
        assert lr == pytest.approx(lr_at(it), rel=1e-9)
    assert mmseg_uda.__version__
