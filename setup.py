"""Install mmseg_uda: ``pip install -e .`` (develop) or ``pip install .``."""
import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_requirements(path):
    """Requirement lines of ``path``, without comments and blank lines."""
    with open(osp.join(HERE, path)) as f:
        return [line.split('#')[0].strip() for line in f
                if line.split('#')[0].strip()]


def get_version():
    scope = {}
    with open(osp.join(HERE, 'mmseg_uda', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


def add_mim_extension():
    """Ship ``tools/``, ``configs/`` and ``model-index.yml`` inside the
    package as ``.mim/`` so ``mim train mmseg_uda CONFIG`` finds the tools
    and ``mim search mmseg_uda`` the model index (symlinks in develop mode,
    copies otherwise), as OpenMMLab packages do."""
    develop = any(a in sys.argv for a in ('develop', 'editable_wheel'))
    mim_dir = osp.join(HERE, 'mmseg_uda', '.mim')
    os.makedirs(mim_dir, exist_ok=True)
    for name in ('tools', 'configs', 'model-index.yml'):
        src = osp.join(HERE, name)
        dst = osp.join(mim_dir, name)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if develop:
            os.symlink(osp.relpath(src, mim_dir), dst)
        elif osp.isdir(src):
            shutil.copytree(src, dst)
        else:
            shutil.copyfile(src, dst)


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='mmseg_uda',
        version=get_version(),
        description='Unsupervised domain adaptation (DAFormer, HRDA, MIC, '
        'AdaptSegNet, PFR) for MMSegmentation 1.x',
        long_description=open(osp.join(HERE, 'README.md')).read(),
        long_description_content_type='text/markdown',
        license='Apache License 2.0',
        python_requires='>=3.8',
        packages=find_packages(exclude=('tests', 'tests.*', 'configs',
                                        'tools', 'benchmarks')),
        include_package_data=True,
        package_data={'mmseg_uda': ['.mim/**/*', '.mim/*/*/*/*']},
        install_requires=(read_requirements('requirements/openmmlab.txt') +
                          read_requirements('requirements/runtime.txt')),
        extras_require={
            'lite': read_requirements('requirements/mmcv-lite.txt'),
            'mmcv': read_requirements('requirements/mmcv.txt'),
            'tests': read_requirements('requirements/tests.txt'),
            # foundation-model encoders (configs/vfm/, docs/vfm.md)
            'vfm': (read_requirements('requirements/vfm.txt') +
                    read_requirements('requirements/vfm-runtime.txt')),
        },
        zip_safe=False)
