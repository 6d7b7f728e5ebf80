"""Base of UDA methods: a segmentor-shaped model that wraps any mmseg
segmentor config as the student, with an optional EMA teacher."""
import copy
import logging
from typing import Dict, List, Optional

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.runner.checkpoint import get_state_dict
from mmseg.models.segmentors import BaseSegmentor
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, SampleList
from torch import Tensor

from ..utils.ddp import unwrap


def _drop_pretrained(cfg):
    """Copy of ``cfg`` without ``init_cfg=dict(type='Pretrained')`` entries
    and ``pretrained`` paths (mmseg's ResNet configs) (the teacher is copied
    from the student, so loading is wasted)."""
    if isinstance(cfg, dict):
        return type(cfg)({
            k: (None if (k == 'init_cfg' and isinstance(v, dict)
                         and v.get('type') == 'Pretrained') or (
                             k == 'pretrained' and isinstance(v, str)) else
                _drop_pretrained(v))
            for k, v in cfg.items()
        })
    if isinstance(cfg, list):
        return [_drop_pretrained(v) for v in cfg]
    return copy.deepcopy(cfg)


def is_stochastic_layer(module: nn.Module) -> bool:
    """Dropout and drop-path layers (off in the teacher)."""
    return isinstance(module, nn.modules.dropout._DropoutNd) or type(
        module).__name__ == 'DropPath'


def _check_same_preprocessor(given, segmentor_own) -> None:
    """The preprocessor the UDA model uses must be the segmentor's own.

    mmengine's Runner injects the config's top-level ``data_preprocessor``
    as ``model.data_preprocessor``; a config that changes only
    ``model.segmentor.data_preprocessor`` (e.g. the crop ``size``) would
    otherwise be silently ignored.
    """
    if not isinstance(given, dict) or not isinstance(segmentor_own, dict):
        return
    if given.get('type') == 'UDADataPreProcessor':
        given = given.get('data_preprocessor', {})
    # `_scope_` is bookkeeping that mmengine adds to dicts of configs
    # inherited across packages (`mmseg::`), not a preprocessor setting.
    diff = sorted(k for k in set(given) | set(segmentor_own)
                  if k != '_scope_' and given.get(k) != segmentor_own.get(k))
    if diff:
        raise ValueError(
            'model.data_preprocessor (or the top-level `data_preprocessor` '
            'that the Runner injects) differs from '
            f'model.segmentor.data_preprocessor in {diff}: '
            f'{[given.get(k) for k in diff]} vs '
            f'{[segmentor_own.get(k) for k in diff]}; set both (mmseg '
            'configs use `data_preprocessor = dict(size=crop_size)` and '
            '`model = dict(data_preprocessor=data_preprocessor)`)')


def _with_pad_size(segmentor: ConfigType, given) -> ConfigType:
    """``segmentor`` with the pad ``size``/``size_divisor`` of the given
    preprocessor when its own has neither.

    mmseg's model bases (``mmseg::_base_/models/*.py``) leave the pad size
    to the experiment (``data_preprocessor = dict(size=crop_size)``, which
    the Runner injects into the UDA model); the segmentor built from
    ``_base_.model`` must pad the same way.
    """
    own = segmentor.get('data_preprocessor')
    if isinstance(given, dict) and given.get('type') == 'UDADataPreProcessor':
        given = given.get('data_preprocessor')
    if not isinstance(own, dict) or not isinstance(given, dict):
        return segmentor
    pad = {k: given[k] for k in ('size', 'size_divisor')
           if given.get(k) is not None}
    if not pad or own.get('size') is not None or own.get(
            'size_divisor') is not None:
        return segmentor
    segmentor = copy.deepcopy(segmentor)
    segmentor['data_preprocessor'].update(pad)
    return segmentor


def _declared_uda_preprocessor(given):
    """``given`` as a ``UDADataPreProcessor`` config (None: the default one).

    The UDA bases (``configs/_base_/uda/*.py``) declare
    ``data_preprocessor=dict(type='UDADataPreProcessor')``. A config written
    before them has none, so mmengine's Runner injects the config's
    top-level (plain) ``data_preprocessor``: it still works, applied to each
    branch, with a warning naming the declaration to add.
    """
    if given is None:
        return dict(type='UDADataPreProcessor')
    if isinstance(given, dict) and given.get('type') != 'UDADataPreProcessor':
        print_log(
            f'model.data_preprocessor is a plain {given.get("type")} (the '
            "config's top-level `data_preprocessor`, which mmengine's "
            'Runner injects when the model declares none): it is applied '
            "to each branch of the UDA batches. Declare model."
            "data_preprocessor=dict(type='UDADataPreProcessor') (as "
            'configs/_base_/uda/*.py do): each branch then goes through '
            "the segmentor's own data_preprocessor.",
            logger='current', level=logging.WARNING)
        return dict(type='UDADataPreProcessor', data_preprocessor=given)
    return given


def _branch_preprocessor(given: dict, segmentor_own) -> dict:
    """The ``UDADataPreProcessor`` config ``given`` with its per-branch
    preprocessor: the segmentor's own when it names none, else the one it
    names, which must then equal the segmentor's."""
    if given.get('data_preprocessor') is None:
        if segmentor_own is None:
            raise ValueError(
                'model.segmentor.data_preprocessor is required (the UDA '
                "model's UDADataPreProcessor applies it to each branch), or "
                'name one in model.data_preprocessor.data_preprocessor')
        if (isinstance(segmentor_own, dict)
                and segmentor_own.get('size') is None
                and segmentor_own.get('size_divisor') is None):
            # mmseg's stack_batch would fail an assert at the first step
            raise ValueError(
                'model.segmentor.data_preprocessor has no pad size (mmseg\'s '
                'model bases leave it to the experiment): give the segmentor '
                'one, e.g. segmentor=dict(_base_.model, data_preprocessor='
                'dict(_base_.data_preprocessor, size=_base_.crop_size)) '
                '(docs/any_model.md)')
        return dict(given, data_preprocessor=copy.deepcopy(segmentor_own))
    _check_same_preprocessor(given, segmentor_own)
    return given


class UDABaseSegmentor(BaseSegmentor):
    """Student (trained) and optional teacher (EMA, never trained) built from
    one segmentor config.

    Args:
        segmentor: config of any mmseg segmentor (``EncoderDecoder``,
            ``HRDAEncoderDecoder``, ...).
        data_preprocessor: a ``UDADataPreProcessor`` config (the UDA bases
            declare ``dict(type='UDADataPreProcessor')``: each branch goes
            through the segmentor's own ``data_preprocessor``). None: the
            same. A plain preprocessor config (a config written before the
            declaration: mmengine's Runner injects the top-level one) is
            applied per branch, with a warning.
        use_teacher: build the EMA teacher (updated by ``EMATeacherHook``).
        predict_on: ``'student'`` (default) or ``'teacher'``: the model used
            by ``predict`` (validation, test, inference).
        train_cfg, test_cfg, pretrained: accepted for compatibility with
            mmseg's tools (``init_model`` sets them); the segmentor's own
            ``train_cfg``/``test_cfg`` are used.
    """

    def __init__(self,
                 segmentor: ConfigType,
                 data_preprocessor: OptConfigType = None,
                 use_teacher: bool = True,
                 predict_on: str = 'student',
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 pretrained: Optional[str] = None,
                 init_cfg: OptConfigType = None):
        data_preprocessor = _declared_uda_preprocessor(data_preprocessor)
        segmentor = _with_pad_size(segmentor, data_preprocessor)
        if isinstance(data_preprocessor, dict):
            data_preprocessor = _branch_preprocessor(
                data_preprocessor, segmentor.get('data_preprocessor'))
            # mmseg's registry, so building works outside a Runner too.
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if predict_on not in ('student', 'teacher'):
            raise ValueError("predict_on must be 'student' or 'teacher', "
                             f'got {predict_on!r}')
        if predict_on == 'teacher' and not use_teacher:
            raise ValueError("predict_on='teacher' needs use_teacher=True")
        self.predict_on = predict_on
        self.student = MODELS.build(segmentor)
        self.teacher = None
        if use_teacher:
            self.teacher = MODELS.build(_drop_pretrained(segmentor))
            self.teacher.requires_grad_(False)

    # -- the segmentor interface, delegated --------------------------------
    @property
    def predict_model(self) -> nn.Module:
        return unwrap(self.teacher if self.predict_on ==
                      'teacher' else self.student)

    @property
    def decode_head(self) -> nn.Module:
        """The predicting segmentor's decode head: mmseg's tools read
        ``model.decode_head`` (e.g. ``init_model`` for ``num_classes`` when
        a checkpoint has no ``dataset_meta``)."""
        return self.predict_model.decode_head

    @property
    def num_classes(self) -> int:
        return self.predict_model.num_classes

    @property
    def out_channels(self) -> int:
        """Read by mmseg's ``SegTTAModel`` (``tools/test.py --tta``)."""
        return self.predict_model.out_channels

    @property
    def align_corners(self) -> bool:
        return self.predict_model.align_corners

    def extract_feat(self, inputs: Tensor) -> List[Tensor]:
        return self.predict_model.extract_feat(inputs)

    def encode_decode(self, inputs: Tensor, batch_img_metas: List[dict]):
        return self.predict_model.encode_decode(inputs, batch_img_metas)

    def predict(self,
                inputs: Tensor,
                data_samples: Optional[SampleList] = None) -> SampleList:
        return self.predict_model.predict(inputs, data_samples)

    def _forward(self,
                 inputs: Tensor,
                 data_samples: Optional[SampleList] = None):
        return self.predict_model(inputs, data_samples, mode='tensor')

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """Supervised loss of the student on a plain (labelled) batch; the
        UDA objective needs several backward passes and lives in
        ``train_step``. Through ``forward`` (not ``student.loss``), so the
        samples' ``seg_weight`` reaches wrapped losses."""
        return unwrap(self.student)(inputs, data_samples, mode='loss')

    # -- modes and checkpoints ---------------------------------------------
    def train(self, mode: bool = True):
        """As the reference: the teacher's BN layers follow ``mode`` (batch
        statistics in training) but its dropout/drop-path are always off."""
        super().train(mode)
        if self.teacher is not None:
            for m in self.teacher.modules():
                if is_stochastic_layer(m):
                    m.training = False
        return self

    def state_dict(self, destination=None, prefix='', keep_vars=False):
        """Keys without the ``.module.`` of DDP-wrapped children, so a
        checkpoint saved by a distributed run loads anywhere.

        Gap: mmengine's Runner saves ``model.state_dict()``; under
        ``UDADistributedDataParallel`` the student is a DDP child, whose
        keys would read ``student.module.*``, while mmengine's loader (and
        every non-distributed run) expects ``student.*``.
        """
        return get_state_dict(
            self, destination=destination, prefix=prefix, keep_vars=keep_vars)

    def _load_from_state_dict(self, state_dict: Dict, prefix: str, *args,
                              **kwargs):
        """A plain segmentor checkpoint (``backbone.*``, ``decode_head.*``)
        initialises the student and the teacher (warm start from a
        source-only model with ``load_from``)."""
        own = (prefix + 'student.', prefix + 'teacher.')
        keys = [k for k in state_dict if k.startswith(prefix)]
        if keys and not any(k.startswith(own) for k in keys):
            for key in keys:
                rest = key[len(prefix):]
                if rest.startswith('data_preprocessor.'):
                    continue
                value = state_dict.pop(key)
                state_dict[prefix + 'student.' + rest] = value
                if self.teacher is not None:
                    state_dict[prefix + 'teacher.' + rest] = value
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
