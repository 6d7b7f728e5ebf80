"""Check that the UDA pieces of a training config fit together (the
class counts of heads, feature distance and datasets; a UDA model with a
UDA dataset, the EMA teacher's hook, one optimizer per network of the
adversarial methods, HRDA's crop sizes), so that a 30-hour job does not
train silently on something wrong.

:class:`~mmseg_uda.engine.hooks.PreflightCheckHook` runs
:func:`validate_uda_config` on ``runner.cfg`` before the first iteration,
whatever the entry point (``tools/train.py``, mmseg's ``train.py``, ``mim
train``, ``Runner.from_cfg(cfg).train()``). Every problem found is
reported at once, each naming the config keys involved;
:class:`UDAConfigError` is a ``ValueError``.

What the built objects check themselves is not repeated here: the files of
rare class sampling (``RareClassSampling``), a target pipeline loading
labels (``UDADataset``), missing or empty image folders (the plugin's
datasets, ``CheckedDatasetMixin``), the feature-distance class ids
(``FeatureDistanceLoss``); the data itself is checked by
:mod:`mmseg_uda.datasets.data_checks`.
"""
from typing import Any, List, Optional, Sequence


class UDAConfigError(ValueError):
    """The config's UDA pieces do not fit together."""


def _get(node: Any, key: str, default=None):
    if node is None:
        return default
    if isinstance(node, dict):
        return node.get(key, default)
    return getattr(node, key, default)


def _resolve(registry, type_):
    """The class a config ``type`` names (None if unknown)."""
    if type_ is None:
        return None
    if isinstance(type_, type):
        return type_
    name = str(type_)
    if '.' in name:  # scoped name, e.g. 'mmseg.EncoderDecoder'
        name = name.split('.')[-1]
    try:
        return registry.get(name)
    except Exception:  # noqa: BLE001 (registry lookups may raise KeyError)
        return None


def _is_subclass(registry, type_, base_name: str) -> bool:
    cls = _resolve(registry, type_)
    if cls is None:
        return False
    return any(k.__name__ == base_name for k in cls.__mro__)


def _dataset_classes(cfg_ds) -> Optional[Sequence[str]]:
    """Class names of a dataset config (its ``metainfo`` or the class's
    ``METAINFO``); None if unknown."""
    from mmseg.registry import DATASETS
    meta = _get(cfg_ds, 'metainfo')
    if meta is not None and _get(meta, 'classes') is not None:
        return list(_get(meta, 'classes'))
    cls = _resolve(DATASETS, _get(cfg_ds, 'type'))
    info = getattr(cls, 'METAINFO', None) if cls is not None else None
    if info and info.get('classes') is not None:
        return list(info['classes'])
    return None


def _segmentor(model):
    """(segmentor config, its key prefix) of a model config."""
    if _get(model, 'segmentor') is not None:
        return _get(model, 'segmentor'), 'model.segmentor'
    return model, 'model'


def _heads(seg, prefix):
    head = _get(seg, 'decode_head')
    if head is not None:
        yield head, f'{prefix}.decode_head'
    aux = _get(seg, 'auxiliary_head')
    if isinstance(aux, (list, tuple)):
        for i, h in enumerate(aux):
            yield h, f'{prefix}.auxiliary_head[{i}]'
    elif aux is not None:
        yield aux, f'{prefix}.auxiliary_head'


def _pair(value) -> Optional[tuple]:
    if value is None:
        return None
    if isinstance(value, int):
        return (value, value)
    return tuple(int(v) for v in value)


def _random_crops(pipeline, key):
    for i, t in enumerate(pipeline or []):
        if _get(t, 'type') in ('RandomCrop', 'mmseg.RandomCrop'):
            size = _pair(_get(t, 'crop_size'))
            if size is not None:
                yield size, f'{key}[{i}].crop_size'


def _datasets(cfg) -> List[tuple]:
    """(dataset config, key) of the training (source and target of a
    UDADataset), validation and test datasets of ``cfg``."""
    train_ds = _get(_get(cfg, 'train_dataloader'), 'dataset')
    datasets = []
    if _get(train_ds, 'source') is not None:
        datasets += [(_get(train_ds, 'source'),
                      'train_dataloader.dataset.source'),
                     (_get(train_ds, 'target'),
                      'train_dataloader.dataset.target')]
    elif train_ds is not None:
        datasets.append((train_ds, 'train_dataloader.dataset'))
    for split in ('val_dataloader', 'test_dataloader'):
        ds = _get(_get(cfg, split), 'dataset')
        if ds is not None:
            datasets.append((ds, f'{split}.dataset'))
    return datasets


def _check_classes(cfg, errors: List[str]) -> None:
    model = _get(cfg, 'model')
    seg, prefix = _segmentor(model)
    counts = []  # (key, number of classes)
    for head, key in _heads(seg, prefix):
        n = _get(head, 'num_classes')
        if n is not None:
            counts.append((f'{key}.num_classes', int(n)))
    fd = _get(model, 'imnet_feature_dist')
    if fd is not None and _get(fd, 'num_classes') is not None:
        counts.append(('model.imnet_feature_dist.num_classes',
                       int(_get(fd, 'num_classes'))))
    for ds, key in _datasets(cfg):
        classes = _dataset_classes(ds)
        if classes is not None:
            counts.append((f'{key} ({_get(ds, "type")}, classes)',
                           len(classes)))
    if len({n for _, n in counts}) > 1:
        listing = ', '.join(f'{k} = {n}' for k, n in counts)
        errors.append(f'class count mismatch: {listing}. The heads, the '
                      'feature distance and every dataset must agree.')


def _check_uda_pieces(cfg, errors: List[str]) -> None:
    from mmseg.registry import DATASETS, MODELS
    model = _get(cfg, 'model')
    mtype = _get(model, 'type')
    ds = _get(_get(cfg, 'train_dataloader'), 'dataset')
    is_uda_model = _is_subclass(MODELS, mtype, 'UDABaseSegmentor')
    is_uda_data = _is_subclass(DATASETS, _get(ds, 'type'), 'UDADataset')
    if is_uda_model and ds is not None and not is_uda_data:
        errors.append(
            f'model.type={mtype} trains on source and target batches but '
            f'train_dataloader.dataset.type={_get(ds, "type")} is not a '
            'UDADataset.')
    if is_uda_data and model is not None and not is_uda_model:
        errors.append(
            f'train_dataloader.dataset.type={_get(ds, "type")} yields '
            f'source/target pairs but model.type={mtype} is not a UDA '
            'method (wrap the segmentor: model=dict(type=\'DACS\', '
            'segmentor=...)).')
    if not is_uda_model:
        return
    cls = _resolve(MODELS, mtype)
    uses_teacher = _get(model, 'use_teacher',
                        cls.__name__ == 'DACS' or any(
                            k.__name__ == 'DACS' for k in cls.__mro__))
    if uses_teacher:
        hooks = _get(cfg, 'custom_hooks') or []
        if not any(str(_get(h, 'type', '')).endswith('EMATeacherHook')
                   for h in hooks):
            errors.append(
                f'model.type={mtype} needs its EMA teacher updated, but '
                'custom_hooks has no EMATeacherHook (the teacher would stay '
                'at its initial weights); add dict(type=\'EMATeacherHook\').')
    if any(k.__name__ == 'AdaptSegNet' for k in cls.__mro__):
        optim = _get(cfg, 'optim_wrapper')
        if _get(optim, 'constructor') is None:
            errors.append(
                f'model.type={mtype} steps one optimizer per child: set '
                "optim_wrapper.constructor='MultiOptimWrapperConstructor' "
                'with optim_wrapper.student and optim_wrapper.discriminator.')


def _check_hrda(cfg, errors: List[str]) -> None:
    from mmseg.registry import MODELS
    seg, prefix = _segmentor(_get(cfg, 'model'))
    if not _is_subclass(MODELS, _get(seg, 'type'), 'HRDAEncoderDecoder'):
        return
    div = int(_get(seg, 'crop_coord_divisible', 1) or 1)
    hr_crop = _pair(_get(seg, 'hr_crop_size'))
    scales = sorted(_get(seg, 'scales', (1, 0.5)))
    crops = []
    ds = _get(_get(cfg, 'train_dataloader'), 'dataset')
    for branch in ('source', 'target'):
        sub = _get(ds, branch)
        crops += list(_random_crops(
            _get(sub, 'pipeline'),
            f'train_dataloader.dataset.{branch}.pipeline'))
    size = _pair(_get(_get(seg, 'data_preprocessor'), 'size'))
    if size is not None:
        crops.append((size, f'{prefix}.data_preprocessor.size'))
    div_key = f'{prefix}.crop_coord_divisible'
    if hr_crop is not None and any(v % div for v in hr_crop):
        errors.append(f'{prefix}.hr_crop_size={hr_crop} is not divisible by '
                      f'{div_key}={div}.')
    for crop, key in crops:
        if any(v % div for v in crop):
            errors.append(f'{key}={crop} is not divisible by '
                          f'{div_key}={div} (LR and HR predictions would '
                          'not align).')
        if hr_crop is not None and (hr_crop[0] > crop[0]
                                    or hr_crop[1] > crop[1]):
            errors.append(f'{prefix}.hr_crop_size={hr_crop} is larger than '
                          f'the training crop {key}={crop}.')
        for s in scales:
            if any(abs(v * s - round(v * s)) > 1e-6 for v in crop):
                errors.append(f'{key}={crop} times {prefix}.scales '
                              f'{s} is not a whole number of pixels.')


def config_errors(cfg) -> List[str]:
    """Every mismatch of the UDA pieces of ``cfg`` (a mmengine ``Config``
    or dict), one message a problem naming the keys; [] if it fits."""
    import mmseg_uda  # noqa: F401 (types in the registries)
    errors: List[str] = []
    for check in (_check_classes, _check_uda_pieces, _check_hrda):
        check(cfg, errors)
    return errors


def validate_uda_config(cfg) -> None:
    """Raise :class:`UDAConfigError` listing every mismatch of the UDA
    pieces of ``cfg`` (:func:`config_errors`); return None if the config
    is consistent. Plain (non-UDA) configs pass unless their classes
    disagree."""
    errors = config_errors(cfg)
    if errors:
        raise UDAConfigError(
            'The config does not fit together:\n' +
            '\n'.join(f'  - {e}' for e in errors))
