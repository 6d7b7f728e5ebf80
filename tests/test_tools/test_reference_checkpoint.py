"""Reference (DAFormer/HRDA/MIC, mmseg 0.16) checkpoints -> mmseg_uda.

The reference state dicts are written here from the key tables of
shared/reference_checkpoints.md (sections 2.1-2.3: names, shapes, order),
independently of the converter, with MiT-B5 widths and a tiny depth
(``DEPTHS``; blocks repeat per stage). Converted files are loaded with
``strict=True`` into the models of the delivered configs and every reference
tensor is looked up where the mapping (section 3.2) says it lands.
"""
import os
import pickle
import re

import pytest
import torch
from mmengine.config import Config
from mmseg.registry import MODELS

import mmseg_uda  # noqa: F401
from mmseg_uda.converters.reference_checkpoint import (
    ReferenceCheckpointError,
    convert_reference_checkpoint,
    load_reference_file,
)

CFG = 'configs/reference/'
DAFORMER = CFG + 'daformer-ref_mitb5_gta2cityscapes-1024x512.py'
DAFORMER_UDA = CFG + 'daformer-ref_mitb5_1xb2-40k_gta2cityscapes-512x512.py'
HRDA = CFG + 'hrda-ref_mitb5_gta2cityscapes-2048x1024.py'
HRDA_UDA = CFG + 'hrda-ref_mitb5_1xb2-40k_gta2cityscapes-1024x1024.py'
MIC = CFG + 'mic-ref_mitb5_gta2cityscapes-2048x1024.py'
MIC_UDA = CFG + 'mic-ref_mitb5_1xb2-40k_gta2cityscapes-1024x1024.py'
DEPTHS = [1, 2, 2, 1]
WIDTHS, SRS = [64, 128, 320, 512], [8, 4, 2, 1]


# -- the reference key tables (facts file, section 2) -----------------------
def mit_shapes(depths=DEPTHS):
    shapes, cin = {}, 3
    for s in range(1, 5):  # patch_embed1..4 first
        c, k = WIDTHS[s - 1], 7 if s == 1 else 3
        shapes.update({
            f'patch_embed{s}.proj.weight': (c, cin, k, k),
            f'patch_embed{s}.proj.bias': (c, ),
            f'patch_embed{s}.norm.weight': (c, ),
            f'patch_embed{s}.norm.bias': (c, ),
        })
        cin = c
    for s in range(1, 5):  # then block{s}.*, norm{s} per stage
        c, sr = WIDTHS[s - 1], SRS[s - 1]
        for i in range(depths[s - 1]):
            p = f'block{s}.{i}.'
            shapes.update({
                p + 'norm1.weight': (c, ), p + 'norm1.bias': (c, ),
                p + 'attn.q.weight': (c, c), p + 'attn.q.bias': (c, ),
                p + 'attn.kv.weight': (2 * c, c),
                p + 'attn.kv.bias': (2 * c, ),
                p + 'attn.proj.weight': (c, c), p + 'attn.proj.bias': (c, ),
            })
            if sr > 1:
                shapes.update({
                    p + 'attn.sr.weight': (c, c, sr, sr),
                    p + 'attn.sr.bias': (c, ),
                    p + 'attn.norm.weight': (c, ),
                    p + 'attn.norm.bias': (c, ),
                })
            shapes.update({
                p + 'norm2.weight': (c, ), p + 'norm2.bias': (c, ),
                p + 'mlp.fc1.weight': (4 * c, c),
                p + 'mlp.fc1.bias': (4 * c, ),
                p + 'mlp.dwconv.dwconv.weight': (4 * c, 1, 3, 3),
                p + 'mlp.dwconv.dwconv.bias': (4 * c, ),
                p + 'mlp.fc2.weight': (c, 4 * c), p + 'mlp.fc2.bias': (c, ),
            })
        shapes[f'norm{s}.weight'] = shapes[f'norm{s}.bias'] = (c, )
    return shapes


def bn(prefix, n):
    return {
        prefix + 'bn.weight': (n, ), prefix + 'bn.bias': (n, ),
        prefix + 'bn.running_mean': (n, ), prefix + 'bn.running_var': (n, ),
        prefix + 'bn.num_batches_tracked': ()
    }


def embed(prefix=''):
    out = {}
    for i, c in enumerate(WIDTHS):
        out[f'{prefix}embed_layers.{i}.proj.weight'] = (256, c)
        out[f'{prefix}embed_layers.{i}.proj.bias'] = (256, )
    return out


def daformer_head_shapes(prefix=''):
    f = prefix + 'fuse_layer.'
    shapes = {prefix + 'conv_seg.weight': (19, 256, 1, 1),
              prefix + 'conv_seg.bias': (19, )}
    shapes.update(embed(prefix))
    shapes[f + 'aspp_modules.0.conv.weight'] = (256, 1024, 1, 1)
    shapes.update(bn(f + 'aspp_modules.0.', 256))
    for k in (1, 2, 3):
        p = f'{f}aspp_modules.{k}.'
        shapes[p + 'depthwise_conv.conv.weight'] = (1024, 1, 3, 3)
        shapes.update(bn(p + 'depthwise_conv.', 1024))
        shapes[p + 'pointwise_conv.conv.weight'] = (256, 1024, 1, 1)
        shapes.update(bn(p + 'pointwise_conv.', 256))
    shapes[f + 'bottleneck.conv.weight'] = (256, 1024, 3, 3)
    shapes.update(bn(f + 'bottleneck.', 256))
    return shapes


def hrda_head_shapes():
    shapes = daformer_head_shapes('head.')
    shapes.update({'scale_attention.conv_seg.weight': (19, 256, 1, 1),
                   'scale_attention.conv_seg.bias': (19, )})
    shapes.update(embed('scale_attention.'))
    shapes['scale_attention.fuse_layer.conv.weight'] = (256, 1024, 1, 1)
    shapes.update(bn('scale_attention.fuse_layer.', 256))
    return shapes


def segmentor_shapes(arch, depths=DEPTHS):
    head = daformer_head_shapes() if arch == 'daformer' else hrda_head_shapes()
    out = {'backbone.' + k: v for k, v in mit_shapes(depths).items()}
    out.update({'decode_head.' + k: v for k, v in head.items()})
    return out


def _numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def test_key_tables_match_the_facts_file():
    """The generator reproduces the counts of sections 2.1, 2.2, 2.5."""
    b5 = [3, 6, 40, 3]
    mit = mit_shapes(b5)
    assert len(mit) == 1052
    assert sum(map(_numel, mit.values())) == 81_443_008
    for arch, n, params, buffers in (('daformer', 1110, 85_155_283, 8_712),
                                     ('hrda', 1126, 85_685_990, 9_225)):
        shapes = segmentor_shapes(arch, b5)
        is_buf = [re.search(r'running_|num_batches', k) for k in shapes]
        assert len(shapes) == n
        assert sum(_numel(s) for s, b in zip(shapes.values(), is_buf)
                   if not b) == params
        assert sum(_numel(s) for s, b in zip(shapes.values(), is_buf)
                   if b) == buffers


def random_state(shapes, seed):
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in shapes.items():
        if key.endswith('num_batches_tracked'):
            out[key] = torch.randint(0, 10**6, (), generator=g)
        elif key.endswith('running_var'):
            out[key] = torch.rand(shape, generator=g) + 0.5
        else:
            out[key] = torch.randn(shape, generator=g)
    return out


def reference_checkpoint(arch, layout, seed=0, extra=None):
    """``layout``: 'published' ({'state_dict': model.*}), 'published_meta',
    'training' (meta, state_dict with model/ema_model/imnet_model,
    optimizer), 'bare' (the training state dict, no wrapper)."""
    shapes = segmentor_shapes(arch)
    parts = ['model.'] if layout.startswith('published') else [
        'model.', 'ema_model.', 'imnet_model.']
    state = {}
    for n, prefix in enumerate(parts):
        state.update({prefix + k: v for k, v in random_state(
            shapes, seed * 10 + n).items()})
    state.update(extra or {})
    if layout == 'bare':
        return state
    ckpt = {'state_dict': state}
    if layout in ('training', 'published_meta'):
        ckpt['meta'] = dict(
            env_info='sys.platform: linux', seed=0, exp_name='gta2cs_ref',
            mmseg_version='0.16.0+e6f6e04', config='model = dict(...)',
            CLASSES=('road', ) * 19, PALETTE=[[1, 2, 3]] * 19, iter=40000,
            epoch=1, mmcv_version='1.3.7', time='Mon Jan 1 2022',
            hook_msgs=dict(last_ckpt='work_dirs/x/iter_40000.pth'))
    if layout == 'training':
        ckpt['optimizer'] = dict(
            state={0: dict(step=torch.tensor(40000.),
                           exp_avg=torch.zeros(3))},
            param_groups=[dict(lr=6e-5, params=[0])])
    return ckpt


# -- where a reference tensor must land (facts file, section 3.2) -----------
_STAGE = r'(?P<s>\d)'


def landing(key):
    """mmseg 1.x key and view of the target tensor for a reference key
    below ``backbone.``/``decode_head.``."""
    if key.startswith('decode_head.'):
        return key, lambda t: t
    k = key[len('backbone.'):]
    m = re.match(rf'patch_embed{_STAGE}\.(proj|norm)\.(\w+)$', k)
    if m:
        name = 'projection' if m[2] == 'proj' else 'norm'
        return f'backbone.layers.{int(m["s"]) - 1}.0.{name}.{m[3]}', None
    m = re.match(rf'norm{_STAGE}\.(\w+)$', k)
    if m:
        return f'backbone.layers.{int(m["s"]) - 1}.2.{m[2]}', None
    m = re.match(rf'block{_STAGE}\.(\d+)\.(.+)$', k)
    t, i, rest = int(m['s']) - 1, m[2], m[3]
    pre = f'backbone.layers.{t}.1.{i}.'
    c = WIDTHS[t]
    m = re.match(r'attn\.(q|kv)\.(weight|bias)$', rest)
    if m:
        rows = slice(0, c) if m[1] == 'q' else slice(c, 3 * c)
        return pre + f'attn.attn.in_proj_{m[2]}', lambda x: x[rows]
    if rest.startswith('attn.proj.'):
        return pre + 'attn.attn.out_proj.' + rest[10:], None
    m = re.match(r'mlp\.(fc1|dwconv\.dwconv|fc2)\.(weight|bias)$', rest)
    if m:
        idx = {'fc1': 0, 'dwconv.dwconv': 1, 'fc2': 4}[m[1]]
        squeeze = m[1] != 'dwconv.dwconv' and m[2] == 'weight'
        return (pre + f'ffn.layers.{idx}.{m[2]}',
                (lambda x: x[:, :, 0, 0]) if squeeze else None)
    return pre + rest, None  # norm1, norm2, attn.sr, attn.norm


def assert_landed(model_state, ref_state, ref_prefix, out_prefix,
                  backbone_only=False):
    covered = 0
    for key, value in ref_state.items():
        if not key.startswith(ref_prefix):
            continue
        key = key[len(ref_prefix):]
        if backbone_only:
            if not key.startswith('backbone.'):
                continue
        target, view = landing(key)
        if backbone_only:
            target = target[len('backbone.'):]
        got = model_state[out_prefix + target]
        got = view(got) if view else got
        assert got.shape == value.shape, key
        assert torch.equal(got, value), f'{ref_prefix}{key} -> {target}'
        covered += value.numel()
    # every element of the model part was written by some reference tensor
    total = sum(v.numel() for k, v in model_state.items()
                if k.startswith(out_prefix))
    assert covered == total


# -- models of the delivered configs, tiny depth ----------------------------
_MODELS = {}


def build(config):
    if config not in _MODELS:
        cfg = Config.fromfile(config)
        model_cfg = cfg.model.get('segmentor', cfg.model)
        model_cfg.backbone.num_layers = DEPTHS
        _MODELS[config] = MODELS.build(cfg.model)
    return _MODELS[config]


def load_strict(config, checkpoint):
    model = build(config)
    model.load_state_dict(checkpoint['state_dict'], strict=True)
    return model.state_dict()


@pytest.mark.parametrize('arch,config,uda_config', [
    ('daformer', DAFORMER, DAFORMER_UDA),
    ('hrda', HRDA, HRDA_UDA),
    ('hrda', MIC, MIC_UDA),
])
@pytest.mark.parametrize('layout',
                         ['published', 'published_meta', 'training', 'bare'])
def test_convert_and_load_strict(arch, config, uda_config, layout):
    if config == MIC and layout in ('published_meta', 'bare'):
        pytest.skip('the MIC network is HRDA: one layout of each kind is '
                    'enough')
    ref = reference_checkpoint(arch, layout)
    ref_state = ref.get('state_dict', ref)

    out, report = convert_reference_checkpoint(ref, target='segmentor')
    assert report.layout.startswith(
        'bare' if layout == 'bare' else 'published' if layout.startswith(
            'published') else 'training')
    state = load_strict(config, out)
    assert_landed(state, ref_state, 'model.', '')
    meta = out['meta']
    assert len(meta['dataset_meta']['classes']) == 19
    assert len(meta['dataset_meta']['palette']) == 19
    dropped = {k for k, _ in report.dropped}
    if layout in ('training', 'bare'):
        assert {k for k in ref_state
                if not k.startswith('model.')} <= dropped
        assert report.output_keys == len(
            [k for k in ref_state if k.startswith('model.')]) - len(
                [k for k in ref_state if k.startswith('model.')
                 and re.search(r'attn\.kv\.', k)])
    if layout == 'training':
        assert {'meta', 'optimizer'} <= dropped
        assert meta['reference']['iter'] == 40000
        # the file's CLASSES win over Cityscapes' when there are 19
        assert meta['dataset_meta']['classes'] == ('road', ) * 19

        # the EMA teacher as a plain segmentor
        out, _ = convert_reference_checkpoint(ref, model='teacher')
        assert_landed(load_strict(config, out), ref_state, 'ema_model.', '')

    if layout in ('training', 'bare'):
        # the full UDA model
        out, report = convert_reference_checkpoint(ref, target='uda')
        state = load_strict(uda_config, out)
        assert_landed(state, ref_state, 'model.', 'student.')
        assert_landed(state, ref_state, 'ema_model.', 'teacher.')
        assert_landed(state, ref_state, 'imnet_model.', 'imnet_backbone.',
                      backbone_only=True)
        assert {k for k, r in report.dropped
                if k.startswith('imnet_model.decode_head.')} == {
                    k for k in ref_state
                    if k.startswith('imnet_model.decode_head.')}
    else:
        with pytest.raises(ReferenceCheckpointError,
                           match='--teacher-from-student'):
            convert_reference_checkpoint(ref, target='uda')


def test_published_file_to_uda_with_imagenet_weights():
    """No teacher or ImageNet model in the file: the teacher copies the
    student, imnet_backbone comes from SegFormer-format ImageNet weights
    (their classifier ``head.*`` dropped)."""
    ref = reference_checkpoint('daformer', 'published')
    with pytest.raises(ReferenceCheckpointError, match='--imnet-backbone'):
        convert_reference_checkpoint(
            ref, target='uda', teacher_from_student=True)
    imnet = random_state(mit_shapes(), seed=7)
    imnet_file = dict(imnet, **{'head.weight': torch.zeros(1000, 512),
                                'head.bias': torch.zeros(1000)})
    out, report = convert_reference_checkpoint(
        ref, target='uda', teacher_from_student=True, imnet='file',
        imnet_state=imnet_file)
    state = load_strict(DAFORMER_UDA, out)
    ref_state = ref['state_dict']
    assert_landed(state, ref_state, 'model.', 'student.')
    assert_landed(state, ref_state, 'model.', 'teacher.')
    assert_landed(state, {'x.backbone.' + k: v for k, v in imnet.items()},
                  'x.', 'imnet_backbone.', backbone_only=True)
    assert '(imnet file) head.weight' in {k for k, _ in report.dropped}


def test_domain_generalisation_and_mic_ablation_extras():
    extra = {
        'model.backbone.style_hallucination.proto_mean': torch.zeros(64, 64),
        'model.backbone.style_hallucination.proto_std': torch.ones(64, 64),
        'mic.teacher.ema_model.backbone.patch_embed1.proj.bias':
        torch.zeros(64),
    }
    ref = reference_checkpoint('hrda', 'published', extra=extra)
    out, report = convert_reference_checkpoint(ref)
    load_strict(HRDA, out)
    reasons = dict(report.dropped)
    assert 'SHADE' in reasons['model.backbone.style_hallucination.proto_mean']
    assert 'MIC' in reasons[
        'mic.teacher.ema_model.backbone.patch_embed1.proj.bias']
    text = report.format()
    assert 'model.backbone.style_hallucination.proto_std' in text


@pytest.mark.parametrize('mutate,match', [
    (lambda c: c['state_dict'].update(
        {'model.backbone.pos_block.0.proj.weight': torch.zeros(1)}),
     r'model\.backbone\.pos_block\.0\.proj\.weight'),
    (lambda c: c['state_dict'].update(
        {'model_D.0.weight': torch.zeros(1)}), 'model_D'),
    (lambda c: c['state_dict'].update(
        {'model.decode_head.fuse_layer.foo.weight': torch.zeros(1)}),
     r'fuse_layer\.foo'),
    (lambda c: c['state_dict'].pop('model.backbone.block2.1.mlp.fc2.bias'),
     r'missing keys:\n  model\.backbone\.block2\.1\.mlp\.fc2\.bias'),
    (lambda c: c['state_dict'].update(
        {'model.backbone.stem.0.weight': torch.zeros(1)}), r'stem\.0'),
    (lambda c: c.update(message_hub={}), 'message_hub'),
    (lambda c: c['state_dict'].update(
        {'model.backbone.block1.0.attn.q.weight': torch.zeros(64, 32)}),
     'shape'),
])
def test_refuses_unknown_files(mutate, match):
    ref = reference_checkpoint('daformer', 'published')
    mutate(ref)
    with pytest.raises(ReferenceCheckpointError, match=match):
        convert_reference_checkpoint(ref)


def test_refuses_converted_and_resnet_files():
    mmseg1 = {'state_dict': {'backbone.layers.0.0.projection.weight':
                             torch.zeros(1), 'decode_head.conv_seg.weight':
                             torch.zeros(1)}}
    with pytest.raises(ReferenceCheckpointError,
                       match=r'already converted(.|\n)*'
                       r'model\.backbone\.layers\.0\.0\.projection'):
        convert_reference_checkpoint(mmseg1)
    resnet = {'model.backbone.stem.0.weight': torch.zeros(1),
              'model.decode_head.aspp_modules.0.conv.weight': torch.zeros(1)}
    with pytest.raises(ReferenceCheckpointError, match='ResNet'):
        convert_reference_checkpoint(resnet)


class NotATensor:
    """A pickled object that weights_only loading refuses."""


def test_cli_writes_a_checkpoint_mmseg_loads(tmp_path):
    from mmseg.apis import init_model

    from tools.model_converters.reference_uda2mmseg import main

    src, dst = tmp_path / 'iter_40000.pth', tmp_path / 'out' / 'daformer.pth'
    ref = reference_checkpoint('daformer', 'training')
    torch.save(ref, src)
    argv = [str(src), str(dst), '--verify-config', DAFORMER, '--cfg-options',
            f'model.backbone.num_layers={DEPTHS}']
    assert main(argv) == 0
    assert os.listdir(dst.parent) == ['daformer.pth']  # no temporary left
    out = torch.load(dst, weights_only=True)
    assert set(out) == {'meta', 'state_dict'}
    cfg = Config.fromfile(DAFORMER)
    cfg.model.backbone.num_layers = DEPTHS
    model = init_model(cfg, str(dst), device='cpu')
    assert model.dataset_meta['classes'] == ('road', ) * 19
    assert_landed(model.state_dict(), ref['state_dict'], 'model.', '')

    # a config it does not fit: refused, nothing written
    bad = tmp_path / 'bad.pth'
    assert main([str(src), str(bad), '--verify-config', DAFORMER,
                 '--cfg-options', 'model.backbone.num_layers=[1,1,1,1]']) == 2
    assert not bad.exists()

    # pickled objects: refused unless --unsafe-load
    ref['meta']['env'] = NotATensor()
    torch.save(ref, src)
    with pytest.raises(ReferenceCheckpointError, match='--unsafe-load'):
        load_reference_file(str(src))
    assert main([str(src), str(bad)]) == 2
    assert main([str(src), str(bad), '--unsafe-load']) == 0
    assert pickle.loads(pickle.dumps(torch.load(bad, weights_only=True)))
