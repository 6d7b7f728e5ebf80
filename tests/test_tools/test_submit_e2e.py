"""``tools/test.py --submit`` end to end on a tiny model checkpoint and
generated test splits in the benchmarks' layouts: the archive to upload,
from one process (ACDC, HRDA's sliding windows) and from
``tools/dist_test.sh`` with 2 gloo processes and ``--tta`` (Dark Zurich,
DAFormer)."""
import os.path as osp
import sys
import zipfile

import numpy as np
import torch
from mmengine.config import Config
from PIL import Image

from tests.helpers import REPO, make_test_split, run_tool

CONFIGS = dict(
    daformer='configs/quickstart/daformer_mit-tiny_1xb2-1k_synthetic-128x128.py',
    hrda='configs/quickstart/hrda_mit-tiny_1xb2-1k_synthetic-256x256.py')
LOADER = ['test_dataloader.num_workers=0',
          'test_dataloader.persistent_workers=False']


def checkpoint(name, tmp_path):
    """A checkpoint of the (randomly initialised) model of ``name``."""
    from mmseg.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(osp.join(REPO, CONFIGS[name])).model)
    ckpt = str(tmp_path / f'{name}.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    return ckpt


def archived_pngs(path):
    with zipfile.ZipFile(path) as z:
        out = {}
        for name in z.namelist():
            with z.open(name) as f:
                out[name] = np.array(Image.open(f))
        return out


def image_shape(path):
    return np.array(Image.open(path)).shape[:2]


def test_acdc_submission_archive(tmp_path):
    images = make_test_split(str(tmp_path / 'acdc'), 'acdc')
    work = tmp_path / 'work'
    proc = run_tool([
        'tools/test.py', CONFIGS['hrda'],
        checkpoint('hrda', tmp_path), '--submit', 'acdc', '--work-dir',
        str(work), '--cfg-options',
        f'test_dataloader.dataset.data_root={tmp_path / "acdc"}',
        'test_evaluator.images_per_condition=2', *LOADER])
    assert proc.returncode == 0, proc.stdout[-3000:]
    pngs = archived_pngs(work / 'submission' / 'acdc_test.zip')
    assert sorted(pngs) == sorted(osp.basename(p) for p in images)
    for path in images:
        pred = pngs[osp.basename(path)]
        assert pred.dtype == np.uint8 and pred.max() < 19
        assert pred.shape == image_shape(path)
    fog = archived_pngs(work / 'submission' / 'acdc_test_fog.zip')
    assert sorted(fog) == sorted(osp.basename(p) for p in images
                                 if '/fog/' in p)


def test_darkzurich_submission_two_processes_tta(tmp_path):
    """3 images on 2 ranks: the sampler pads rank 1 with a repeat of the
    first image, which mmengine drops when it gathers the results; each
    rank writes its own PNGs, rank 0 checks and zips them."""
    from tests.test_engine.dist_launch import free_port
    images = make_test_split(str(tmp_path / 'dz'), 'darkzurich')
    work = tmp_path / 'work'
    proc = run_tool([
        'tools/dist_test.sh', CONFIGS['daformer'],
        checkpoint('daformer', tmp_path), '2', '--tta', '--submit',
        'darkzurich', '--work-dir', str(work), '--cfg-options',
        f'test_dataloader.dataset.data_root={tmp_path / "dz"}',
        'test_evaluator.expected_images=3', *LOADER
    ], env_extra=dict(PYTHON=sys.executable, PORT=str(free_port())))
    assert proc.returncode == 0, proc.stdout[-3000:]
    pngs = archived_pngs(work / 'submission' / 'darkzurich_test.zip')
    assert len(pngs) == 9
    for path in images:
        name = osp.basename(path)
        labels = pngs[f'labelTrainIds/{name}']
        conf = pngs[f'confidence/{name}']
        invalid = pngs[f'labelTrainIds_invalid/{name}']
        assert labels.shape == conf.shape == invalid.shape == \
            image_shape(path)
        assert conf.dtype == np.uint16 and labels.dtype == np.uint8
        # the argmax class has at least 1/19 of the probability
        assert conf.min() >= 65535 // 19
        low = conf < 0.5 * 65535
        np.testing.assert_array_equal(invalid[low], 255)
        np.testing.assert_array_equal(invalid[~low], labels[~low])


def test_submit_switch_keeps_the_config_pipeline_without_labels():
    """``--submit`` swaps the dataset and evaluator in and keeps the
    config's own test and TTA pipelines (HRDA's sizes) minus the label
    loading; TestTimeAug loses the emptied ``[LoadAnnotations]`` list (an
    empty list would leave it no combination). An unknown name lists the
    known ones."""
    import pytest

    from tests.helpers import load_tool
    launch = load_tool('tools/launch_utils.py')
    cfg = Config.fromfile(osp.join(REPO, CONFIGS['hrda']))
    before = [t for t in cfg.test_dataloader.dataset.pipeline
              if t.type != 'LoadAnnotations']
    launch.apply_test_split(cfg, 'darkzurich')
    assert cfg.test_dataloader.dataset.pipeline == before
    assert cfg.test_dataloader.dataset.data_prefix == dict(
        img_path='rgb_anon/test/night')
    assert cfg.test_evaluator.type == 'DarkZurichSubmissionMetric'
    assert cfg.tta_model.type == 'SegTTASoftmaxModel'
    tta = cfg.tta_pipeline[1]
    assert len(tta.transforms) == 3
    assert 'LoadAnnotations' not in str(cfg.tta_pipeline)
    with pytest.raises(FileNotFoundError, match="'acdc', 'cityscapes'"):
        launch.apply_test_split(cfg, 'acdc-test')
