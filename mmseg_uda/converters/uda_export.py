"""Export the student (or teacher) of a UDA checkpoint as a plain mmseg
segmentor checkpoint and config."""
import os.path as osp
from typing import Optional

import torch
from mmengine.config import Config

from ..utils.io import atomic_open


def extract_segmentor_state(state_dict: dict, which: str = 'student') -> dict:
    """``which.*`` keys of a UDA model's state dict, prefix removed.

    Raises:
        KeyError: if the checkpoint holds no ``which.`` keys (names the
            prefixes it does hold).
    """
    prefix = which + '.'
    out = {k[len(prefix):]: v for k, v in state_dict.items()
           if k.startswith(prefix)}
    if not out:
        heads = sorted({k.split('.', 1)[0] for k in state_dict})
        raise KeyError(f'no "{prefix}*" weights in the checkpoint; its '
                       f'top-level prefixes are {heads}')
    return out


def export_segmentor(config: str,
                     checkpoint: str,
                     out: str,
                     which: str = 'student',
                     out_config: Optional[str] = None) -> dict:
    """Write ``out`` (``state_dict`` + ``meta``) loadable by the plain
    segmentor of ``config``'s ``model.segmentor``; optionally write that
    segmentor's config to ``out_config``. Returns the exported state dict.
    """
    if which not in ('student', 'teacher'):
        raise ValueError(f"which must be 'student' or 'teacher', got {which}")
    cfg = Config.fromfile(config)
    if 'segmentor' not in cfg.model:
        raise KeyError(f'{config}: model.segmentor is missing; this is not '
                       'a UDA config')
    ckpt = torch.load(checkpoint, map_location='cpu')
    state = ckpt.get('state_dict', ckpt)
    exported = extract_segmentor_state(state, which)
    meta = dict(ckpt.get('meta', {}))
    meta = {k: v for k, v in meta.items() if k in ('dataset_meta', 'seed',
                                                      'mmseg_version')}
    meta['exported_from'] = dict(checkpoint=osp.abspath(checkpoint),
                                 model=which)
    with atomic_open(out) as f:
        torch.save(dict(state_dict=exported, meta=meta), f)
    if out_config is not None:
        seg_cfg = cfg.copy()
        seg_cfg.model = cfg.model.segmentor
        for key in ('uda', 'model_wrapper_cfg'):
            seg_cfg.pop(key, None)
        seg_cfg.custom_hooks = [
            h for h in cfg.get('custom_hooks', [])
            if h.get('type') != 'EMATeacherHook'
        ]
        seg_cfg.dump(out_config)
    return exported
