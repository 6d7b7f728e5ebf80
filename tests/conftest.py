import pytest
import torch
from mmengine.registry import init_default_scope


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
