"""``tools/analysis_tools/visualize_uda.py``: predictions, teacher
pseudo-labels and confidence of UDA checkpoints, HRDA scale attention, on
the synthetic target images (checkpoints of untrained tiny models)."""
import glob
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmseg_uda.apis.visualize import scale_attention
from tests.helpers import REPO, load_tool

CONFIGS = {
    'daformer': 'configs/quickstart/'
                'daformer_mit-tiny_1xb2-1k_synthetic-128x128.py',
    'hrda': 'configs/quickstart/hrda_mit-tiny_1xb2-1k_synthetic-256x256.py',
    'source-only': 'configs/quickstart/'
                   'source-only_mit-tiny_1xb2-1k_synthetic-128x128.py',
}


def _tool():
    return load_tool('tools/analysis_tools/visualize_uda.py')


def _checkpoint(name, tmp_path):
    """A config on the synthetic data and a checkpoint of its (randomly
    initialised) model."""
    from mmseg.registry import MODELS
    cfg = Config.fromfile(osp.join(REPO, CONFIGS[name]))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    ckpt = str(tmp_path / f'{name}.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    return osp.join(REPO, CONFIGS[name]), ckpt


def _val_images(roots):
    return sorted(glob.glob(osp.join(roots['cityscapes'], 'leftImg8bit',
                                     'val', '*', '*.png')))


@pytest.mark.parametrize('name,kinds', [
    ('daformer', {'pred', 'pseudo_label', 'confidence', 'panel'}),
    ('hrda', {'pred', 'pseudo_label', 'confidence', 'attention', 'panel'}),
    ('source-only', {'pred', 'panel'}),
])
def test_tool_writes_pngs(name, kinds, synthetic_data, tmp_path):
    cfg, ckpt = _checkpoint(name, tmp_path)
    images = _val_images(synthetic_data)
    out = str(tmp_path / 'vis')
    summary = _tool().main([cfg, ckpt, images[0], osp.dirname(images[1]),
                            '--max-images', '2', '--out-dir', out])
    assert len(summary) == 2
    with open(osp.join(out, 'summary.json')) as f:
        assert json.load(f) == summary
    for entry in summary:
        assert set(entry['files']) == kinds
        h, w = cv2.imread(entry['image']).shape[:2]
        for kind, path in entry['files'].items():
            img = cv2.imread(path)
            assert img is not None, path
            if kind != 'panel':
                assert img.shape[:2] == (h, w), kind
            else:
                assert img.shape[1] == len(kinds) * w + (len(kinds) - 1) * 4
        if 'pseudo_label' in kinds:
            assert 0.0 <= entry['pseudo_weight'] <= 1.0
            assert entry['threshold'] == pytest.approx(0.968)
        else:
            assert 'pseudo_weight' not in entry


def test_scale_attention_matches_the_fusion():
    """The attention the tool draws is the one HRDA fuses with: the fused
    logits equal ``a * hr + (1 - a) * lr`` with the tool's ``a``."""
    from mmseg.models.utils import resize
    from mmseg.registry import MODELS
    cfg = Config.fromfile(osp.join(REPO, CONFIGS['hrda']))
    seg = MODELS.build(cfg.model.segmentor).eval()
    x = torch.randn(1, 3, 64, 64)
    label = torch.randint(0, 19, (1, 64, 64))
    att = scale_attention(seg, x, label)
    assert att.shape == (1, 64, 64)
    assert float(att.min()) >= 0 and float(att.max()) <= 1
    # by hand, at the context resolution
    lr = resize(x, scale_factor=seg.scales[0], mode='bilinear',
                align_corners=seg.align_corners)
    with torch.no_grad():
        full = seg.decode_head.get_scale_attention(seg.extract_feat(lr))
    full = resize(full, size=(64, 64), mode='bilinear',
                  align_corners=seg.align_corners)
    expect = full.gather(1, label[:, None])[:, 0]
    assert torch.allclose(att, expect)
    mean = scale_attention(seg, x)
    assert torch.allclose(mean, full.mean(1))


def test_pseudo_weight_is_the_dacs_weight(synthetic_data, tmp_path):
    """The drawn weight is DACS's: the share of teacher pixels with
    confidence >= threshold; the darkened pixels are exactly those below."""
    from mmseg.apis import init_model

    from mmseg_uda.apis.visualize import analyse_image, render, test_pipeline
    cfg, ckpt = _checkpoint('daformer', tmp_path)
    model = init_model(cfg, None, device='cpu')
    model.load_state_dict(torch.load(ckpt)['state_dict'])
    img = _val_images(synthetic_data)[0]
    res = analyse_image(model, test_pipeline(model.cfg), img, threshold=0.1)
    conf = res['confidence']
    assert res['pseudo_weight'] == pytest.approx(float((conf >= 0.1).mean()))
    drawn = render(res)
    from mmseg_uda.apis.vis_utils import colorize
    full = colorize(res['pseudo_label'])
    low = conf < 0.1
    assert np.array_equal(drawn['pseudo_label'][~low], full[~low])


def test_validation_images_are_drawn_with_their_ground_truth(
        synthetic_data, tmp_path):
    """Without image arguments the tool takes the config's val set and
    draws each image's own label (rules out a missing, shifted or
    mismatched ground-truth column)."""
    from mmseg_uda.apis.vis_utils import colorize
    cfg, ckpt = _checkpoint('source-only', tmp_path)
    out = str(tmp_path / 'vis')
    summary = _tool().main([
        cfg, ckpt, '--max-images', '2', '--out-dir', out, '--cfg-options',
        f'val_dataloader.dataset.data_root={synthetic_data["cityscapes"]}'])
    assert [e['image'] for e in summary] == _val_images(synthetic_data)[:2]
    for entry in summary:
        assert set(entry['files']) == {'pred', 'gt', 'panel'}
        label = cv2.imread(entry['image'].replace(
            'leftImg8bit', 'gtFine', 1).replace(
                '_leftImg8bit.png', '_gtFine_labelTrainIds.png'),
            cv2.IMREAD_UNCHANGED)
        drawn = cv2.imread(entry['files']['gt'])[..., ::-1]
        assert np.array_equal(drawn, colorize(label))
        panel = cv2.imread(entry['files']['panel'])
        assert panel.shape[1] == 3 * label.shape[1] + 2 * 4


def test_render_uses_the_classes_and_palette_of_the_data():
    """Own data with other classes: the colours and the legend come from
    the checkpoint's dataset_meta, not from Cityscapes."""
    from mmseg_uda.apis.visualize import render
    meta = dict(classes=('sky', 'ground', 'boat'),
                palette=[[10, 20, 30], [40, 50, 60], [70, 80, 90]])
    pred = np.array([[0, 1], [2, 255]])
    res = dict(image=np.zeros((2, 2, 3), np.uint8), pred=pred, gt=pred[::-1])
    drawn = render(res, dataset_meta=meta)
    assert drawn['pred'][1, 0].tolist() == [70, 80, 90]
    assert drawn['gt'][0, 0].tolist() == [70, 80, 90]
    assert drawn['pred'][1, 1].tolist() == [0, 0, 0]  # ignore
    from mmseg_uda.apis.vis_utils import HEADER
    legend = drawn['panel'][HEADER + 2:]  # below the 2-pixel panels
    for colour in meta['palette']:
        assert (legend == colour).all(-1).any()


def test_unreadable_image_is_named_and_skipped(synthetic_data, tmp_path):
    """An unreadable image among others: named on stderr, the others drawn,
    exit status 1 at the end (rules out the bare AssertionError of mmcv's
    loader that ended the run and lost the other images)."""
    import shutil
    import subprocess
    import sys
    cfg, ckpt = _checkpoint('source-only', tmp_path)
    images = tmp_path / 'images'
    images.mkdir()
    for src in _val_images(synthetic_data)[:2]:
        shutil.copy(src, images)
    broken = images / 'a_broken.png'  # sorted first
    broken.write_bytes(b'\x89PNG broken')
    out = tmp_path / 'vis'
    proc = subprocess.run(
        [sys.executable, 'tools/analysis_tools/visualize_uda.py', cfg, ckpt,
         str(images), '--out-dir', str(out)],
        cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1'),
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert f'skipping {broken}' in proc.stderr
    assert 'Traceback' not in proc.stderr
    with open(out / 'summary.json') as f:
        summary = json.load(f)
    assert summary[0]['image'] == str(broken) and str(broken) in summary[0][
        'error']
    assert [len(e.get('files', ())) for e in summary[1:]] == [2, 2]
