"""Exporting a UDA checkpoint's student/teacher as a plain segmentor."""
import os.path as osp

import pytest
import torch

from mmseg_uda.converters.uda_export import (
    export_segmentor,
    extract_segmentor_state,
)
from tests.helpers import QUICKSTART_DACS, QUICKSTART_SOURCE_ONLY


def _uda_checkpoint(tmp_path):
    path = str(tmp_path / 'uda.pth')
    torch.save({
        'state_dict': {'student.w': torch.ones(2), 'teacher.w': torch.zeros(2),
                       'imnet_backbone.w': torch.full((2, ), 5.)},
        'meta': {'dataset_meta': {'classes': ('a', 'b')}, 'iter': 7},
    }, path)
    return path


def test_exports_teacher_with_meta_and_config(tmp_path):
    out = str(tmp_path / 'seg.pth')
    out_cfg = str(tmp_path / 'seg.py')
    export_segmentor(QUICKSTART_DACS, _uda_checkpoint(tmp_path), out,
                     which='teacher', out_config=out_cfg)
    ckpt = torch.load(out)
    assert list(ckpt['state_dict']) == ['w']
    assert torch.equal(ckpt['state_dict']['w'], torch.zeros(2))
    assert ckpt['meta']['dataset_meta']['classes'] == ('a', 'b')
    assert 'iter' not in ckpt['meta']
    assert not [f for f in osp.os.listdir(tmp_path) if f.endswith('.tmp')]
    from mmengine.config import Config
    cfg = Config.fromfile(out_cfg)
    assert cfg.model.type == 'EncoderDecoder'
    assert all(h['type'] != 'EMATeacherHook' for h in cfg.custom_hooks)


def test_clear_errors(tmp_path):
    with pytest.raises(KeyError, match=r'no "student\.\*" weights'):
        extract_segmentor_state({'x.w': torch.ones(1)}, 'student')
    with pytest.raises(ValueError, match='which'):
        export_segmentor(QUICKSTART_DACS, _uda_checkpoint(tmp_path),
                         str(tmp_path / 'o.pth'), which='ema')
    with pytest.raises(KeyError, match='model.segmentor'):
        export_segmentor(QUICKSTART_SOURCE_ONLY, _uda_checkpoint(tmp_path),
                         str(tmp_path / 'o.pth'))
