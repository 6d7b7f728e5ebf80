"""The quick-start demo (``tools/quickstart.py``): a tiny run end to end
(table, four-panel figure, mIoU curve, results), the method switch by flag
and environment variable, run reuse, and its helpers."""
import json
import os.path as osp
import re

import cv2
import numpy as np
import pytest

from mmseg_uda.apis.vis_utils import GAP, colorize, grid_geometry
from tests.helpers import load_tool, run_tool

qs = load_tool('tools/quickstart.py')

TINY = ['--iters', '4', '--val-interval', '2', '--num-vis', '2']
VAL_H, VAL_W = 128, 256  # the synthetic target images (W x H = 256 x 128)


@pytest.fixture(scope='module')
def tiny_run(synthetic_data, tmp_path_factory):
    work = str(tmp_path_factory.mktemp('quickstart') / 'qs')
    data_dir = osp.dirname(synthetic_data['gta'])
    proc = run_tool(['tools/quickstart.py', *TINY, '--work-dir', work,
                     '--data-dir', data_dir])
    assert proc.returncode == 0, proc.stdout[-4000:]
    with open(osp.join(work, 'results.json')) as f:
        results = json.load(f)
    return dict(work=work, data_dir=data_dir, stdout=proc.stdout,
                results=results, roots=synthetic_data)


def test_prints_the_table(tiny_run):
    out = tiny_run['stdout']
    assert re.search(r'class\s+source-only\s+DAFormer\s+delta', out), out
    for name in qs.METHODS['daformer'][:1] + ('road', 'sky', 'bicycle'):
        assert name in out
    m = re.search(r'^mIoU\s+([\d.]+)\s+([\d.]+)\s+([+-][\d.]+)$', out, re.M)
    assert m, out[-2000:]
    res = tiny_run['results']
    assert float(m.group(1)) == pytest.approx(
        res['runs']['source-only']['mIoU'], abs=0.01)
    assert float(m.group(2)) == pytest.approx(
        res['runs']['DAFormer']['mIoU'], abs=0.01)
    # every training line and validation of both runs was displayed
    assert re.search(r'DAFormer\s+4/4', out) and re.search(
        r'source-only\s+iter\s+4: target mIoU', out)


def test_prints_health_and_checkpoint_ranking(tiny_run):
    """The UDA run's health at each validation with the verdict on
    self-training (4 iterations: the teacher is unsure, so it says why it
    is off and what to do), and its two checkpoints ranked with their
    mIoU; both in results.json."""
    out, res = tiny_run['stdout'], tiny_run['results']
    assert 'Self-training health of DAFormer' in out
    assert re.search(r'Self-training health at iteration 2: confident '
                     r'share [\d.]+ %', out), out[-3000:]
    assert 'Self-training is on' in out or (
        'Self-training stayed off' in out and 'load_from' in out)
    assert [e['iter'] for e in res['health']] == [2, 4]
    assert 'Checkpoint ranking of DAFormer' in out
    assert 'Label-free pick' in out
    rows = res['checkpoint_ranking']
    assert sorted(r['iter'] for r in rows) == [2, 4]
    final = next(r for r in rows if r['iter'] == 4)
    assert final['mIoU'] == pytest.approx(res['runs']['DAFormer']['mIoU'],
                                          abs=0.011)


def test_health_verdict():
    """On from the first validation with a confident share >= 1 % (rules
    out > at the boundary); off with the advice otherwise."""
    def entry(it, share):
        return dict(iter=it, confident_share=share, agreement=0.5,
                    entropy=1.0, source_freq=None, collapsed=[],
                    collapse_check=True)

    on = qs.format_health([entry(2, 0.0), entry(4, 0.01), entry(6, 0.3)],
                          'DAFormer')
    assert 'Self-training is on' in on and 'iteration 4 on' in on
    off = qs.format_health([entry(2, 0.0), entry(4, 0.009)], 'DAFormer')
    assert 'Self-training stayed off' in off and 'classwise' in off


def test_figure_has_four_panels_per_row(tiny_run):
    work, res = tiny_run['work'], tiny_run['results']
    fig = cv2.imread(osp.join(work, 'figure.png'))[..., ::-1]
    h, w = grid_geometry(rows=2, cols=4, panel_h=VAL_H, panel_w=VAL_W)
    assert fig.shape[1] == w == 4 * VAL_W + 3 * GAP
    assert fig.shape[0] > h  # + the class legend
    # white gaps between the four columns, panels in between
    from mmseg_uda.apis.vis_utils import HEADER
    body = fig[HEADER:h]
    for c in range(1, 4):
        gap = body[:, c * (VAL_W + GAP) - GAP:c * (VAL_W + GAP)]
        assert (gap == 255).all()
    # column 1 is the target image, column 4 its label (Cityscapes colours)
    cs = tiny_run['roots']['cityscapes']
    first = sorted(
        p for p in _val_images(cs))[0]  # the val loader's order
    img = cv2.imread(first)[..., ::-1]
    gt = cv2.imread(
        first.replace('leftImg8bit', 'gtFine', 1).replace(
            '_leftImg8bit.png', '_gtFine_labelTrainIds.png'),
        cv2.IMREAD_UNCHANGED)
    assert np.array_equal(body[:VAL_H, :VAL_W], img)
    x3 = 3 * (VAL_W + GAP)
    assert np.array_equal(body[:VAL_H, x3:x3 + VAL_W], colorize(gt))
    # the prediction columns are label colours too
    pal = {tuple(c) for c in colorize(np.arange(19)[None])[0]} | {(0, 0, 0)}
    for c in (1, 2):
        x = c * (VAL_W + GAP)
        colours = {tuple(v) for v in body[:VAL_H, x:x + VAL_W].reshape(-1, 3)}
        assert colours <= pal
    assert res['figure'] == osp.join(work, 'figure.png')


def _val_images(cs_root):
    import glob
    return glob.glob(osp.join(cs_root, 'leftImg8bit', 'val', '*', '*.png'))


def test_curve_and_results(tiny_run):
    work, res = tiny_run['work'], tiny_run['results']
    curve = cv2.imread(osp.join(work, 'miou_curve.png'))
    assert curve is not None and curve.shape[0] > 100
    assert res['method'] == 'daformer' and res['iters'] == 4
    for name in ('source-only', 'DAFormer'):
        run = res['runs'][name]
        assert [it for it, _ in run['val_history']] == [2, 4]
        # the table's mIoU (own evaluation) equals the run's last validation
        assert run['mIoU'] == pytest.approx(run['val_history'][-1][1],
                                            abs=0.011)
        assert len(run['per_class_iou']) == 19
        assert run['sec_per_iter'] > 0 and osp.exists(run['checkpoint'])
        assert run['checkpoint'].startswith(work)
    assert res['val_label_pixels'][0] > 0  # road


def test_hrda_by_environment_variable_reuses_source_only(tiny_run):
    proc = run_tool(['tools/quickstart.py', *TINY, '--num-vis', '1',
                     '--work-dir', tiny_run['work'], '--data-dir',
                     tiny_run['data_dir']], env_extra={'UDA_METHOD': 'hrda'})
    assert proc.returncode == 0, proc.stdout[-4000:]
    out = proc.stdout
    assert re.search(r'source-only\s+reusing the finished run', out), out
    assert re.search(r'class\s+source-only\s+HRDA\s+delta', out), out
    with open(osp.join(tiny_run['work'], 'results.json')) as f:
        res = json.load(f)
    assert res['method'] == 'hrda'
    assert [i for i, _ in res['runs']['HRDA']['val_history']] == [2, 4]
    fig = cv2.imread(osp.join(tiny_run['work'], 'figure.png'))
    assert fig.shape[1] == 4 * VAL_W + 3 * GAP


def test_parse_args_method_and_defaults(monkeypatch):
    monkeypatch.delenv(qs.ENV_METHOD, raising=False)
    a = qs.parse_args([])
    assert a.method == 'daformer' and a.iters == qs.DEFAULT_ITERS['daformer']
    assert a.val_interval == a.iters // 5
    assert a.data_dir == osp.join('work_dirs/quickstart', 'data')
    monkeypatch.setenv(qs.ENV_METHOD, 'MIC')
    assert qs.parse_args([]).method == 'mic'
    assert qs.parse_args(['--method', 'hrda']).method == 'hrda'  # flag wins
    monkeypatch.setenv(qs.ENV_METHOD, 'nope')
    with pytest.raises(SystemExit):
        qs.parse_args([])


def test_every_method_has_its_config():
    for _, rel in list(qs.METHODS.values()) + [qs.SOURCE_ONLY]:
        assert osp.exists(osp.join(qs.config_dir(), rel)), rel


def test_build_cfg_shortens_the_schedule():
    roots = dict(gta='/d/gta', cityscapes='/d/cs')
    cfg = qs.build_cfg(
        osp.join(qs.config_dir(), qs.METHODS['daformer'][1]), roots, '/w',
        iters=50, val_interval=10)
    assert cfg.train_cfg.max_iters == 50 and cfg.train_cfg.val_interval == 10
    sched = cfg.param_scheduler[0]
    assert sched.max_iters == 50 and sched.warmup_iters == 10
    assert cfg.train_dataloader.dataset.source.data_root == '/d/gta'
    assert cfg.val_dataloader.dataset.data_root == '/d/cs'
    # the UDA model pads like its segmentor (128x128 crops stay 128x128):
    # its declared UDADataPreProcessor takes the segmentor's own
    assert cfg.model.data_preprocessor == dict(type='UDADataPreProcessor')
    assert cfg.model.segmentor.data_preprocessor.size == (128, 128)
    # a checkpoint per validation, all kept (the demo ranks them)
    assert cfg.default_hooks.checkpoint.interval == 10
    assert cfg.default_hooks.checkpoint.max_keep_ckpts == -1
    assert cfg.randomness.seed == 0


def test_format_table_marks_absent_classes():
    classes = ['road', 'sky', 'bus']
    a = np.array([0.5, 0.25, np.nan])
    b = np.array([0.75, 0.0, np.nan])
    table = qs.format_table(classes, {'src': a, 'uda': b},
                            np.array([10, 5, 0]))
    lines = table.splitlines()
    assert re.search(r'road\s+50.00\s+75.00\s+\+25.00', table)
    assert re.search(r'bus \*\s+-\s+-\s+-', table)
    assert re.search(r'mIoU\s+37.50\s+37.50\s+\+0.00', lines[-2])
    assert qs.miou(np.array([np.nan, np.nan])) != qs.miou(a)  # nan


def test_make_figure_geometry(tmp_path):
    rng = np.random.default_rng(0)
    vis = [dict(image=rng.integers(0, 255, (20, 30, 3), dtype=np.uint8),
                pred=rng.integers(0, 19, (20, 30)),
                gt=rng.integers(0, 19, (20, 30))) for _ in range(3)]
    grid = qs.make_figure(vis, vis, ['a', 'b', 'c', 'd'],
                          str(tmp_path / 'f.png'))
    h, w = grid_geometry(3, 4, 20, 30)
    assert grid.shape[1] == w and grid.shape[0] > h
    assert cv2.imread(str(tmp_path / 'f.png')).shape == grid.shape
