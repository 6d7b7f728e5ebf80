"""Import target of the foundation-model configs' ``custom_imports``
(``configs/vfm/``): importing this module imports ``mmpretrain.models`` (so
``type='mmpretrain.<Name>'`` backbones resolve, also without torchvision)
or fails at config load with the install command. Not imported by
``import mmseg_uda``: the plugin works without mmpretrain."""
from .mmpretrain_import import import_mmpretrain_models

import_mmpretrain_models('the foundation-model configs (configs/vfm/)')
