"""Convert checkpoints trained with the reference DAFormer / HRDA / MIC code
(mmseg 0.16, mmcv 1.x) into checkpoints of this plugin.

Accepted input (see docs/reference_checkpoints.md):

* the training file (``iter_40000.pth``/``latest.pth``): ``state_dict`` with
  ``model.*`` (student), ``ema_model.*`` (EMA teacher), ``imnet_model.*``
  (ImageNet feature-distance model), plus ``meta`` and ``optimizer``;
* the published file (``iter_40000_relevant.pth``): ``model.*`` only, with or
  without ``meta``;
* a bare state dict (no ``state_dict`` wrapper), with or without the
  ``model.`` prefix; domain-generalisation files (no ``ema_model.``, SHADE
  ``style_hallucination`` buffers); an empty ``mic.`` module or the second
  teacher of MIC ablations (``mic.teacher.*``, dropped).

The network must be a MiT backbone (SegFormer names ``patch_embed{s}``,
``block{s}.{i}``, ``norm{s}``) with a DAFormer head (``decode_head.*``) or an
HRDA head (``decode_head.head.*`` + ``decode_head.scale_attention.*``).
Anything else is refused with the list of the keys not understood.

Output, ``{'meta': {...}, 'state_dict': ...}``:

* ``target='segmentor'``: ``backbone.*`` + ``decode_head.*`` of the student
  (or the teacher), for ``EncoderDecoder`` / ``HRDAEncoderDecoder``;
* ``target='uda'``: ``student.*``, ``teacher.*``, ``imnet_backbone.*`` for
  the plugin's ``DACS`` (``imnet_model.decode_head`` is never used by the
  reference and has no counterpart).

The MiT names are mapped as mmseg's ``mit2mmseg`` does (q and kv concatenated
into ``attn.attn.in_proj_*``, the MLP's linear layers as 1x1 convolutions);
the heads keep the reference names (identity). This module only needs torch
(mmengine/mmseg are imported by :func:`verify_with_config` and
:func:`default_dataset_meta` only).
"""
import collections
import importlib
import os.path as osp
import pickle
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

StateDict = Dict[str, Tensor]

TOP_LEVEL_KEYS = ('state_dict', 'meta', 'optimizer')
PREFIXES = ('model.', 'ema_model.', 'imnet_model.', 'mic.')
UDA_PARTS = ('student', 'teacher', 'imnet_backbone')
CONVERTER_VERSION = 1


class ReferenceCheckpointError(ValueError):
    """The file is not a reference checkpoint this converter understands (or
    lacks a part the requested output needs)."""


def _short_list(keys: Sequence[str], limit: int = 40) -> str:
    keys = list(keys)
    lines = [f'  {k}' for k in keys[:limit]]
    if len(keys) > limit:
        lines.append(f'  ... and {len(keys) - limit} more')
    return '\n'.join(lines)


# ---------------------------------------------------------------------------
# Loading and saving
# ---------------------------------------------------------------------------
def load_reference_file(path: str, unsafe_load: bool = False) -> dict:
    """``torch.load`` a reference checkpoint on the CPU.

    Only tensors and plain containers are unpickled (``weights_only=True``)
    unless ``unsafe_load`` is set: unpickling arbitrary objects runs code
    from the file, so only do that for files from a trusted source.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path}: no such file (a dangling latest.pth symlink? use '
            'iter_40000.pth or iter_40000_relevant.pth of the run)')
    if unsafe_load:
        return torch.load(path, map_location='cpu', weights_only=False)
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ReferenceCheckpointError(
            f'{path} holds pickled objects other than tensors and plain '
            'containers (mmcv 1.x may store numpy values or other objects in '
            '`meta`), so it was not loaded with weights_only=True.\n'
            f'torch said: {str(exc).splitlines()[0]}\n'
            'If the file comes from a source you trust (the official release '
            'or your own training), run again with --unsafe-load '
            '(unsafe_load=True): that unpickles everything and can execute '
            'code stored in the file. Alternatively load it once in a '
            'trusted environment and re-save only '
            "{'state_dict': ckpt['state_dict']}.") from exc


# ---------------------------------------------------------------------------
# MiT backbone: SegFormer names -> mmseg 1.x MixVisionTransformer names
# ---------------------------------------------------------------------------
_MIT_PATTERNS = [
    re.compile(r'^patch_embed(?P<s>\d+)\.(?P<rest>(proj|norm)\.(weight|bias))$'),
    re.compile(r'^block(?P<s>\d+)\.(?P<i>\d+)\.(?P<rest>'
               r'(norm1|norm2|attn\.(q|kv|proj|sr|norm)|mlp\.(fc1|fc2)'
               r'|mlp\.dwconv\.dwconv)\.(weight|bias))$'),
    re.compile(r'^norm(?P<s>\d+)\.(?P<rest>(weight|bias))$'),
]
# Training-only buffers of the domain-generalisation branch (SHADE).
_MIT_DROPPED = {
    re.compile(r'^style_hallucination\.(proto_mean|proto_std)$'):
    'SHADE style-hallucination buffer of the domain-generalisation code '
    '(training only; no counterpart in the plugin)',
}
_BLOCK_REQUIRED = [
    f'{n}.{p}' for n in ('norm1', 'attn.q', 'attn.kv', 'attn.proj', 'norm2',
                         'mlp.fc1', 'mlp.dwconv.dwconv', 'mlp.fc2')
    for p in ('weight', 'bias')
]
_BLOCK_SR = [
    f'attn.{n}.{p}' for n in ('sr', 'norm') for p in ('weight', 'bias')
]


@dataclass
class MiTInfo:
    """What a reference MiT state dict holds."""
    depths: List[int]
    widths: List[int]
    sr_ratios: List[int]

    def describe(self) -> str:
        name = {
            (3, 6, 40, 3): 'MiT-B5',
            (3, 6, 18, 3): 'MiT-B4',
            (3, 4, 18, 3): 'MiT-B3',
            (3, 4, 6, 3): 'MiT-B2',
            (2, 2, 2, 2): 'MiT-B1/B0',
        }.get(tuple(self.depths), 'MiT')
        return (f'{name}: depths {self.depths}, widths {self.widths}, '
                f'spatial reduction {self.sr_ratios}')


def _is_mit_key(key: str) -> bool:
    return any(p.match(key) for p in _MIT_PATTERNS) or any(
        p.match(key) for p in _MIT_DROPPED)


def convert_mit(state: StateDict,
                where: str = 'backbone.') -> Tuple[StateDict, MiTInfo, list]:
    """Convert a reference MiT state dict (keys without prefix).

    Returns:
        tuple: the mmseg 1.x state dict (``layers.*``), the architecture found
        and the list of ``(key, reason)`` dropped. Raises
        :class:`ReferenceCheckpointError` on unknown, missing or inconsistent
        keys (``where`` prefixes the key names in the message).
    """
    dropped, unknown = [], []
    stages: Dict[int, dict] = collections.defaultdict(
        lambda: dict(blocks=collections.defaultdict(dict), own={}))
    for key, value in state.items():
        reason = next((r for p, r in _MIT_DROPPED.items() if p.match(key)),
                      None)
        if reason is not None:
            dropped.append((where + key, reason))
            continue
        for pattern in _MIT_PATTERNS:
            m = pattern.match(key)
            if m:
                stage = stages[int(m['s'])]
                if m.groupdict().get('i') is not None:
                    stage['blocks'][int(m['i'])][m['rest']] = value
                else:
                    kind = 'patch' if key.startswith('patch_embed') else 'norm'
                    stage['own'][f'{kind}.{m["rest"]}'] = value
                break
        else:
            unknown.append(where + key)
    if unknown:
        raise ReferenceCheckpointError(
            'keys not understood in a reference MiT backbone:\n' +
            _short_list(unknown))
    numbers = sorted(stages)
    if numbers != list(range(1, len(numbers) + 1)):
        raise ReferenceCheckpointError(
            f'{where}: MiT stages {numbers} found; expected 1..N')

    out: StateDict = collections.OrderedDict()
    missing: List[str] = []
    info = MiTInfo(depths=[], widths=[], sr_ratios=[])
    for s in numbers:
        t = s - 1
        own, blocks = stages[s]['own'], stages[s]['blocks']
        for name in ('patch.proj.weight', 'patch.proj.bias',
                     'patch.norm.weight', 'patch.norm.bias', 'norm.weight',
                     'norm.bias'):
            if name not in own:
                ref = (f'patch_embed{s}.{name[6:]}' if name.startswith('patch')
                       else f'norm{s}.{name[5:]}')
                missing.append(where + ref)
        indices = sorted(blocks)
        if indices != list(range(len(indices))) or not indices:
            raise ReferenceCheckpointError(
                f'{where}block{s}: block indices {indices}; expected 0..N-1')
        width = own['patch.proj.weight'].shape[0] if (
            'patch.proj.weight' in own) else None
        sr = 1
        for i in indices:
            block = blocks[i]
            want = list(_BLOCK_REQUIRED)
            has_sr = any(k in block for k in _BLOCK_SR)
            if has_sr:
                want += _BLOCK_SR
            missing += [
                f'{where}block{s}.{i}.{k}' for k in want if k not in block
            ]
            extra = set(block) - set(want)
            if extra:  # unreachable by the patterns, kept as a guard
                raise ReferenceCheckpointError(
                    f'{where}block{s}.{i}: unexpected {sorted(extra)}')
            if has_sr and 'attn.sr.weight' in block:
                sr = int(block['attn.sr.weight'].shape[-1])
        if missing:
            continue
        info.depths.append(len(indices))
        info.widths.append(int(width))
        info.sr_ratios.append(sr)
        pre = f'layers.{t}.'
        out[pre + '0.projection.weight'] = own['patch.proj.weight']
        out[pre + '0.projection.bias'] = own['patch.proj.bias']
        out[pre + '0.norm.weight'] = own['patch.norm.weight']
        out[pre + '0.norm.bias'] = own['patch.norm.bias']
        for i in indices:
            out.update(_convert_block(blocks[i], f'{pre}1.{i}.', width,
                                      f'{where}block{s}.{i}.'))
        out[pre + '2.weight'] = own['norm.weight']
        out[pre + '2.bias'] = own['norm.bias']
    if missing:
        raise ReferenceCheckpointError(
            'incomplete reference MiT backbone, missing keys:\n' +
            _short_list(missing))
    return out, info, dropped


def _convert_block(block: StateDict, pre: str, width: int,
                   where: str) -> StateDict:
    c = width
    expect = {
        'attn.q.weight': (c, c),
        'attn.kv.weight': (2 * c, c),
        'attn.q.bias': (c, ),
        'attn.kv.bias': (2 * c, ),
    }
    for name, shape in expect.items():
        if tuple(block[name].shape) != shape:
            raise ReferenceCheckpointError(
                f'{where}{name}: shape {tuple(block[name].shape)}, expected '
                f'{shape} for stage width {c}')
    out = collections.OrderedDict()
    out[pre + 'norm1.weight'] = block['norm1.weight']
    out[pre + 'norm1.bias'] = block['norm1.bias']
    # nn.MultiheadAttention's in_proj rows: q, then k, then v (= kv rows)
    out[pre + 'attn.attn.in_proj_weight'] = torch.cat(
        [block['attn.q.weight'], block['attn.kv.weight']], dim=0)
    out[pre + 'attn.attn.in_proj_bias'] = torch.cat(
        [block['attn.q.bias'], block['attn.kv.bias']], dim=0)
    out[pre + 'attn.attn.out_proj.weight'] = block['attn.proj.weight']
    out[pre + 'attn.attn.out_proj.bias'] = block['attn.proj.bias']
    if 'attn.sr.weight' in block:
        out[pre + 'attn.sr.weight'] = block['attn.sr.weight']
        out[pre + 'attn.sr.bias'] = block['attn.sr.bias']
        out[pre + 'attn.norm.weight'] = block['attn.norm.weight']
        out[pre + 'attn.norm.bias'] = block['attn.norm.bias']
    out[pre + 'norm2.weight'] = block['norm2.weight']
    out[pre + 'norm2.bias'] = block['norm2.bias']
    # Linear [out, in] -> 1x1 conv [out, in, 1, 1]
    out[pre + 'ffn.layers.0.weight'] = block['mlp.fc1.weight'][:, :, None,
                                                               None]
    out[pre + 'ffn.layers.0.bias'] = block['mlp.fc1.bias']
    out[pre + 'ffn.layers.1.weight'] = block['mlp.dwconv.dwconv.weight']
    out[pre + 'ffn.layers.1.bias'] = block['mlp.dwconv.dwconv.bias']
    out[pre + 'ffn.layers.4.weight'] = block['mlp.fc2.weight'][:, :, None,
                                                               None]
    out[pre + 'ffn.layers.4.bias'] = block['mlp.fc2.bias']
    return out


# ---------------------------------------------------------------------------
# Decode heads: identity below `decode_head.`, validated
# ---------------------------------------------------------------------------
_BN = r'bn\.(weight|bias|running_mean|running_var|num_batches_tracked)'
_CONV_MODULE = rf'(conv\.(weight|bias)|{_BN})'
_DAFORMER_HEAD = re.compile(
    r'^(conv_seg\.(weight|bias)'
    r'|embed_layers\.\d+\.proj\.(weight|bias)'
    r'|fuse_layer\.(aspp_modules\.\d+\.((depthwise_conv|pointwise_conv)\.)?'
    rf'|bottleneck\.|image_pool\.1\.)?{_CONV_MODULE})$')


def _check_daformer_head(keys: Sequence[str], where: str) -> Tuple[str, list]:
    unknown = [where + k for k in keys if not _DAFORMER_HEAD.match(k)]
    if not any(k.startswith('conv_seg.') for k in keys):
        unknown.append(f'{where}conv_seg.* (missing)')
    if any(k.startswith('fuse_layer.aspp_modules.') for k in keys):
        sep = any('.depthwise_conv.' in k for k in keys)
        fusion = 'sepaspp' if sep else 'aspp'
    elif any(k.startswith('fuse_layer.conv.') for k in keys):
        fusion = 'conv1'
    else:
        fusion = 'unknown'
        unknown.append(f'{where}fuse_layer.* (missing)')
    return fusion, unknown


def _inspect_head(head: StateDict, where: str) -> str:
    """Description of the head; raises on keys a DAFormer/HRDA head does not
    have."""
    keys = list(head)
    hrda = [k for k in keys if k.startswith(('head.', 'scale_attention.'))]
    if hrda:
        plain = [where + k for k in keys if k not in hrda]
        if plain:
            raise ReferenceCheckpointError(
                f'{where}: HRDA keys (head.*, scale_attention.*) mixed with '
                'others:\n' + _short_list(plain))
        inner = [k[5:] for k in keys if k.startswith('head.')]
        att = [k[16:] for k in keys if k.startswith('scale_attention.')]
        if not inner:
            raise ReferenceCheckpointError(f'{where}: HRDA head without '
                                           'head.* keys')
        fusion, unknown = _check_daformer_head(inner, where + 'head.')
        desc = f'HRDAHead(DAFormerHead {fusion})'
        if att:
            att_fusion, bad = _check_daformer_head(att,
                                                   where + 'scale_attention.')
            unknown += bad
            n_att = head['scale_attention.conv_seg.weight'].shape[0] if (
                'scale_attention.conv_seg.weight' in head) else '?'
            desc += (f' + scale attention ({att_fusion}, {n_att} output '
                     'channel(s))')
        else:
            desc += ' without scale attention (fixed_attention)'
    else:
        fusion, unknown = _check_daformer_head(keys, where)
        desc = f'DAFormerHead ({fusion})'
    if unknown:
        raise ReferenceCheckpointError(
            'keys not understood in a DAFormer/HRDA decode head:\n' +
            _short_list(unknown))
    return desc


def _num_classes(head: StateDict) -> Optional[int]:
    for key in ('conv_seg.weight', 'head.conv_seg.weight'):
        if key in head:
            return int(head[key].shape[0])
    return None


# ---------------------------------------------------------------------------
# Whole checkpoints
# ---------------------------------------------------------------------------
@dataclass
class Segmentor:
    """One converted reference segmentor (``model.``, ``ema_model.`` or
    ``imnet_model.``)."""
    backbone: StateDict
    decode_head: StateDict
    mit: MiTInfo
    head_desc: str
    num_classes: Optional[int]


@dataclass
class ConversionReport:
    source: str = ''
    layout: str = ''
    architecture: str = ''
    target: str = ''
    output_keys: int = 0
    dropped: List[Tuple[str, str]] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    def drop(self, key: str, reason: str) -> None:
        self.dropped.append((key, reason))

    def format(self, list_all: bool = True) -> str:
        lines = [
            f'source:       {self.source}', f'layout:       {self.layout}',
            f'architecture: {self.architecture}',
            f'output:       {self.target} ({self.output_keys} tensors)'
        ]
        lines += [f'note:         {n}' for n in self.notes]
        lines.append(f'dropped:      {len(self.dropped)} entries')
        by_reason = collections.OrderedDict()
        for key, reason in self.dropped:
            by_reason.setdefault(reason, []).append(key)
        for reason, keys in by_reason.items():
            lines.append(f'  - {len(keys)} x {reason}:')
            shown = keys if list_all else keys[:5]
            lines += [f'      {k}' for k in shown]
            if len(shown) < len(keys):
                lines.append(f'      ... and {len(keys) - len(shown)} more')
        return '\n'.join(lines)


def split_checkpoint(checkpoint: dict, report: ConversionReport) -> dict:
    """The reference state dict grouped by top-level prefix:
    ``{'model.': {...}, 'ema_model.': {...}, ...}`` (keys without the
    prefix). Fills ``report.layout`` and refuses unknown keys."""
    if not isinstance(checkpoint, dict):
        raise ReferenceCheckpointError(
            f'not a checkpoint dict: {type(checkpoint).__name__}')
    wrapped = 'state_dict' in checkpoint
    if wrapped:
        extra = [k for k in checkpoint if k not in TOP_LEVEL_KEYS]
        if extra:
            hint = (' (an mmengine / mmseg 1.x checkpoint? it needs no '
                    'conversion)' if 'message_hub' in extra else '')
            raise ReferenceCheckpointError(
                'unexpected top-level keys for a reference (mmcv 1.x) '
                f'checkpoint{hint}:\n' + _short_list(map(str, extra)))
        state = checkpoint['state_dict']
        for key in ('meta', 'optimizer'):
            if key in checkpoint:
                report.drop(key, f'top-level `{key}`'
                            + (' (training state)' if key == 'optimizer' else
                               ' (useful entries copied to meta.reference)'))
    else:
        state = checkpoint
    non_tensor = [str(k) for k, v in state.items()
                  if not isinstance(k, str) or not torch.is_tensor(v)]
    if non_tensor:
        raise ReferenceCheckpointError(
            'not a state dict (entries that are not tensors):\n' +
            _short_list(non_tensor))
    if state and all(k.startswith('module.') for k in state):
        state = {k[len('module.'):]: v for k, v in state.items()}
    groups: Dict[str, StateDict] = collections.OrderedDict()
    unknown = []
    for key, value in state.items():
        prefix = next((p for p in PREFIXES if key.startswith(p)), None)
        if prefix is None and key.startswith(('backbone.', 'decode_head.')):
            prefix = ''  # a segmentor state dict without `model.`
        if prefix is None:
            unknown.append(key)
            continue
        groups.setdefault(prefix, collections.OrderedDict())[
            key[len(prefix):]] = value
    if '' in groups and len(groups) > 1:
        unknown += ['(segmentor keys without prefix next to model.*) ' +
                    k for k in list(groups[''])[:3]]
    if unknown:
        hint = ''
        if any(k.startswith('model_D') for k in unknown):
            hint = (' (model_D.*: discriminators of an adversarial baseline; '
                    'not a DAFormer/HRDA/MIC checkpoint)')
        raise ReferenceCheckpointError(
            'not a recognised DAFormer/HRDA/MIC reference checkpoint: '
            f'unexpected keys{hint}:\n' + _short_list(unknown))
    if not groups:
        raise ReferenceCheckpointError('empty state dict')
    if '' in groups:
        groups['model.'] = groups.pop('')
        parts = 'segmentor state dict without the model. prefix'
    else:
        parts = ', '.join(f'{p}* ({len(v)} keys)' for p, v in groups.items())
    if wrapped:
        tops = [k for k in TOP_LEVEL_KEYS if k in checkpoint]
        kind = ('training file (student, teacher, ImageNet model)'
                if {'model.', 'ema_model.', 'imnet_model.'} <= set(groups)
                else 'published / stripped file' if set(groups) <= {
                    'model.', 'mic.'} else 'partial file')
        report.layout = f'{kind}: {", ".join(tops)}; state_dict: {parts}'
    else:
        report.layout = f'bare state dict (no state_dict wrapper): {parts}'
    return groups


def convert_segmentor(state: StateDict, prefix: str,
                      report: ConversionReport) -> Segmentor:
    """Convert one reference segmentor state dict (keys ``backbone.*``,
    ``decode_head.*``)."""
    backbone, head, unknown = {}, {}, []
    for key, value in state.items():
        if key.startswith('backbone.'):
            backbone[key[9:]] = value
        elif key.startswith('decode_head.'):
            head[key[12:]] = value
        else:
            unknown.append(prefix + key)
    if unknown:
        raise ReferenceCheckpointError(
            f'{prefix}*: keys outside backbone./decode_head. (necks and '
            'auxiliary heads are not part of DAFormer/HRDA/MIC):\n' +
            _short_list(unknown))
    if not backbone:
        raise ReferenceCheckpointError(f'{prefix}*: no backbone.* keys')
    if not any(_is_mit_key(k) for k in backbone):
        hint = ('; layers.* are mmseg 1.x names: an already converted '
                'checkpoint needs no conversion' if any(
                    k.startswith('layers.') for k in backbone) else
                '; ResNet/DeepLab-v2 reference models are not supported')
        raise ReferenceCheckpointError(
            f'{prefix}backbone: not a reference MiT (SegFormer names '
            f'patch_embed1, block1.0, ... expected{hint}), first keys:\n' +
            _short_list([prefix + 'backbone.' + k for k in backbone], 8))
    mit_sd, info, dropped = convert_mit(backbone, prefix + 'backbone.')
    for key, reason in dropped:
        report.drop(key, reason)
    head_desc = _inspect_head(head, prefix + 'decode_head.') if head else ''
    return Segmentor(mit_sd, collections.OrderedDict(head), info, head_desc,
                     _num_classes(head))


def _register_plugin() -> None:
    importlib.import_module('mmseg_uda')


def _prefixed(prefix: str, state: StateDict) -> StateDict:
    return collections.OrderedDict((prefix + k, v) for k, v in state.items())


def default_dataset_meta(num_classes: Optional[int],
                         reference_meta: Optional[dict] = None) -> dict:
    """``dataset_meta`` for ``meta``: the file's ``CLASSES``/``PALETTE`` if
    it has them for ``num_classes`` classes, else Cityscapes' (19)."""
    meta = reference_meta or {}
    classes, palette = meta.get('CLASSES'), meta.get('PALETTE')
    if classes is not None and len(classes) == num_classes:
        out = dict(classes=tuple(str(c) for c in classes))
        if palette is not None and len(palette) == num_classes:
            out['palette'] = [[int(v) for v in c] for c in palette]
        return out
    if num_classes not in (None, 19):
        return {}
    _register_plugin()  # the mmcv-lite shim before mmseg.datasets
    from mmseg.datasets import CityscapesDataset
    info = CityscapesDataset.METAINFO
    return dict(
        classes=tuple(info['classes']),
        palette=[list(map(int, c)) for c in info['palette']])


_KEPT_META = ('exp_name', 'iter', 'epoch', 'seed', 'mmseg_version',
              'mmcv_version', 'time', 'config')


def _reference_meta(meta) -> dict:
    if not isinstance(meta, dict):
        return {}
    out = {}
    for key in _KEPT_META:
        value = meta.get(key)
        if isinstance(value, (str, int, float, bool)):
            out[key] = value
        elif value is not None and hasattr(value, 'item'):  # numpy scalar
            try:
                out[key] = value.item()
            except (TypeError, ValueError):
                pass
    return out


def convert_reference_checkpoint(
        checkpoint: dict,
        target: str = 'segmentor',
        model: str = 'student',
        imnet: str = 'checkpoint',
        imnet_state: Optional[StateDict] = None,
        teacher_from_student: bool = False,
        source: str = '') -> Tuple[dict, ConversionReport]:
    """Convert a loaded reference checkpoint.

    Args:
        checkpoint: what :func:`load_reference_file` returned.
        target: ``'segmentor'`` (``backbone.*``, ``decode_head.*``) or
            ``'uda'`` (``student.*``, ``teacher.*``, ``imnet_backbone.*``).
        model: for ``target='segmentor'``: ``'student'`` (``model.*``, what
            the reference evaluates) or ``'teacher'`` (``ema_model.*``).
        imnet: for ``target='uda'``: where ``imnet_backbone`` comes from:
            ``'checkpoint'`` (``imnet_model.backbone.*``), ``'file'``
            (``imnet_state``, ImageNet MiT weights in SegFormer or mmseg
            naming) or ``'none'`` (no ImageNet model: configs without the
            feature distance).
        imnet_state: state dict for ``imnet='file'``.
        teacher_from_student: for ``target='uda'`` when the file has no
            ``ema_model.*`` (published or domain-generalisation files): copy
            the student instead of failing.
        source: file name for the report.

    Returns:
        tuple: ``{'meta': ..., 'state_dict': ...}`` and the report.
    """
    if target not in ('segmentor', 'uda'):
        raise ValueError(
            f"target must be 'segmentor' or 'uda', got {target!r}")
    if model not in ('student', 'teacher'):
        raise ValueError(
            f"model must be 'student' or 'teacher', got {model!r}")
    if imnet not in ('checkpoint', 'file', 'none'):
        raise ValueError("imnet must be 'checkpoint', 'file' or 'none', got "
                         f'{imnet!r}')
    report = ConversionReport(source=source)
    groups = split_checkpoint(checkpoint, report)
    names = {
        'model.': 'student',
        'ema_model.': 'EMA teacher',
        'imnet_model.': 'ImageNet feature-distance model'
    }

    for key in groups.get('mic.', {}):
        report.drop('mic.' + key,
                    "MIC's separate teacher (MIC ablations with mask_alpha/"
                    "mask_pseudo_threshold != 'same'); no counterpart")
    if 'model.' not in groups:
        raise ReferenceCheckpointError(
            'no student (model.*) in the file; found: ' +
            ', '.join(p + '*' for p in groups))

    def convert(prefix: str) -> Segmentor:
        seg = convert_segmentor(groups[prefix], prefix, report)
        if not seg.decode_head and prefix != 'imnet_model.':
            raise ReferenceCheckpointError(
                f'{prefix}*: no decode_head.* keys')
        return seg

    student = convert('model.')
    report.architecture = (f'{student.mit.describe()}; {student.head_desc}; '
                           f'{student.num_classes} classes')
    ref_meta = checkpoint.get('meta') if 'state_dict' in checkpoint else None

    out: StateDict = collections.OrderedDict()
    if target == 'segmentor':
        if model == 'teacher':
            if 'ema_model.' not in groups:
                raise ReferenceCheckpointError(
                    'model=teacher, but the file has no EMA teacher '
                    '(ema_model.*): published and domain-generalisation '
                    'files hold the student only')
            chosen = convert('ema_model.')
            _check_same_arch(student, chosen, 'ema_model.')
        else:
            chosen = student
        out.update(_prefixed('backbone.', chosen.backbone))
        out.update(_prefixed('decode_head.', chosen.decode_head))
        used = 'model.' if model == 'student' else 'ema_model.'
        for prefix in groups:
            if prefix in ('mic.', used):
                continue
            reason = (f'{names[prefix]}: not part of a plain segmentor'
                      + (' (pass --model teacher to convert it instead)'
                         if prefix == 'ema_model.' else '')
                      + (' (the student is what the reference evaluates)'
                         if prefix == 'model.' else ''))
            for key in groups[prefix]:
                report.drop(prefix + key, reason)
        report.target = (f'plain segmentor from the {model} (backbone.*, '
                         'decode_head.*)')
    else:
        out.update(_prefixed('student.backbone.', student.backbone))
        out.update(_prefixed('student.decode_head.', student.decode_head))
        if 'ema_model.' in groups:
            teacher = convert('ema_model.')
            _check_same_arch(student, teacher, 'ema_model.')
        elif teacher_from_student:
            teacher = student
            report.notes.append('no ema_model.* in the file: the teacher is '
                                'a copy of the student')
        else:
            raise ReferenceCheckpointError(
                'target uda needs the EMA teacher (ema_model.*), which this '
                'file lacks (published and domain-generalisation files hold '
                'the student only); pass --teacher-from-student to '
                'initialise the teacher with the student')
        out.update(_prefixed('teacher.backbone.', teacher.backbone))
        out.update(_prefixed('teacher.decode_head.', teacher.decode_head))
        if imnet == 'checkpoint':
            if 'imnet_model.' not in groups:
                raise ReferenceCheckpointError(
                    'target uda needs the ImageNet model (imnet_model.*), '
                    'which this file lacks; pass --imnet-backbone FILE (the '
                    'ImageNet MiT weights, e.g. mit_b5.pth) or --no-imnet '
                    '(configs without the feature distance)')
            imnet_seg = convert('imnet_model.')
            if imnet_seg.mit != student.mit:
                raise ReferenceCheckpointError(
                    f'imnet_model.backbone ({imnet_seg.mit.describe()}) '
                    f'differs from the student ({student.mit.describe()})')
            out.update(_prefixed('imnet_backbone.', imnet_seg.backbone))
            for key in groups['imnet_model.']:
                if key.startswith('decode_head.'):
                    report.drop(
                        'imnet_model.' + key,
                        'decode head of the ImageNet model: never used nor '
                        'trained by the reference; the plugin keeps only '
                        'its backbone')
        else:
            for key in groups.get('imnet_model.', {}):
                report.drop(
                    'imnet_model.' + key,
                    f'ImageNet model replaced (--imnet {imnet})'
                    if imnet == 'file' else
                    'ImageNet model not wanted (--no-imnet)')
            if imnet == 'file':
                if imnet_state is None:
                    raise ValueError("imnet='file' needs imnet_state")
                imnet_sd, imnet_info = convert_imagenet_mit(imnet_state,
                                                            report)
                if imnet_info is not None and imnet_info != student.mit:
                    raise ReferenceCheckpointError(
                        f'--imnet-backbone: {imnet_info.describe()} differs '
                        f'from the student ({student.mit.describe()})')
                out.update(_prefixed('imnet_backbone.', imnet_sd))
        report.target = ('UDA model (student.*, teacher.*' +
                         (', imnet_backbone.*)' if imnet != 'none' else ')'))

    meta = dict(
        dataset_meta=default_dataset_meta(student.num_classes, ref_meta),
        converted_from=dict(
            converter='mmseg_uda.converters.reference_checkpoint',
            version=CONVERTER_VERSION,
            source=source,
            layout=report.layout,
            architecture=report.architecture,
            target=target,
            model=model if target == 'segmentor' else 'all'),
    )
    reference = _reference_meta(ref_meta)
    if reference:
        meta['reference'] = reference
    report.output_keys = len(out)
    return dict(meta=meta, state_dict=out), report


def _check_same_arch(a: Segmentor, b: Segmentor, prefix: str) -> None:
    shapes_a = {k: tuple(v.shape) for k, v in a.decode_head.items()}
    shapes_b = {k: tuple(v.shape) for k, v in b.decode_head.items()}
    if a.mit != b.mit or shapes_a != shapes_b:
        raise ReferenceCheckpointError(
            f'{prefix}* has another architecture than the student')


def convert_imagenet_mit(state: StateDict, report: ConversionReport
                         ) -> Tuple[StateDict, Optional[MiTInfo]]:
    """ImageNet MiT weights for ``imnet_backbone``: SegFormer names (the
    official ``mit_b5.pth``; ``head.*`` classifier dropped) are converted,
    mmseg names (``mit2mmseg`` output, optionally with ``backbone.``) pass
    through. A ``state_dict`` wrapper is unwrapped."""
    if 'state_dict' in state and isinstance(state['state_dict'], dict):
        state = state['state_dict']
    if all(k.startswith('backbone.') for k in state):
        state = {k[9:]: v for k, v in state.items()}
    if any(k.startswith('layers.') for k in state):
        bad = [k for k in state if not k.startswith('layers.')]
        if bad:
            raise ReferenceCheckpointError(
                '--imnet-backbone: unexpected keys next to layers.*:\n' +
                _short_list(bad))
        report.notes.append('imnet_backbone from an mmseg-format ImageNet '
                            'MiT file')
        return collections.OrderedDict(state), None
    kept = {}
    for key, value in state.items():
        if key.startswith('head.'):
            report.drop('(imnet file) ' + key,
                        'ImageNet classification head')
        else:
            kept[key] = value
    sd, info, dropped = convert_mit(kept, '(imnet file) ')
    for key, reason in dropped:
        report.drop(key, reason)
    report.notes.append('imnet_backbone from a SegFormer-format ImageNet MiT '
                        'file')
    return sd, info


# ---------------------------------------------------------------------------
# Verification against a config
# ---------------------------------------------------------------------------
def verify_with_config(state_dict: StateDict,
                       config: str,
                       cfg_options: Optional[dict] = None) -> str:
    """Build ``config``'s model and load ``state_dict`` with ``strict=True``.

    Returns a one-line summary; raises :class:`ReferenceCheckpointError`
    with the missing/unexpected keys or the shape mismatches otherwise.
    """
    _register_plugin()
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model = MODELS.build(cfg.model)
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [
        f'{k}: checkpoint {tuple(state_dict[k].shape)}, model '
        f'{tuple(v.shape)}' for k, v in own.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append('missing in the checkpoint:\n' + _short_list(missing))
        if unexpected:
            parts.append('not in the model:\n' + _short_list(unexpected))
        if shapes:
            parts.append('shape mismatch:\n' + _short_list(shapes))
        raise ReferenceCheckpointError(
            f'the converted checkpoint does not match {config}:\n' +
            '\n'.join(parts))
    model.load_state_dict(state_dict, strict=True)
    return (f'loaded into {type(model).__name__} of {config} with '
            f'strict=True ({len(own)} tensors)')
