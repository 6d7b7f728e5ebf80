"""mmpretrain, the optional dependency of configs/vfm/: version check,
import without torchvision, clear errors when it is missing."""
import importlib.util
import os.path as osp
import subprocess
import sys
from unittest import mock

import pytest
from mmengine.config import Config

import mmseg_uda  # noqa: F401
from mmseg_uda.utils import check_versions, mmpretrain_import
from mmseg_uda.utils.version_check import OPTIONAL_VERSIONS
from tests.helpers import REPO

GOOD = {'mmengine': '0.10.7', 'mmcv': '2.1.0', 'mmseg': '1.2.2',
        'torch': '2.13.0+cpu'}
VFM_CONFIG = osp.join(
    REPO, 'configs/vfm/daformer_dinov2-b_1xb2-40k_gta2cityscapes-512x512.py')


def test_version_check_mmpretrain_optional_but_checked_when_present():
    """Absent: fine (the plugin works without it); 1.2.x: fine; another
    version: refused with the range and the install command. Rules out:
    mmpretrain made mandatory, or a wrong version passing silently."""
    check_versions(dict(GOOD, mmpretrain=None))
    check_versions(dict(GOOD, mmpretrain='1.2.0'))
    with pytest.raises(ImportError) as err:
        check_versions(dict(GOOD, mmpretrain='1.0.2'))
    msg = str(err.value)
    low, high, fix = OPTIONAL_VERSIONS['mmpretrain']
    assert 'mmpretrain 1.0.2 is not supported' in msg
    assert f'>={low}' in msg and f'<{high}' in msg
    assert 'pip install -e ".[vfm]"' in fix and fix in msg


def test_imports_without_torchvision_and_leaves_it_absent():
    """On a machine without torchvision (CPU torch builds), mmpretrain's
    backbones import and register, and ``import torchvision`` still fails
    afterwards (the stand-ins are gone). Rules out: a global fake
    torchvision that other code would mistake for the real one."""
    if importlib.util.find_spec('torchvision') is not None:
        pytest.skip('torchvision is installed: nothing is stood in')
    code = ('import sys, mmseg_uda; '
            'from mmseg_uda.utils import import_mmpretrain_models as f; '
            'm = f(); assert m.MODELS.get("VisionTransformer"); '
            'assert m.MODELS.get("ConvNeXt"); '
            'assert not [k for k in sys.modules '
            'if k.split(".")[0] == "torchvision"]\n'
            'try:\n    import torchvision\nexcept ImportError:\n    pass\n'
            'else:\n    raise SystemExit("torchvision importable")\n'
            'from mmpretrain.models.utils import box_utils\n'
            'try:\n    box_utils.boxes.box_iou(None, None)\n'
            'except RuntimeError as e:\n    assert "needs torchvision" in '
            'str(e)\nelse:\n    raise SystemExit("no error")')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_missing_mmpretrain_names_the_install_command():
    """Without mmpretrain, the backbone and the configs of configs/vfm/
    fail at build/load with the ``pip install -e ".[vfm]"`` command instead
    of a registry KeyError (at config load: in the traceback, as the cause
    of mmengine's "Failed to import custom modules"). Rules out: a bare
    ModuleNotFoundError or an unknown-type error deep in the build."""
    from mmseg.registry import MODELS
    gone = [k for k in sys.modules if k.split('.')[0] == 'mmpretrain'
            or k == 'mmseg_uda.utils.require_mmpretrain']
    with mock.patch.dict(sys.modules), mock.patch.object(
            mmpretrain_import, 'mmpretrain_installed', return_value=False):
        for name in gone:
            del sys.modules[name]
        with pytest.raises(ImportError, match=r'ViTFeaturePyramid needs '
                           r'mmpretrain.*pip install -e "\.\[vfm\]"'):
            MODELS.build(dict(type='ViTFeaturePyramid', vit=dict()))
        # mmengine re-raises custom-import failures with its own message;
        # ours is the cause, printed with the traceback
        with pytest.raises(ImportError) as err:
            Config.fromfile(VFM_CONFIG)
        causes, exc = [], err.value
        while exc is not None:
            causes.append(str(exc))
            exc = exc.__cause__ or exc.__context__
        assert any('configs/vfm/' in c and 'pip install -e ".[vfm]"' in c
                   for c in causes), causes
