"""Benchmark-server submission writers (ACDC, Dark Zurich, Cityscapes) on
generated trees in each test split's layout: the test datasets load images
only, each archive holds exactly one correctly named, encoded and sized
prediction per image, and a missing, misnamed or wrong prediction fails
naming the file."""
import os
import os.path as osp
import zipfile

import numpy as np
import pytest
import torch
from mmseg.registry import DATASETS, METRICS
from PIL import Image

from mmseg_uda.evaluation import SubmissionError
from tests.helpers import make_test_split

CLASSES = ('road', 'sidewalk', 'building', 'wall', 'fence', 'pole',
           'traffic light', 'traffic sign', 'vegetation', 'terrain', 'sky',
           'person', 'rider', 'car', 'truck', 'bus', 'train', 'motorcycle',
           'bicycle')
#: What test split configs read (configs/_base_/datasets/test_splits/)
DATASET = dict(
    acdc=dict(type='ACDCDataset', data_prefix=dict(img_path='rgb_anon'),
              split='test'),
    darkzurich=dict(type='DarkZurichUDADataset',
                    data_prefix=dict(img_path='rgb_anon/test/night')),
    cityscapes=dict(type='CityscapesDataset',
                    data_prefix=dict(img_path='leftImg8bit/test')))
PIPELINE = [dict(type='LoadImageFromFile'), dict(type='PackSegInputs')]


def build_split(tmp_path, target):
    images = make_test_split(str(tmp_path / 'data'), target)
    ds = DATASETS.build(dict(DATASET[target], data_root=str(
        tmp_path / 'data'), pipeline=PIPELINE))
    return images, ds


def logits_for(shape, seed):
    """Logits with uneven confidences: a per-pixel scale spreads the
    softmax maxima over (0.05, 1)."""
    g = torch.Generator().manual_seed(seed)
    scale = torch.rand(1, *shape, generator=g) * 6
    return torch.randn(len(CLASSES), *shape, generator=g) * scale


def samples_of(ds):
    """Predicted data samples (dicts, as mmengine hands them to metrics) of
    every image of ``ds``: the prediction is the argmax of the logits, at
    the image's original size."""
    out = []
    for i in range(len(ds)):
        item = ds[i]['data_samples']
        h, w = item.ori_shape
        logits = logits_for((h, w), i)
        out.append(dict(
            img_path=item.img_path, ori_shape=(h, w),
            seg_logits=dict(data=logits),
            pred_sem_seg=dict(data=logits.argmax(0, keepdim=True))))
    return out


def run_metric(cfg, samples, batch=2):
    metric = METRICS.build(cfg)
    metric.dataset_meta = dict(classes=CLASSES)
    for i in range(0, len(samples), batch):
        metric.process({}, samples[i:i + batch])
    return metric, metric.compute_metrics(metric.results)


def zip_listing(path):
    with zipfile.ZipFile(path) as z:
        return sorted(z.namelist())


def zip_png(path, name):
    with zipfile.ZipFile(path) as z, z.open(name) as f:
        img = Image.open(f)
        img.load()
        return img.mode, np.array(img)


def test_test_splits_load_images_only(tmp_path):
    """Rules out a test split read from the train folders (ACDC keeps them
    next to the test ones), one that needs labels, and a condition order
    other than the config's."""
    for target in ('acdc', 'darkzurich', 'cityscapes'):
        images, ds = build_split(tmp_path / target, target)
        infos = [ds.get_data_info(i) for i in range(len(ds))]
        assert sorted(i['img_path'] for i in infos) == images
        assert all('seg_map_path' not in i or i['seg_map_path'] is None
                   for i in infos)
        assert 'gt_sem_seg' not in ds[0]['data_samples']
    fog_snow = DATASETS.build(dict(
        DATASET['acdc'], data_root=str(tmp_path / 'acdc' / 'data'),
        pipeline=PIPELINE, conditions=('snow', 'fog')))
    conditions = [fog_snow.get_data_info(i)['img_path'].split(os.sep)[-4]
                  for i in range(len(fog_snow))]
    assert conditions == ['snow', 'snow', 'fog', 'fog']
    with pytest.raises(ValueError, match='dust'):
        DATASETS.build(dict(DATASET['acdc'], data_root=str(tmp_path),
                            conditions=('dust', ), pipeline=PIPELINE))


def test_acdc_archives_all_and_per_condition(tmp_path):
    """One 8-bit trainId PNG per test image, named as the image, at its
    size, at the archive root; one archive of all conditions and one per
    condition. Rules out palette/colour PNGs, a resized prediction, a
    renamed file (e.g. ``_gt_labelTrainIds``), a parent folder in the
    archive and per-condition archives holding other conditions."""
    images, ds = build_split(tmp_path, 'acdc')
    samples = samples_of(ds)
    out = tmp_path / 'out'
    run_metric(dict(type='ACDCSubmissionMetric', output_dir=str(out),
                    images_per_condition=2), samples)
    names = sorted(osp.basename(p) for p in images)
    assert zip_listing(out / 'acdc_test.zip') == names
    for s in samples:
        name = osp.basename(s['img_path'])
        mode, array = zip_png(out / 'acdc_test.zip', name)
        assert mode == 'L' and array.dtype == np.uint8
        assert array.shape == s['ori_shape']
        np.testing.assert_array_equal(array, s['pred_sem_seg']['data'][0])
    for condition in ('fog', 'night', 'rain', 'snow'):
        listed = zip_listing(out / f'acdc_test_{condition}.zip')
        assert listed == sorted(
            osp.basename(p) for p in images
            if f'{os.sep}{condition}{os.sep}' in p)
        assert len(listed) == 2


def test_missing_misnamed_or_wrong_prediction_fails_naming_it(tmp_path):
    """Rules out a check that counts files (a misnamed file keeps the
    count), one that trusts the names only (a wrong size or value passes),
    and an archive written in spite of the problems."""
    images, ds = build_split(tmp_path, 'acdc')
    samples = samples_of(ds)
    out = tmp_path / 'out'
    metric = METRICS.build(dict(type='ACDCSubmissionMetric',
                                output_dir=str(out)))
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, samples)
    pred_dir = out / 'acdc_test'
    names = sorted(os.listdir(pred_dir))
    os.rename(pred_dir / names[0],
              pred_dir / names[0].replace('_rgb_anon', '_gt_labelTrainIds'))
    Image.fromarray(np.zeros((5, 7), np.uint8)).save(pred_dir / names[1])
    right_size = np.array(Image.open(pred_dir / names[2])).shape
    Image.fromarray(np.full(right_size, 19, np.uint8)).save(
        pred_dir / names[2])
    Image.fromarray(np.zeros(right_size + (3, ), np.uint8)).save(
        pred_dir / names[3])
    with pytest.raises(SubmissionError) as err:
        metric.compute_metrics(metric.results)
    msg = str(err.value)
    assert f'missing prediction {names[0]}' in msg
    misnamed = names[0].replace('_rgb_anon', '_gt_labelTrainIds')
    assert f'unexpected file {misnamed}' in msg
    assert f'{names[1]}: 7x5 pixels' in msg
    assert f'{names[2]}: values [19]' in msg
    assert f'{names[3]}: 3 channels' in msg
    assert not (out / 'acdc_test.zip').exists()


def test_wrong_split_size_and_name_clash_fail(tmp_path):
    """The server's split size is checked (an incomplete download), per
    condition for ACDC; two images with one name are never archived."""
    images, ds = build_split(tmp_path, 'acdc')
    samples = samples_of(ds)
    with pytest.raises(SubmissionError, match="condition 'fog', the "
                       "server's split has 3"):
        run_metric(dict(type='ACDCSubmissionMetric',
                        output_dir=str(tmp_path / 'a'),
                        images_per_condition=3), samples)
    clash = dict(samples[1], img_path=samples[0]['img_path'].replace(
        'fog', 'rain'))
    with pytest.raises(SubmissionError, match='share a prediction name'):
        run_metric(dict(type='DarkZurichSubmissionMetric',
                        output_dir=str(tmp_path / 'b')),
                   [samples[0], clash])


def test_darkzurich_three_folders_and_confidence_round_trip(tmp_path):
    """``labelTrainIds/``, ``labelTrainIds_invalid/`` (255 where the softmax
    maximum is strictly below the threshold) and ``confidence/`` (uint16 /
    65535 = softmax maximum within 1/65535), one file per image named as
    it. The threshold equals one pixel's confidence: ``<=`` instead of
    ``<`` marks that pixel invalid. Rules out confidence from the logits
    (not the softmax), a uint8 confidence and a shared invalid mask."""
    images, ds = build_split(tmp_path, 'darkzurich')
    samples = samples_of(ds)
    probs0 = samples[0]['seg_logits']['data'].softmax(0).max(0).values
    threshold = float(probs0[3, 5])
    out = tmp_path / 'out'
    run_metric(dict(type='DarkZurichSubmissionMetric', output_dir=str(out),
                    expected_images=3, invalid_threshold=threshold), samples)
    archive = out / 'darkzurich_test.zip'
    names = sorted(osp.basename(p) for p in images)
    assert zip_listing(archive) == sorted(
        f'{d}/{n}' for d in ('labelTrainIds', 'labelTrainIds_invalid',
                             'confidence') for n in names)
    seen_invalid = 0
    for s in samples:
        name = osp.basename(s['img_path'])
        conf = s['seg_logits']['data'].softmax(0).max(0).values.numpy()
        pred = s['pred_sem_seg']['data'][0].numpy()
        mode, labels = zip_png(archive, f'labelTrainIds/{name}')
        assert mode == 'L' and labels.shape == s['ori_shape']
        np.testing.assert_array_equal(labels, pred)
        _, invalid = zip_png(archive, f'labelTrainIds_invalid/{name}')
        expect = np.where(conf < threshold, 255, pred)
        np.testing.assert_array_equal(invalid, expect)
        seen_invalid += int((invalid == 255).sum())
        mode, encoded = zip_png(archive, f'confidence/{name}')
        assert encoded.dtype == np.uint16 and mode.startswith('I')
        assert encoded.shape == s['ori_shape']
        assert np.abs(encoded / 65535.0 - conf).max() <= 1 / 65535
    assert 0 < seen_invalid
    _, invalid0 = zip_png(archive, f'labelTrainIds_invalid/{names[0]}')
    assert invalid0[3, 5] != 255  # exactly at the threshold: valid


def test_darkzurich_needs_the_predictions_softmax(tmp_path):
    """Logits missing, at another size than the prediction, or whose argmax
    is not the prediction (mmseg's SegTTAModel keeps the last augmentation's
    logits) fail naming the image instead of writing wrong confidences."""
    _, ds = build_split(tmp_path, 'darkzurich')
    s = samples_of(ds)[0]
    cfg = dict(type='DarkZurichSubmissionMetric',
               output_dir=str(tmp_path / 'out'))
    bad = [dict(s, seg_logits=None),
           dict(s, seg_logits=dict(data=s['seg_logits']['data'][:, :-1])),
           dict(s, seg_logits=dict(data=-s['seg_logits']['data']))]
    for sample, match in zip(bad, ('no seg_logits', 'seg_logits of size',
                                   'SegTTASoftmaxModel')):
        with pytest.raises(ValueError, match=match) as err:
            run_metric(cfg, [sample])
        assert osp.basename(s['img_path']) in str(err.value)


def test_cityscapes_label_ids_archive(tmp_path):
    """mmseg's CityscapesMetric writing, archived: labelIds (road 7, bicycle
    33), as cityscapesScripts reads them, named ``<image name>.png``. Rules
    out trainIds in the archive."""
    images, ds = build_split(tmp_path, 'cityscapes')
    samples = samples_of(ds)
    out = tmp_path / 'out'
    run_metric(dict(type='CityscapesSubmissionMetric', output_dir=str(out),
                    expected_images=3), samples)
    archive = out / 'cityscapes_test.zip'
    assert zip_listing(archive) == sorted(osp.basename(p) for p in images)
    import cityscapesscripts.helpers.labels as cs
    to_id = np.array([cs.trainId2label[t].id for t in range(19)])
    for s in samples:
        _, ids = zip_png(archive, osp.basename(s['img_path']))
        assert ids.shape == s['ori_shape']
        np.testing.assert_array_equal(
            ids, to_id[s['pred_sem_seg']['data'][0].numpy()])
    assert {7, 33} <= set(to_id.tolist())
