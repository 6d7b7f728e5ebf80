# This package must stay importable before mmseg: ``mmseg_uda/__init__.py``
# runs the version check and the compatibility layer from here first.
from .compat import (
    allow_mmengine_checkpoints,
    allow_switching_off_default_hooks,
    install_mmcv_lite_shim,
)
from .mmpretrain_import import import_mmpretrain_models, mmpretrain_installed
from .version_check import SUPPORTED_VERSIONS, check_versions

__all__ = [
    'SUPPORTED_VERSIONS', 'allow_mmengine_checkpoints',
    'allow_switching_off_default_hooks', 'check_versions',
    'import_mmpretrain_models', 'install_mmcv_lite_shim',
    'mmpretrain_installed'
]
