import pytest
import torch
from mmengine.registry import init_default_scope

# The plugin first: it installs the mmcv-lite shim that mmseg's models and
# utils need (mmseg_uda.utils.compat), so a test module that imports mmseg
# directly runs alone (``pytest FILE``) as well as in the suite.
import mmseg_uda  # noqa: E402,F401


@pytest.fixture(autouse=True, scope='session')
def mmseg_default_scope():
    """Configs of the plugin use ``default_scope='mmseg'``; unit tests that
    build modules directly need the same scope."""
    init_default_scope('mmseg')


@pytest.fixture(autouse=True, scope='session')
def single_thread_torch():
    """One intra-op thread per test process: the suite also runs 2-process
    DDP tests on 2 cores, where spinning OpenMP threads of oversubscribed
    processes slow CPU kernels down by an order of magnitude."""
    torch.set_num_threads(1)


def _generated(tmp_path_factory, name, **kwargs):
    """Synthetic domain-shift data generated into a fresh session folder."""
    from mmseg_uda.datasets.synthetic import generate_synthetic_uda
    out = tmp_path_factory.mktemp(name)
    return generate_synthetic_uda(str(out), seed=0, **kwargs)


@pytest.fixture(scope='session')
def synthetic_data(tmp_path_factory):
    """The generated synthetic domain-shift data (GTA-style source with RCS
    statistics, Cityscapes-style target), once per session."""
    return _generated(tmp_path_factory, 'synthetic_data', num_source=12,
                      num_target_train=6, num_target_val=4)


@pytest.fixture(scope='session')
def synthetic_roots(tmp_path_factory):
    """The synthetic data of the fault-tolerance tests (2 target val
    images: validation is cheap in their kill-and-resume runs), once per
    session."""
    return _generated(tmp_path_factory, 'ft_synthetic_uda', num_source=12,
                      num_target_train=6, num_target_val=2)


@pytest.fixture(scope='session')
def small_roots(tmp_path_factory):
    """Small synthetic data (96x64 images) of the tiny end-to-end and
    2-process runs, once per session."""
    return _generated(tmp_path_factory, 'synthetic_small', num_source=6,
                      num_target_train=4, num_target_val=2,
                      source_size=(96, 64), target_size=(96, 64))
