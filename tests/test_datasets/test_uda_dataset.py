import copy
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
import torch
from mmengine.runner import Runner
from mmengine.structures import PixelData
from mmseg.registry import DATASETS
from mmseg.structures import SegDataSample

from mmseg_uda.datasets import UDADataset, UDAIndex


def test_runner_dataloader_batch_matches_contract(uda_cfg):
    cfg = copy.deepcopy(uda_cfg.train_dataloader)
    cfg.num_workers = 1  # items and indices cross a process boundary
    cfg.persistent_workers = True
    loader = Runner.build_dataloader(cfg, seed=0)
    batch = next(iter(loader))
    assert set(batch) == {'source', 'target'}
    for branch in ('source', 'target'):
        assert set(batch[branch]) == {'inputs', 'data_samples'}
        assert len(batch[branch]['inputs']) == 2
        for img, ds in zip(batch[branch]['inputs'],
                           batch[branch]['data_samples']):
            assert img.dtype == torch.uint8 and img.shape == (3, 128, 128)
            assert isinstance(ds, SegDataSample)
    for ds in batch['source']['data_samples']:
        assert isinstance(ds.gt_sem_seg, PixelData)
        assert ds.gt_sem_seg.data.shape == (1, 128, 128)
    for ds in batch['target']['data_samples']:
        assert 'gt_sem_seg' not in ds
        mask = ds.valid_pseudo_mask.data
        assert mask.shape == (1, 128, 128) and mask.dtype == torch.uint8
        assert set(mask.unique().tolist()) <= {0, 1}
    assert loader.dataset.metainfo['classes'][0] == 'road'
    assert len(loader.dataset.metainfo['classes']) == 19


def test_items_are_pure_functions_of_seed_and_counter(uda_cfg):
    ds = DATASETS.build(uda_cfg.train_dataloader.dataset)
    idx = UDAIndex(k=5, seed=1, source=2, target=3, rare_class=-1)
    np.random.seed(123)
    a = ds[idx]
    np.random.seed(999)
    torch.manual_seed(7)
    state = np.random.get_state()[1].copy()
    b = ds[idx]
    assert np.array_equal(np.random.get_state()[1], state)  # restored
    for branch in ('source', 'target'):
        assert torch.equal(a[branch]['inputs'], b[branch]['inputs'])
    assert torch.equal(a['source']['data_samples'].gt_sem_seg.data,
                       b['source']['data_samples'].gt_sem_seg.data)
    c = ds[idx._replace(k=6)]
    assert not all(
        torch.equal(a[br]['inputs'], c[br]['inputs'])
        for br in ('source', 'target'))
    plain = ds[4]  # plain int index works too
    assert set(plain) == {'source', 'target'}


def test_rare_class_recrop(uda_cfg):
    ds = DATASETS.build(uda_cfg.train_dataloader.dataset)
    rcs = ds.rcs
    assert rcs is not None and rcs.crop_min_pixels == 25
    hits = 0
    rare = rcs.classes[0]
    for k in range(8):
        src = int(rcs.samples[rare][k % len(rcs.samples[rare])])
        item = ds[UDAIndex(k, 0, src, 0, rare)]
        gt = item['source']['data_samples'].gt_sem_seg.data
        hits += int((gt == rare).sum()) > rcs.crop_min_pixels
    assert hits >= 6


def test_target_pipeline_loading_labels_is_an_error(uda_cfg):
    cfg = copy.deepcopy(uda_cfg.train_dataloader.dataset)
    cfg.target.data_prefix = dict(
        img_path='leftImg8bit/train', seg_map_path='gtFine/train')
    cfg.target.pipeline.insert(1, dict(type='LoadAnnotations'))
    with pytest.raises(ValueError, match='target.pipeline'):
        DATASETS.build(cfg)


def test_class_count_mismatch_is_an_error(uda_cfg):
    """Checked on the config, before training (PreflightCheckHook)."""
    from mmseg_uda.engine.config_validation import (
        UDAConfigError,
        validate_uda_config,
    )
    cfg = copy.deepcopy(uda_cfg)
    cfg.train_dataloader.dataset.source.metainfo = dict(
        classes=('road', 'sky'))
    with pytest.raises(UDAConfigError,
                       match=r'train_dataloader.dataset.source .* = 2'):
        validate_uda_config(cfg)


def test_missing_stats_is_an_error(uda_cfg, tmp_path):
    """Raised when the statistics are first used (the checks before
    training, or the sampler's first draw), naming the file."""
    cfg = copy.deepcopy(uda_cfg.train_dataloader.dataset)
    cfg.rare_class_sampling.stats_dir = str(tmp_path)
    dataset = DATASETS.build(cfg)
    with pytest.raises(RuntimeError, match='sample_class_stats.json'):
        assert dataset.rcs


@pytest.mark.parametrize('dataset_type',
                         ['GTA5Dataset', 'SynthiaDataset', 'ACDCDataset'])
def test_missing_data_root_names_the_path(tmp_path, dataset_type):
    root = str(tmp_path / 'no_such_dataset')
    with pytest.raises(FileNotFoundError, match='no_such_dataset'):
        DATASETS.build(
            dict(type=dataset_type, data_root=root,
                 data_prefix=dict(img_path='images'), pipeline=[]))


def test_missing_data_root_in_uda_dataset(uda_cfg, tmp_path):
    cfg = copy.deepcopy(uda_cfg.train_dataloader.dataset)
    cfg.source.data_root = str(tmp_path / 'missing_gta')
    with pytest.raises(FileNotFoundError, match='missing_gta'):
        DATASETS.build(cfg)


@pytest.fixture
def gta_copy(synthetic_roots, tmp_path):
    dst = str(tmp_path / 'gta')
    shutil.copytree(synthetic_roots['gta'], dst)
    return dst


def _source_dataset(uda_cfg, root):
    cfg = copy.deepcopy(uda_cfg.train_dataloader.dataset.source)
    cfg.data_root = root
    cfg.bad_samples_file = None
    return DATASETS.build(cfg)


def test_corrupt_image_names_the_file(uda_cfg, gta_copy):
    path = osp.join(gta_copy, 'images', '00003.png')
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n garbage')
    ds = _source_dataset(uda_cfg, gta_copy)
    with pytest.raises(OSError, match='00003.png'):
        ds[3]


def test_size_mismatched_label_names_the_file(uda_cfg, gta_copy):
    path = osp.join(gta_copy, 'labels', '00002_labelTrainIds.png')
    cv2.imwrite(path, np.zeros((50, 60), np.uint8))
    ds = _source_dataset(uda_cfg, gta_copy)
    with pytest.raises(ValueError, match='00002_labelTrainIds.png'):
        ds[2]


def test_uda_dataset_len_and_metainfo(uda_cfg):
    ds = DATASETS.build(uda_cfg.train_dataloader.dataset)
    assert isinstance(ds, UDADataset)
    assert len(ds) == len(ds.source) == 12
    assert ds.metainfo == ds.target.metainfo
