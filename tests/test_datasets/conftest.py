"""Shared fixtures: the tiny synthetic UDA dataset (generated once per test
session) and a builder for the synthetic base config pointed at it.

Other test folders can generate the same data with
``mmseg_uda.datasets.synthetic.generate_synthetic_uda(tmp_dir)`` and load
``configs/_base_/datasets/synthetic_uda.py`` with :func:`synthetic_cfg`.
"""
import copy
import os.path as osp

import pytest
from mmengine.config import Config

import mmseg_uda  # noqa: F401 (registers the plugin)
from mmseg_uda.datasets.synthetic import generate_synthetic_uda
from tests.helpers import on_synthetic_data

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SYNTHETIC_CFG = osp.join(REPO, 'configs', '_base_', 'datasets',
                         'synthetic_uda.py')


def synthetic_cfg(roots: dict, num_workers: int = 0) -> Config:
    """The synthetic base config with its data roots set to ``roots``."""
    return on_synthetic_data(Config.fromfile(SYNTHETIC_CFG), roots,
                             num_workers)


@pytest.fixture(scope='session', autouse=True)
def _mmseg_scope():
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=True)


@pytest.fixture(scope='session')
def synthetic_roots(tmp_path_factory):
    out = tmp_path_factory.mktemp('synthetic_uda')
    return generate_synthetic_uda(
        str(out), num_source=12, num_target_train=6, num_target_val=4,
        seed=0)


@pytest.fixture
def uda_cfg(synthetic_roots):
    return copy.deepcopy(synthetic_cfg(synthetic_roots))
