"""``resized_pipelines``: the pipelines a dataset config derives from its
base at other sizes (configs/_base_/datasets/*)."""
import pytest
from mmengine.config import Config

from mmseg_uda.datasets.pipeline_sizes import resized_pipelines

BASE = 'configs/_base_/datasets/uda_gta_to_cityscapes_512x512.py'


def _types(pipeline):
    return [t['type'] for t in pipeline]


def test_every_size_is_set_and_the_base_is_untouched():
    """Rules out a helper that forgets the crop of the target pipeline, the
    TTA scales (each ratio times the new target scale) or the position of
    the inserted transform, or that edits the base's dicts in place."""
    base = Config.fromfile(BASE)
    before = base.to_dict()
    mask = dict(type='GenerateValidPseudoMask')
    source, target, test, tta = resized_pipelines(
        base, (64, 64), (100, 50), (80, 40), target_extra=[mask])
    assert [t.get('scale') for t in source if t['type'] == 'Resize'] == \
        [(100, 50)]
    for pipeline in (source, target):
        crops = [t for t in pipeline if t['type'] == 'RandomCrop']
        assert [t['crop_size'] for t in crops] == [(64, 64)]
    assert _types(target) == [
        _types(base.target_train_pipeline)[0], 'GenerateValidPseudoMask',
        *_types(base.target_train_pipeline)[1:]
    ]
    assert [t['scale'] for t in test if t['type'] == 'Resize'] == [(80, 40)]
    assert [t['scale'] for t in tta[1]['transforms'][0]] == [
        (int(80 * r), int(40 * r)) for r in base.img_ratios
    ]
    assert tta[1]['transforms'][1:] == base.tta_pipeline[1].transforms[1:]
    assert base.to_dict() == before


def test_a_base_pipeline_without_resize_is_named():
    """Rules out silently keeping a pipeline at the base's size."""
    base = Config.fromfile(BASE)
    base.test_pipeline = [
        t for t in base.test_pipeline if t['type'] != 'Resize'
    ]
    with pytest.raises(ValueError, match='test_pipeline'):
        resized_pipelines(base, (64, 64), (100, 50), (80, 40))
