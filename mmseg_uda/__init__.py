"""mmseg_uda: unsupervised domain adaptation for MMSegmentation 1.x.

Importing this package (or ``custom_imports=dict(imports=['mmseg_uda'])`` in
a config) checks the OpenMMLab versions, applies the compatibility layer and
registers every module of the plugin into mmseg's registries
(``default_scope='mmseg'`` is unchanged).
"""
from .utils import (
                    allow_mmengine_checkpoints,
                    allow_switching_off_default_hooks,
                    check_versions,
                    install_mmcv_lite_shim,
)
from .version import __version__

check_versions()
install_mmcv_lite_shim()
allow_mmengine_checkpoints()
allow_switching_off_default_hooks()

from . import datasets, engine, evaluation, models  # noqa: E402,F401

__all__ = ['__version__']
