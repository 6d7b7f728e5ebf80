"""The pipelines of a UDA dataset config at other image sizes.

A dataset config that inherits another and changes only its sizes (as
mmseg's ``cityscapes_1024x1024.py`` inherits ``cityscapes.py``) has to
redefine the pipelines: mmengine evaluates each base config file on its own,
so the inherited pipelines keep the base's ``crop_size`` and scales (a plain
``_base_`` config has no late binding). The dataset configs in
``configs/_base_/datasets/`` import this one function instead of each
rewriting the base's pipelines. They import it after their ``_base_ = ...``
line: mmengine 0.10 takes a config whose first statement imports a module
for a lazy-import (pure Python) config, which cannot inherit ``_base_``
files.
"""
from typing import Sequence, Tuple


def _resized(pipeline: Sequence[dict], name: str, scale: Tuple[int, int],
             crop_size=None) -> list:
    """``pipeline`` with ``scale`` in its ``Resize`` and, if given,
    ``crop_size`` in its ``RandomCrop``."""
    if not any(t['type'] == 'Resize' for t in pipeline):
        raise ValueError(f'{name} of the base config has no Resize to set '
                         f'to {scale}: {[t["type"] for t in pipeline]}')
    out = []
    for t in pipeline:
        if t['type'] == 'Resize':
            t = dict(t, scale=scale)
        elif t['type'] == 'RandomCrop' and crop_size is not None:
            t = dict(t, crop_size=crop_size)
        out.append(t)
    return out


def resized_pipelines(base: dict,
                      crop_size: Tuple[int, int],
                      source_scale: Tuple[int, int],
                      target_scale: Tuple[int, int],
                      target_extra: Sequence[dict] = ()) -> tuple:
    """The four pipelines of a UDA dataset base config at other sizes.

    Args:
        base (dict): the inherited config (``_base_`` in a config file) with
            ``source_train_pipeline``, ``target_train_pipeline``,
            ``test_pipeline``, ``tta_pipeline`` (a loader and a
            ``TestTimeAug`` whose first transform list holds one ``Resize``
            per entry of ``img_ratios``) and ``img_ratios``.
        crop_size (tuple[int, int]): the ``RandomCrop`` of both training
            pipelines.
        source_scale (tuple[int, int]): the ``Resize`` of the source
            training pipeline.
        target_scale (tuple[int, int]): the ``Resize`` of the target training
            and test pipelines; the TTA resizes to it times each ratio.
        target_extra (Sequence[dict]): transforms inserted after the target
            training pipeline's first (loading) transform, e.g. a
            ``GenerateValidPseudoMask``.

    Returns:
        tuple[list[dict]]: ``source_train_pipeline``,
        ``target_train_pipeline``, ``test_pipeline`` and ``tta_pipeline``.
    """
    source = _resized(base['source_train_pipeline'], 'source_train_pipeline',
                      source_scale, crop_size)
    target = _resized(base['target_train_pipeline'], 'target_train_pipeline',
                      target_scale, crop_size)
    target = [target[0], *target_extra, *target[1:]]
    test = _resized(base['test_pipeline'], 'test_pipeline', target_scale)
    load, tta = base['tta_pipeline']
    resizes = tta['transforms'][0]
    if len(resizes) != len(base['img_ratios']):
        raise ValueError(
            f'tta_pipeline of the base config has {len(resizes)} resizes '
            f'for the {len(base["img_ratios"])} img_ratios')
    resizes = [
        dict(t, scale=(int(target_scale[0] * r), int(target_scale[1] * r)))
        for t, r in zip(resizes, base['img_ratios'])
    ]
    tta = dict(tta, transforms=[resizes, *tta['transforms'][1:]])
    return source, target, test, [load, tta]
