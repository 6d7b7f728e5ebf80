"""Fail early, with an actionable message, on an unsupported OpenMMLab stack.

mmseg asserts its own mmcv range with a bare ``AssertionError`` deep in its
import; this check runs first and names the package, the version found, the
supported range and the command that fixes it.
"""
from typing import Dict, Optional, Tuple

from packaging.version import InvalidVersion, Version

# name -> (minimum inclusive, maximum exclusive, how to install a good one)
SUPPORTED_VERSIONS: Dict[str, Tuple[str, str, str]] = {
    'mmengine': ('0.10.0', '0.11.0', 'pip install "mmengine>=0.10.0,<0.11.0"'),
    'mmcv': ('2.0.0', '2.2.0',
             'pip install "mmcv-lite>=2.0.0,<2.2.0" (CPU) or '
             'mim install "mmcv>=2.0.0,<2.2.0" (GPU)'),
    'mmseg': ('1.2.0', '1.3.0', 'pip install "mmsegmentation>=1.2.0,<1.3.0"'),
    'torch': ('1.13.0', '3.0.0', 'pip install torch==2.13.0 (CPU build)'),
}

# Optional packages: absent is fine (only some configs need them), present
# in another version is not (mmpretrain 1.x renamed backbones between minor
# releases; the DINOv2 archs and the layer-scale keys are those of 1.2).
OPTIONAL_VERSIONS: Dict[str, Tuple[str, str, str]] = {
    'mmpretrain': ('1.2.0', '1.3.0',
                   'pip install -e ".[vfm]" (or pip install --no-deps '
                   '"mmpretrain==1.2.0" plus requirements/vfm-runtime.txt); '
                   'only the foundation-model configs (configs/vfm/) need '
                   'it'),
}


def _installed_versions() -> Dict[str, Optional[str]]:
    """Read versions from package metadata, without importing mmseg (whose
    own import-time assertion would fire before our message)."""
    from importlib import metadata

    def first(*dists):
        for dist in dists:
            try:
                return metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
        return None

    return {
        'mmengine': first('mmengine', 'mmengine-lite'),
        'mmcv': first('mmcv', 'mmcv-lite', 'mmcv-full'),
        'mmseg': first('mmsegmentation'),
        'torch': first('torch'),
        'mmpretrain': first('mmpretrain'),
    }


def check_versions(
        versions: Optional[Dict[str, Optional[str]]] = None) -> None:
    """Raise ``ImportError`` naming every package outside its range
    (a missing optional package, ``OPTIONAL_VERSIONS``, is no problem).

    Args:
        versions: package name -> version string (``None`` if missing).
            Defaults to the installed distributions.
    """
    versions = _installed_versions() if versions is None else versions
    problems = []
    ranges = {**SUPPORTED_VERSIONS, **OPTIONAL_VERSIONS}
    for name, (low, high, fix) in ranges.items():
        found = versions.get(name)
        if found is None:
            if name not in OPTIONAL_VERSIONS:
                problems.append(f'{name} is not installed; {fix}')
            continue
        try:
            # Local labels such as '+cpu' / '+cu121' do not affect the range.
            release = Version(Version(found).base_version)
        except InvalidVersion:
            problems.append(f'{name} has an unparsable version {found!r}')
            continue
        if not Version(low) <= release < Version(high):
            problems.append(f'{name} {found} is not supported (need >={low},'
                            f' <{high}); {fix}')
    if problems:
        raise ImportError('mmseg_uda cannot run on this environment:\n  - ' +
                          '\n  - '.join(problems))
