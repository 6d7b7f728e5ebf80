"""Import mmpretrain (the optional dependency of the foundation-model
configs) with an actionable error when it is missing, also on CPU machines
without torchvision.

Gap: ``mmpretrain.models`` (1.2.0) imports ``torchvision.ops.boxes`` at
module level (for its detection/grounding heads and metrics), and
``mmpretrain/__init__.py`` imports its APIs, which import the models. The
backbones the plugin uses (VisionTransformer, ConvNeXt) never call
torchvision, but a CPU-only torch build has no matching torchvision wheel
(PyPI's torchvision wheels link the CUDA torch libraries). So, only when
torchvision is not installed, ``mmpretrain`` is imported with stand-in
``torchvision`` modules whose functions raise when called, and the
stand-ins are removed from ``sys.modules`` right after: every later
``import torchvision`` still fails as before, and nothing but the mmpretrain
modules imported then holds them.
"""
import importlib
import importlib.util
import sys
import types

# How to get mmpretrain (also in the version check's OPTIONAL_VERSIONS).
INSTALL_HINT = ('pip install -e ".[vfm]" (or pip install --no-deps '
                '"mmpretrain==1.2.0" plus requirements/vfm-runtime.txt)')

# The torchvision modules that mmpretrain.models imports at module level.
_TORCHVISION_MODULES = ('torchvision', 'torchvision.ops',
                        'torchvision.ops.boxes', 'torchvision.transforms',
                        'torchvision.transforms.functional',
                        'torchvision.transforms.transforms')


def mmpretrain_installed() -> bool:
    """Whether the ``mmpretrain`` distribution is importable."""
    return importlib.util.find_spec('mmpretrain') is not None


def _torchvision_installed() -> bool:
    return importlib.util.find_spec('torchvision') is not None


class _MissingTorchvision(types.ModuleType):
    """A torchvision module whose every attribute is a function raising a
    clear error when called."""

    def __getattr__(self, name):
        if name.startswith('__'):  # inspect / pickle look-ups
            raise AttributeError(name)

        def unavailable(*args, **kwargs):
            raise RuntimeError(
                f'{self.__name__}.{name} needs torchvision, which is not '
                'installed (mmpretrain was imported without it for its '
                'backbones only). Install the torchvision build matching '
                'your torch to use it.')

        unavailable.__name__ = name
        return unavailable


def _stand_ins() -> dict:
    modules = {name: _MissingTorchvision(name)
               for name in _TORCHVISION_MODULES}
    for name, module in modules.items():
        module.__path__ = []  # a package: submodule imports resolve
        if '.' in name:
            parent, child = name.rsplit('.', 1)
            setattr(modules[parent], child, module)
    return modules


def import_mmpretrain_models(what: str = 'this config') -> types.ModuleType:
    """Import ``mmpretrain.models`` (registering its backbones in
    mmpretrain's registry, which mmseg configs reach as
    ``type='mmpretrain.<Name>'``) and return it.

    Args:
        what (str): what needs mmpretrain, for the error message.
            Defaults to 'this config'.

    Raises:
        ImportError: mmpretrain is not installed; the message names the
            install command.
    """
    if 'mmpretrain.models' in sys.modules:
        return sys.modules['mmpretrain.models']
    if not mmpretrain_installed():
        raise ImportError(
            f'{what} needs mmpretrain (vision foundation model encoders), '
            f'which is not installed: {INSTALL_HINT}')
    if _torchvision_installed():
        return importlib.import_module('mmpretrain.models')
    stand_ins = _stand_ins()
    absent = [name for name in stand_ins if name not in sys.modules]
    sys.modules.update({name: stand_ins[name] for name in absent})
    try:
        return importlib.import_module('mmpretrain.models')
    finally:
        for name in absent:
            if sys.modules.get(name) is stand_ins[name]:
                del sys.modules[name]
