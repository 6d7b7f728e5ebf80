import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmseg.registry import DATA_SAMPLERS, DATASETS, METRICS, TRANSFORMS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    glob.glob(osp.join(REPO, 'configs', '_base_', 'datasets', 'uda_*.py')))


def test_all_pairs_and_resolutions_exist():
    names = {osp.basename(c) for c in CONFIGS}
    for pair in ('gta_to_cityscapes', 'synthia_to_cityscapes',
                 'cityscapes_to_acdc', 'cityscapes_to_darkzurich'):
        for crop in (512, 1024):
            assert f'uda_{pair}_{crop}x{crop}.py' in names


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_base_dataset_config(path):
    cfg = Config.fromfile(path)
    crop = cfg.crop_size[0]
    train = cfg.train_dataloader
    assert train.batch_size == 2
    assert DATA_SAMPLERS.get(train.sampler.type) is not None
    uda = train.dataset
    assert uda.type == 'UDADataset'
    for ds in (uda.source, uda.target, cfg.val_dataloader.dataset):
        assert DATASETS.get(ds.type) is not None, ds.type
        for t in ds.pipeline:
            assert TRANSFORMS.get(t['type']) is not None, t['type']
    assert 'seg_map_path' not in uda.target.data_prefix
    assert 'seg_map_path' in cfg.val_dataloader.dataset.data_prefix
    assert uda.rare_class_sampling.min_crop_ratio == (2.0 if crop == 1024
                                                      else 0.5)
    src_crop = [t for t in uda.source.pipeline if t['type'] == 'RandomCrop']
    assert src_crop[0]['cat_max_ratio'] == 0.75
    has_mask = any(t['type'] == 'GenerateValidPseudoMask'
                   for t in uda.target.pipeline)
    assert has_mask == (crop == 1024 and 'to_cityscapes' in path)
    assert METRICS.get(cfg.val_evaluator.type) is not None
    if 'synthia' in path:
        assert cfg.val_evaluator.type == 'ClassSubsetIoUMetric'


ALL_BASES = sorted(
    glob.glob(osp.join(REPO, 'configs', '_base_', 'datasets', '*.py')))


@pytest.mark.parametrize('path', ALL_BASES, ids=osp.basename)
def test_pipelines_follow_the_file_sizes(path):
    """The dataset bases are diffs of each other: a child changes
    ``crop_size``/``source_scale``/``target_scale`` and re-derives the
    pipelines from its base. Rules out a child whose dataloaders still use
    a pipeline of the base's sizes (a pipeline it forgot to re-derive, or
    a top-level variable that no dataloader uses)."""
    cfg = Config.fromfile(path)
    uda = cfg.train_dataloader.dataset

    def sizes(pipeline, key):
        return [t[key] for t in pipeline if key in t]

    assert sizes(uda.source.pipeline, 'scale') == [cfg.source_scale]
    assert sizes(uda.target.pipeline, 'scale') == [cfg.target_scale]
    for pipeline in (uda.source.pipeline, uda.target.pipeline):
        assert sizes(pipeline, 'crop_size') == [cfg.crop_size]
    assert uda.source.pipeline == cfg.source_train_pipeline
    assert uda.target.pipeline == cfg.target_train_pipeline
    for key in ('val_dataloader', 'test_dataloader'):
        assert cfg[key].dataset.pipeline == cfg.test_pipeline
    assert sizes(cfg.test_pipeline, 'scale') == [cfg.target_scale]
    resizes = cfg.tta_pipeline[1].transforms[0]
    assert [t.scale for t in resizes] == [
        (int(cfg.target_scale[0] * r), int(cfg.target_scale[1] * r))
        for r in cfg.img_ratios
    ]
