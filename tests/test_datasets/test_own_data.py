"""A user's own data in folders (``FolderSegDataset``) and the checks before
the first iteration (``check_runner_datasets``, run by ``PreflightCheckHook``):
each mistake of the issue's table gives a clear message naming the file (or
folder, suffix, value) before training, or is left out as a bad sample.

The synthetic data is rearranged into the layout of docs/own_data.md:
``sim/img/*.jpg`` + ``sim/ann/*.png``, ``real/train/*.png`` (flat,
unlabelled), ``real/val/{img,ann}/*.png``.
"""
import json
import os
import os.path as osp
from types import SimpleNamespace

import numpy as np
import pytest
from mmengine.config import Config
from mmseg.datasets import CityscapesDataset
from mmseg.registry import DATASETS
from PIL import Image

from mmseg_uda.datasets import (
    LabelValueError,
    RCSStatsError,
    UDADataset,
    data_checks,
)
from mmseg_uda.datasets.bad_samples import BAD_SAMPLE_KEY
from mmseg_uda.datasets.data_checks import (
    DataCheckError,
    check_runner_datasets,
)
from tests.helpers import own_data_layout

CLASSES = CityscapesDataset.METAINFO['classes']
TRAIN = [dict(type='LoadCheckedImageFromFile'),
         dict(type='LoadCheckedAnnotations'), dict(type='PackSegInputs')]
TARGET = [dict(type='LoadCheckedImageFromFile'), dict(type='PackSegInputs')]
VAL = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
       dict(type='PackSegInputs')]
RCS = dict(class_temp=0.01, min_pixels=10, min_crop_ratio=0.5)


@pytest.fixture
def own(synthetic_data, tmp_path):
    return own_data_layout(synthetic_data, str(tmp_path / 'data'))


def source_cfg(own, **kwargs):
    cfg = dict(type='FolderSegDataset', data_root=own['sim'],
               data_prefix=dict(img_path='img', seg_map_path='ann'),
               img_suffix='.jpg', seg_map_suffix='.png',
               metainfo=dict(classes=CLASSES), pipeline=TRAIN)
    cfg.update(kwargs)
    return cfg


def target_cfg(own, **kwargs):
    cfg = dict(type='FolderSegDataset', data_root=own['real'],
               data_prefix=dict(img_path='train'), img_suffix='.png',
               recursive=False, metainfo=dict(classes=CLASSES),
               pipeline=TARGET)
    cfg.update(kwargs)
    return cfg


def val_cfg(own, **kwargs):
    cfg = dict(type='FolderSegDataset', data_root=own['real_val'],
               data_prefix=dict(img_path='img', seg_map_path='ann'),
               img_suffix='.png', seg_map_suffix='.png',
               metainfo=dict(classes=CLASSES), pipeline=VAL, test_mode=True)
    cfg.update(kwargs)
    return cfg


def runner_for(source, target, val, rcs=None):
    """The few runner attributes the check reads (a real Runner runs in the
    end-to-end test of tests/test_tools/test_own_data_e2e.py)."""
    train = UDADataset(source=source, target=target, rare_class_sampling=rcs)
    return SimpleNamespace(
        cfg=Config(dict(val_dataloader=dict(batch_size=1),
                        val_cfg=dict(type='ValLoop'))),
        train_dataloader=SimpleNamespace(dataset=train),
        val_dataloader=SimpleNamespace(dataset=DATASETS.build(val)))


def write_stats(root, num_classes=19, pattern_dir='ann'):
    """RCS statistics by a direct count (what the docs snippet did, with
    its ``num_classes``), over the labels of ``root/pattern_dir``."""
    stats, swc = [], {}
    folder = osp.join(root, pattern_dir)
    files = sorted(os.listdir(folder)) if osp.isdir(folder) else []
    for name in files:
        rel = f'{pattern_dir}/{name}'
        ids = np.array(Image.open(osp.join(root, rel)))
        counts = np.bincount(ids.ravel(), minlength=256)[:num_classes]
        entry = {'file': rel}
        entry.update({str(c): int(n) for c, n in enumerate(counts) if n})
        stats.append(entry)
        for c, n in entry.items():
            if c != 'file':
                swc.setdefault(c, []).append([rel, n])
    for name, obj in (('sample_class_stats.json', stats),
                      ('samples_with_class.json', swc)):
        with open(osp.join(root, name), 'w') as f:
            json.dump(obj, f)


def set_pixel(path, value):
    ids = np.array(Image.open(path))
    ids[0, 0] = value
    Image.fromarray(ids).save(path)


def test_folder_dataset_roles_and_flat_listing(own):
    """Source/target/val built from plain folders; ``recursive=False``
    leaves out a subfolder (rules out mmseg's always-recursive listing)."""
    src = DATASETS.build(source_cfg(own))
    assert len(src) == 12
    info = src.get_data_info(0)
    assert info['img_path'].endswith('.jpg')
    assert info['seg_map_path'] == info['img_path'].replace(
        '/img/', '/ann/')[:-4] + '.png'
    sub = osp.join(own['real'], 'train', 'sub')
    os.makedirs(sub)
    Image.new('RGB', (8, 8)).save(osp.join(sub, 'extra.png'))
    tgt = DATASETS.build(target_cfg(own))
    assert len(tgt) == 6 and 'seg_map_path' not in tgt.get_data_info(0)
    assert len(DATASETS.build(target_cfg(own, recursive=True))) == 7
    item = DATASETS.build(val_cfg(own))[0]
    assert item['data_samples'].gt_sem_seg.data.shape[1:] == item[
        'inputs'].shape[1:]
    with pytest.raises(ValueError, match=r'metainfo=dict\(classes'):
        DATASETS.build(source_cfg(own, metainfo=None))


def test_consistent_data_passes_and_logs_sizes(own, monkeypatch):
    """No false alarm on consistent data with direct-count statistics; the
    size of every dataset is logged."""
    write_stats(own['sim'])
    logged = []
    monkeypatch.setattr(data_checks, 'print_log',
                        lambda msg, **kw: logged.append(msg))
    runner = runner_for(source_cfg(own), target_cfg(own), val_cfg(own), RCS)
    check_runner_datasets(runner)
    text = '\n'.join(logged)
    for role, n in (('source', 12), ('target', 6), ('val', 4)):
        assert f'{role} dataset' in text and f': {n} samples' in text, text


def test_row_label_value_40_in_a_source_label(own):
    """A value 40 in one source label: named (file and value) before
    training, and by the dataset itself if met in training (not an
    IndexError from the loss)."""
    bad = osp.join(own['sim'], 'ann', 'sim_00003.png')
    set_pixel(bad, 40)
    runner = runner_for(source_cfg(own), target_cfg(own), val_cfg(own))
    with pytest.raises(DataCheckError, match=r'sim_00003\.png.*\[40\]'):
        check_runner_datasets(runner)
    src = DATASETS.build(source_cfg(own))
    idx = [i for i in range(len(src))
           if src.get_data_info(i)['seg_map_path'] == bad][0]
    with pytest.raises(LabelValueError, match=r'sim_00003\.png.*\[40\]'):
        src[idx]
    # In UDA training the bad-sample policy replaces the sample and reports
    # the file and the value with the batch (BadSampleHook counts it).
    item = UDADataset(source_cfg(own), target_cfg(own))[idx]
    replaced = item['source']['data_samples'].metainfo[BAD_SAMPLE_KEY]
    assert replaced[0]['path'] == bad and '[40]' in replaced[0]['error']


def test_row_label_value_40_in_a_val_label(own):
    """A value 40 in a val label: named before training and at evaluation
    (mmseg's IoUMetric would drop it silently)."""
    set_pixel(osp.join(own['real_val'], 'ann',
                       sorted(os.listdir(osp.join(own['real_val'],
                                                  'ann')))[1]), 40)
    runner = runner_for(source_cfg(own), target_cfg(own), val_cfg(own))
    with pytest.raises(DataCheckError, match=r'val_dataloader.*\[40\]'):
        check_runner_datasets(runner)
    with pytest.raises(LabelValueError, match=r'\[40\]'):
        DATASETS.build(val_cfg(own))[1]


def test_row_source_image_without_label(own):
    """A source image without its label: an error naming it before
    training (without RCS); with RCS statistics that skip it, RCS refuses
    them; listed in bad_samples.json, the sample is left out and training
    may start."""
    os.remove(osp.join(own['sim'], 'ann', 'sim_00005.png'))
    runner = runner_for(source_cfg(own), target_cfg(own), val_cfg(own))
    with pytest.raises(DataCheckError,
                       match=r'1 of 12 label files do not exist.*'
                       r'sim_00005\.png'):
        check_runner_datasets(runner)
    write_stats(own['sim'])  # covers the 11 labels that exist
    with pytest.raises(RCSStatsError, match=r'1 of 12 .*sim_00005\.png'):
        assert UDADataset(source_cfg(own), target_cfg(own), RCS).rcs
    with open(osp.join(own['sim'], 'bad_samples.json'), 'w') as f:
        json.dump([{'image': 'img/sim_00005.jpg', 'label': 'ann/sim_00005'
                    '.png', 'reason': 'label file missing'}], f)
    runner = runner_for(source_cfg(own), target_cfg(own), val_cfg(own), RCS)
    check_runner_datasets(runner)
    assert len(runner.train_dataloader.dataset.source) == 11


def test_truncated_jpeg_named_before_training(own):
    """A truncated JPEG: its header is intact (a header-only check passed
    it) and ``cv2.imread`` returns a partial image, but training's loader
    refuses it; the check decodes it as training does and names it."""
    path = osp.join(own['sim'], 'img', 'sim_00004.jpg')
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[:int(len(data) * 0.6)])
    runner = runner_for(source_cfg(own), target_cfg(own), val_cfg(own))
    with pytest.raises(DataCheckError,
                       match=r'train_dataloader.dataset.source: cannot '
                       r'(load|decode) image file .*sim_00004\.jpg'):
        check_runner_datasets(runner)
    src = DATASETS.build(source_cfg(own))
    idx = [i for i in range(len(src))
           if src.get_data_info(i)['img_path'] == path][0]
    with pytest.raises(OSError, match=r'sim_00004\.jpg'):
        src[idx]  # what training would have met


def test_row_default_img_suffix_on_a_custom_folder(own):
    """img_suffix left at mmseg's default '.jpg' on a folder of PNGs: the
    plugin's datasets name the folder, the suffix and the other suffixes
    seen when they are built (mmseg's own dataset classes fail with
    mmengine's message)."""
    with pytest.raises(ValueError, match=r"img_suffix='\.jpg'.*real/train.*"
                       r"'\.png': 6"):
        DATASETS.build(target_cfg(own, img_suffix='.jpg'))


def test_row_rcs_snippet_with_a_glob_matching_nothing(own):
    """Statistics written for no file ([] and {}): refused when they are
    read (by the checks before training, or the first draw), not
    `ValueError: a must be a positive integer` in rcs.draw during
    training."""
    write_stats(own['sim'], pattern_dir='labels')  # no such folder
    with pytest.raises(RCSStatsError, match='empty'):
        assert UDADataset(source_cfg(own), target_cfg(own), RCS).rcs
    runner = runner_for(source_cfg(own), target_cfg(own), val_cfg(own), RCS)
    with pytest.raises(DataCheckError, match=r'rare_class_sampling: .*empty'):
        check_runner_datasets(runner)


def test_row_rcs_snippet_num_classes_4_on_19_class_data(own):
    """Statistics counted for 4 classes on 19-class labels: they differ
    from a direct count of the sampled labels."""
    write_stats(own['sim'], num_classes=4)
    runner = runner_for(source_cfg(own), target_cfg(own), val_cfg(own), RCS)
    with pytest.raises(DataCheckError,
                       match=r"sample_class_stats\.json' does not match.*"
                       r'fewer than 19 classes'):
        check_runner_datasets(runner)


def test_row_images_with_an_upper_case_suffix(own, monkeypatch):
    """Five images named .JPG next to img_suffix='.jpg': the sizes are
    logged and a warning counts the left-out files and names the case."""
    img_dir = osp.join(own['sim'], 'img')
    for name in sorted(os.listdir(img_dir))[:5]:
        os.rename(osp.join(img_dir, name),
                  osp.join(img_dir, name[:-4] + '.JPG'))
    logged = []
    monkeypatch.setattr(data_checks, 'print_log',
                        lambda msg, **kw: logged.append(msg))
    runner = runner_for(source_cfg(own), target_cfg(own), val_cfg(own))
    check_runner_datasets(runner)
    text = '\n'.join(logged)
    assert ': 7 samples' in text
    assert "'.JPG': 5" in text and 'only in case' in text, text


def test_row_wrong_val_seg_map_suffix(own):
    """A wrong val seg_map_suffix: an error naming the suffix and what the
    label folder holds, before training (not at the first validation)."""
    runner = runner_for(source_cfg(own), target_cfg(own),
                        val_cfg(own, seg_map_suffix='_labelTrainIds.png'))
    with pytest.raises(DataCheckError,
                       match=r"val_dataloader.dataset: 4 of 4 label files.*"
                       r"seg_map_suffix='_labelTrainIds\.png'.*'\.png': 4"):
        check_runner_datasets(runner)


def test_size_colour_and_class_count_mismatches(own):
    """A label of another size than its image and a colour (RGB) label,
    both reported in one error (the class counts of heads and datasets are
    checked on the config: tests/test_engine/test_config_validation.py)."""
    lbl = osp.join(own['real_val'], 'ann',
                   sorted(os.listdir(osp.join(own['real_val'], 'ann')))[0])
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(lbl)
    rgb = osp.join(own['real_val'], 'ann',
                   sorted(os.listdir(osp.join(own['real_val'], 'ann')))[1])
    Image.fromarray(np.stack([np.array(Image.open(rgb))] * 3, -1)).save(rgb)
    runner = runner_for(source_cfg(own), target_cfg(own), val_cfg(own))
    with pytest.raises(DataCheckError) as info:
        check_runner_datasets(runner)
    msg = str(info.value)
    assert 'has size 12x10 but its image' in msg
    assert f'{rgb!r} has 3 channels' in msg


def test_split_file_naming_a_missing_image(own):
    """A split file (ann_file) naming an image that does not exist: every
    file is checked, not only the sampled ones."""
    names = sorted(n[:-4] for n in os.listdir(osp.join(own['real_val'],
                                                       'img')))
    with open(osp.join(own['real_val'], 'val.txt'), 'w') as f:
        f.write('\n'.join(names + ['gone_000000']) + '\n')
    runner = runner_for(source_cfg(own), target_cfg(own),
                        val_cfg(own, ann_file='val.txt'))
    with pytest.raises(DataCheckError,
                       match=r'1 of 5 image files do not exist.*gone_000000'):
        check_runner_datasets(runner, max_samples=2)
