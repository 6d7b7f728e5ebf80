"""The smallest compatibility layer between the pinned OpenMMLab stack, the
CPU mmcv build (mmcv-lite) and torch >= 2.6. Both functions are idempotent
and do nothing where no gap exists."""
import importlib.util
import sys
import types


def _has_compiled_mmcv_ops() -> bool:
    try:
        return importlib.util.find_spec('mmcv._ext') is not None
    except ModuleNotFoundError:  # mmcv itself missing: version check says so
        return True


def _unavailable_op(name: str):

    def op(*args, **kwargs):
        raise RuntimeError(
            f'mmcv.ops.{name} needs the compiled mmcv ops, but mmcv-lite is '
            'installed. Install full mmcv (mim install "mmcv>=2.0.0,<2.2.0") '
            'to use it.')

    op.__name__ = name
    return op


def install_mmcv_lite_shim() -> None:
    """Make ``mmseg.models`` / ``mmseg.utils`` importable with mmcv-lite.

    Gap: four mmseg 1.2.2 modules import ``mmcv.ops`` unguarded
    (``utils/mask_classification.py``, ``models/utils/point_sample.py`` and
    ``decode_heads/san_head.py`` for ``point_sample``;
    ``losses/focal_loss.py`` for ``sigmoid_focal_loss``), and mmcv-lite's
    ``mmcv.ops`` fails on its missing ``_ext``. When (and only when) the
    compiled ops are absent, register a ``mmcv.ops`` module holding mmcv's own
    pure-PyTorch ``point_sample`` and a ``sigmoid_focal_loss`` that raises a
    clear error if called. With full mmcv this does nothing.
    """
    if 'mmcv.ops' in sys.modules or _has_compiled_mmcv_ops():
        return
    import mmcv

    # mmcv/ops/point_sample.py only imports torch; load that file alone,
    # without running mmcv/ops/__init__.py (which needs _ext).
    path = mmcv.__path__[0] + '/ops/point_sample.py'
    spec = importlib.util.spec_from_file_location('mmcv.ops.point_sample',
                                                  path)
    point_sample_mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(point_sample_mod)

    ops = types.ModuleType('mmcv.ops')
    ops.__doc__ = ('mmseg_uda shim for mmcv-lite: pure-PyTorch point_sample '
                   'only; compiled ops raise when called.')
    ops.point_sample = point_sample_mod.point_sample
    ops.sigmoid_focal_loss = _unavailable_op('sigmoid_focal_loss')

    def module_getattr(name):
        # Dunder look-ups (inspect, pickle) must see a normal module.
        if name.startswith('__'):
            raise AttributeError(name)
        return _unavailable_op(name)

    ops.__getattr__ = module_getattr
    sys.modules['mmcv.ops'] = ops
    sys.modules['mmcv.ops.point_sample'] = point_sample_mod
    mmcv.ops = ops


def mmengine_checkpoint_globals() -> list:
    """The non-tensor globals that mmengine 0.10 writes into checkpoints: the
    message hub's ``HistoryBuffer``, numpy scalars/arrays/dtypes in the
    logged runtime info, and ``getattr`` (``HistoryBuffer`` pickles its
    statistics methods as ``getattr(HistoryBuffer, name)``). ``getattr``
    only reaches attributes of allow-listed globals, and the weights-only
    unpickler still refuses to call anything not in this list."""
    import numpy as np
    from mmengine.logging import HistoryBuffer

    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    dtype_classes = [type(np.dtype(t)) for t in (
        'bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16',
        'uint32', 'uint64', 'float16', 'float32', 'float64')]
    return [HistoryBuffer, getattr, scalar, _reconstruct, np.ndarray,
            np.dtype, *dtype_classes]


def allow_mmengine_checkpoints() -> None:
    """Let torch >= 2.6 (``weights_only=True`` by default) load mmengine
    checkpoints for ``resume`` and ``load_from`` by allow-listing exactly the
    types mmengine writes; every other global is still refused."""
    import torch

    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is None:  # torch < 2.4 loads without the weights-only check
        return
    add(mmengine_checkpoint_globals())


#: The keys of mmengine 0.10's own default hooks
#: (``Runner.register_default_hooks``): a None value pops them natively.
MMENGINE_DEFAULT_HOOKS = ('runtime_info', 'timer', 'sampler_seed', 'logger',
                          'param_scheduler', 'checkpoint')


def allow_switching_off_default_hooks() -> None:
    """Let ``default_hooks.<key>=None`` (config or ``--cfg-options``) switch
    off any default hook: the plugin's ``preemption``, ``nonfinite``,
    ``bad_samples`` and mmseg's ``visualization`` as well as mmengine's own.

    Gap in mmengine 0.10: ``Runner.register_default_hooks`` documents that a
    None value removes the hook, but fails an ``assert`` for a key that is
    not one of its own six (:data:`MMENGINE_DEFAULT_HOOKS`), and offers no
    other switch (``custom_hooks`` is a list: no None). Its own keys keep its
    behaviour (it pops their defaults); for the others the None entry is
    dropped before mmengine merges. Done at ``import mmseg_uda``, i.e. by the
    config's ``custom_imports`` when the config is loaded, so every entry
    point gets it: the plugin's ``tools/train.py``, mmseg's ``train.py``
    (``mim train``) and ``Runner.from_cfg(cfg).train()``. Idempotent.
    """
    import functools

    from mmengine.runner import Runner

    original = Runner.register_default_hooks
    if getattr(original, 'drops_disabled_hooks', False):
        return

    @functools.wraps(original)
    def register_default_hooks(self, hooks=None):
        if hooks is not None:
            hooks = {
                name: hook
                for name, hook in hooks.items()
                if hook is not None or name in MMENGINE_DEFAULT_HOOKS
            }
        return original(self, hooks)

    register_default_hooks.drops_disabled_hooks = True
    Runner.register_default_hooks = register_default_hooks
