"""The OpenMMLab model index (``model-index.yml`` and the metafiles of the
configs folders): every config listed, the published numbers those of
docs/model_zoo.md, and ``mim search mmseg_uda`` on the installed package
listing them."""
import glob
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import zipfile

from modelindex.load_model_index import load

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _models():
    return load(osp.join(ROOT, 'model-index.yml')).models


def _published(model):
    """{dataset: mIoU} of a model-index entry."""
    return {r.dataset: r.metrics['mIoU'] for r in (model.results or [])}


def _zoo_numbers():
    """{config path: first number of the 'paper mIoU' cell (or of the
    released-model cell), None for '–'} from docs/model_zoo.md; the first
    table naming a config wins (the quick-start table repeats one)."""
    numbers = {}
    with open(osp.join(ROOT, 'docs', 'model_zoo.md')) as f:
        for line in f:
            m = re.match(r'\| `([\w./-]+\.py)` \| [^|]+\| ([^|]+)\|', line)
            if m and m.group(1) not in numbers:
                num = re.match(r'\s*(?:paper )?(\d+\.\d+)', m.group(2))
                numbers[m.group(1)] = float(num.group(1)) if num else None
    return numbers


def test_every_config_listed_once_and_exists():
    """Rules out a config added without its metafile entry (or a listed one
    renamed away), two entries for one config and name clashes (mim indexes
    by name: the source-only configs share stems with the UDA ones)."""
    models = _models()
    configs = [m.config for m in models]
    on_disk = sorted(
        osp.relpath(p, ROOT)
        for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                           recursive=True)
        if '_base_' not in p.split(os.sep))
    assert sorted(configs) == on_disk
    names = [m.name for m in models]
    assert len(set(names)) == len(names)
    for m in models:
        assert osp.isfile(osp.join(ROOT, m.config)), m.config
        readme = m.in_collection and [
            c for c in load(osp.join(ROOT, 'model-index.yml')).collections
            if c.name == m.in_collection][0].readme
        assert readme and osp.isfile(osp.join(ROOT, readme)), m.name


def test_published_numbers_are_the_model_zoo_ones():
    """Rules out a number copied wrong into a metafile and a published
    number of the zoo left out of the index (or one invented for a config
    the zoo lists without one); ACDC/Dark Zurich are test-server numbers."""
    zoo = _zoo_numbers()
    models = {m.config[len('configs/'):]: m for m in _models()}
    listed = {k: v for k, v in zoo.items() if k in models}
    assert len(listed) == len(models) - 4  # the quick-start table's 4 rows
    for config, number in listed.items():
        published = _published(models[config])
        if number is None:
            assert not published, config
            continue
        assert list(published.values()) == [number], config
        dataset = next(iter(published))
        if 'cityscapes2acdc' in config:
            assert dataset == 'ACDC-test'
        elif 'cityscapes2darkzurich' in config:
            assert dataset == 'DarkZurich-test'
        else:
            assert dataset.startswith('Cityscapes-val'), config


def _install_wheel(tmp_path):
    """Build the package's wheel from a copy of the working tree (as
    ``pip install .`` does) and unpack it, as site-packages would hold it."""
    src = tmp_path / 'src'
    files = subprocess.run(
        ['git', 'ls-files', '-co', '--exclude-standard'], cwd=ROOT,
        check=True, capture_output=True, text=True).stdout.split()
    for rel in files:
        if osp.isfile(osp.join(ROOT, rel)):
            os.makedirs(src / osp.dirname(rel), exist_ok=True)
            shutil.copy2(osp.join(ROOT, rel), src / rel)
    subprocess.run(
        [sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps',
         '--no-build-isolation', '-w', str(tmp_path / 'wheel'), str(src)],
        check=True, capture_output=True)
    site = tmp_path / 'site'
    wheel, = glob.glob(str(tmp_path / 'wheel' / '*.whl'))
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    return site


def test_mim_search_lists_configs_with_published_numbers(tmp_path):
    """``mim search mmseg_uda`` on the installed (not editable) package:
    the wheel must ship ``.mim/model-index.yml`` and the metafiles it
    imports. Rules out a model index left out of the package (mim then
    says to upgrade the package) or a metafile not shipped."""
    site = _install_wheel(tmp_path)
    assert (site / 'mmseg_uda' / '.mim' / 'model-index.yml').is_file()
    models = _models()
    fields = sorted({f'{d.lower()}/miou' for m in models
                     for d in _published(m)})
    env = dict(os.environ, PYTHONPATH=str(site), PYTHONWARNINGS='ignore')
    out = subprocess.run(
        [sys.executable, '-m', 'mim', 'search', 'mmseg_uda', '--field',
         'config', *fields],
        cwd=tmp_path, env=env, check=True, capture_output=True,
        text=True).stdout
    shown = {}
    for block in out.split('config id: ')[1:]:
        name, *lines = block.splitlines()
        shown[name.strip()] = {
            k: float(v) for k, v in (
                line.split() for line in lines if '/miou' in line)}
    assert set(shown) == {m.name for m in models}
    for m in models:
        assert shown[m.name] == {
            f'{d.lower()}/miou': v for d, v in _published(m).items()}, m.name
