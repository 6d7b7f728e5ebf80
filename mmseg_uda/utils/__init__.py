# This package must stay importable before mmseg: ``mmseg_uda/__init__.py``
# runs the version check and the compatibility layer from here first.
from .compat import (
    allow_mmengine_checkpoints,
    allow_switching_off_default_hooks,
    install_mmcv_lite_shim,
)
from .version_check import SUPPORTED_VERSIONS, check_versions

__all__ = [
    'SUPPORTED_VERSIONS', 'allow_mmengine_checkpoints',
    'allow_switching_off_default_hooks', 'check_versions',
    'install_mmcv_lite_shim'
]
