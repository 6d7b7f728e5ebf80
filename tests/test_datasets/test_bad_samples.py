"""Bad samples in the UDA data layer: the converters' report is honoured by
every training dataset (mmseg's CityscapesDataset included), and a sample
that becomes unreadable is replaced deterministically and reported."""
import copy
import json
import os
import os.path as osp
import shutil

import pytest
import torch
from mmseg.registry import DATASETS

from mmseg_uda.datasets import UDADataset, UDAIndex
from mmseg_uda.datasets.bad_samples import (
    BAD_SAMPLE_KEY,
    BadSampleError,
    replacement_index,
)

#: (type, kwargs) of the five training datasets, each reading the synthetic
#: Cityscapes-layout target images (only the file suffixes differ).
TARGET_TYPES = {
    'CityscapesDataset': dict(),  # mmseg's own: no bad-sample support
    'GTA5Dataset': dict(img_suffix='_leftImg8bit.png'),
    'SynthiaDataset': dict(img_suffix='_leftImg8bit.png'),
    'ACDCDataset': dict(img_suffix='_leftImg8bit.png'),
    'DarkZurichUDADataset': dict(img_suffix='_leftImg8bit.png'),
}


@pytest.fixture
def target_copy(synthetic_roots, tmp_path):
    """A private copy of the target root (the tests damage it)."""
    root = str(tmp_path / 'cityscapes')
    shutil.copytree(synthetic_roots['cityscapes'], root)
    return root


def _images(root):
    return sorted(
        osp.join(dp, f) for dp, _, fs in os.walk(
            osp.join(root, 'leftImg8bit', 'train')) for f in fs)


def _uda(uda_cfg, target_root, target_type='CityscapesDataset', **kwargs):
    cfg = copy.deepcopy(uda_cfg.train_dataloader.dataset)
    cfg.target.type = target_type
    cfg.target.update(TARGET_TYPES[target_type])
    cfg.target.data_root = target_root
    cfg.update(kwargs)
    return DATASETS.build(cfg)


@pytest.mark.parametrize('target_type', sorted(TARGET_TYPES))
def test_reported_bad_samples_left_out_of_every_dataset(
        uda_cfg, target_copy, target_type):
    """Rules out: the report honoured only by the plugin's own dataset
    classes (mmseg's CityscapesDataset, the usual UDA target, ignored it)."""
    images = _images(target_copy)
    bad = images[1]
    with open(osp.join(target_copy, 'bad_samples.json'), 'w') as f:
        json.dump([{'image': osp.relpath(bad, target_copy),
                    'label': None, 'reason': 'test'}], f)
    ds = _uda(uda_cfg, target_copy, target_type)
    paths = [ds.target.get_data_info(i)['img_path']
             for i in range(len(ds.target))]
    assert len(paths) == len(images) - 1
    assert osp.normpath(bad) not in map(osp.normpath, paths)
    # opting out keeps the sample
    off = _uda(uda_cfg, target_copy, 'CityscapesDataset',
               bad_samples_file=None)
    assert len(off.target) == len(images)


def test_source_report_applies_before_rare_class_sampling(
        uda_cfg, synthetic_roots, tmp_path):
    """Rules out: RCS indexing the unfiltered source list (its draws would
    then name the wrong images)."""
    root = str(tmp_path / 'gta')
    shutil.copytree(synthetic_roots['gta'], root)
    cfg = copy.deepcopy(uda_cfg.train_dataloader.dataset)
    cfg.source.data_root = root
    # mmseg's dataset class: only the UDA layer can filter it
    cfg.source.update(type='CityscapesDataset', img_suffix='.png',
                      seg_map_suffix='_labelTrainIds.png')
    with open(osp.join(root, 'bad_samples.json'), 'w') as f:
        json.dump([{'image': 'images/00000.png'}], f)
    # the converter leaves bad samples out of the RCS statistics
    label = 'labels/00000_labelTrainIds.png'
    stats = osp.join(root, 'sample_class_stats.json')
    with open(stats) as f:
        entries = [e for e in json.load(f) if e['file'] != label]
    with open(stats, 'w') as f:
        json.dump(entries, f)
    swc = osp.join(root, 'samples_with_class.json')
    with open(swc) as f:
        per_class = {c: [p for p in v if p[0] != label]
                     for c, v in json.load(f).items()}
    with open(swc, 'w') as f:
        json.dump(per_class, f)
    ds = DATASETS.build(cfg)
    assert len(ds.source) == 11
    assert ds.rcs is not None
    assert all(0 <= i < 11 for c in ds.rcs.samples
               for i in ds.rcs.samples[c])


def _corrupt(path):
    with open(path, 'wb') as f:
        f.write(b'not a png')


def test_unreadable_sample_replaced_deterministically(uda_cfg, target_copy):
    """Rules out: a damaged file ending the run (or being retried at every
    resume), and a stand-in that depends on the worker/rank history."""
    ds = _uda(uda_cfg, target_copy)
    bad_idx = 2
    bad_path = ds.target.get_data_info(bad_idx)['img_path']
    _corrupt(bad_path)
    idx = UDAIndex(k=7, seed=3, source=1, target=bad_idx)
    a = ds[idx]
    records = a['target']['data_samples'].metainfo[BAD_SAMPLE_KEY]
    assert len(records) == 1
    assert records[0]['path'] == bad_path
    assert records[0]['k'] == 7 and records[0]['index'] == bad_idx
    assert 'OSError' in records[0]['error']
    assert BAD_SAMPLE_KEY not in a['source']['data_samples'].metainfo
    stand_in = replacement_index(3, 7, 1, 1, len(ds.target), bad_idx)
    assert a['target']['data_samples'].img_path == \
        ds.target.get_data_info(stand_in)['img_path']
    # the same on another "rank"/worker (a fresh dataset) and when repeated
    b = _uda(uda_cfg, target_copy)[idx]
    c = ds[idx]
    for item in (b, c):
        assert torch.equal(a['target']['inputs'], item['target']['inputs'])
        assert torch.equal(a['source']['inputs'], item['source']['inputs'])
    # good samples are untouched by the mechanism
    good = ds[idx._replace(target=(bad_idx + 1) % len(ds.target))]
    assert BAD_SAMPLE_KEY not in good['target']['data_samples'].metainfo


def test_storage_gone_raises_naming_files(uda_cfg, target_copy):
    ds = _uda(uda_cfg, target_copy, max_replacements=3)
    for path in _images(target_copy):
        _corrupt(path)
    with pytest.raises(BadSampleError, match='4 unreadable samples'):
        ds[UDAIndex(k=0, seed=0, source=0, target=0)]


def test_pipeline_bug_is_not_hidden(uda_cfg, target_copy):
    """Rules out: every exception treated as a bad sample (a broken
    pipeline would then train on stand-ins until the limit)."""
    cfg = copy.deepcopy(uda_cfg.train_dataloader.dataset)
    cfg.target.data_root = target_copy
    # cropping before loading: a KeyError with readable files
    cfg.target.pipeline.insert(0, dict(type='RandomCrop', crop_size=(8, 8)))
    ds = UDADataset(**{k: v for k, v in cfg.items() if k != 'type'})
    with pytest.raises(KeyError):
        ds[UDAIndex(k=0, seed=0, source=0, target=0)]
