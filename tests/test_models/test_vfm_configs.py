"""The DINOv2 configs of configs/vfm/ (DACS with the DAFormer head, MIC,
HRDA) built from the real config files, shrunk for CPU by overriding keys
(a 4-block ViT of width 24, narrow heads, SyncBN -> BN): one UDA training
step each, and strict checkpoint round trips between the UDA model, the
exported student and a plain mmseg segmentor; one DACS step of the
UPerNet-ConvNeXt config."""
# ruff: noqa: I001  (mmseg_uda first: it installs the mmcv-lite shim)
import mmseg_uda  # noqa: F401
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

from mmseg_uda.converters.uda_export import export_segmentor
from tests.helpers import REPO
from tests.test_models.tiny_models import uda_batch

CROP = 60  # not a multiple of the patch size 14
DINOV2_CONFIGS = sorted(
    osp.relpath(p, REPO)
    for p in glob.glob(osp.join(REPO, 'configs/vfm/*dinov2*.py')))
BN = dict(type='BN', requires_grad=True)


def shrink_segmentor(seg):
    """The segmentor config of a DINOv2 config, CPU-sized in place: keys
    overridden, structure (pyramid, heads, HRDA) unchanged."""
    vit = seg.backbone.vit
    vit.update(arch=dict(embed_dims=24, num_layers=4, num_heads=2,
                         feedforward_channels=48),
               img_size=56, init_cfg=None)
    seg.backbone.out_indices = (0, 1, 2, 3)
    head = seg.decode_head
    head.update(in_channels=[24] * 4, channels=16, norm_cfg=BN)
    head.decoder_params.embed_dims = 16
    head.decoder_params.fusion_cfg.norm_cfg = BN
    if seg.type == 'HRDAEncoderDecoder':
        head.attention_embed_dim = 8
        seg.hr_crop_size = (32, 32)
    seg.data_preprocessor.size = (CROP, CROP)
    return seg


def shrunk_uda_config(rel):
    cfg = Config.fromfile(osp.join(REPO, rel))
    shrink_segmentor(cfg.model.segmentor)
    # DAFormer's fixed pseudo-label ignore rows are for 512 px crops
    cfg.model.update(pseudo_weight_ignore_top=0,
                     pseudo_weight_ignore_bottom=0)
    if cfg.model.get('mic'):
        cfg.model.mic.mask_generator.block_size = 8
    return cfg


def build(cfg):
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def test_every_dinov2_method_and_size_is_covered():
    names = [osp.basename(p) for p in DINOV2_CONFIGS]
    for method in ('daformer_dinov2', 'mic-daformer_dinov2', 'hrda_dinov2'):
        for size in ('-b_', '-l_'):
            assert any(n.startswith(method + size) for n in names), (
                method, size, names)


@pytest.mark.parametrize('rel', DINOV2_CONFIGS, ids=osp.basename)
def test_uda_step_on_the_dinov2_config(rel):
    """One training step of the config's UDA method on the DINOv2 pyramid
    at a crop size that is not a multiple of 14: the source and mixed
    losses (HRDA: also its detail-crop loss; MIC: the masked loss), no
    ImageNet feature distance (off for foundation models), and the
    encoder's blocks all get gradients. Rules out: a pyramid that breaks
    the DAFormer head or HRDA's crops, the feature distance left on,
    blocks cut off from the loss."""
    cfg = shrunk_uda_config(rel)
    model = build(cfg.model)
    model.train()
    wrapper = OptimWrapper(torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.01))
    before = {k: p.clone() for k, p in model.student.named_parameters()}
    logs = model.train_step(uda_batch(size=CROP), wrapper)
    losses = [k for k in logs if 'loss' in k]
    assert all(torch.isfinite(logs[k]) for k in losses), logs
    assert 'src.decode.loss_ce' in logs or 'src.decode.hr.loss_ce' in logs
    assert any(k.startswith('mix.') for k in losses), logs
    assert not any('feat_dist' in k for k in logs), logs
    if cfg.model.get('mic'):
        assert any(k.startswith('mic.') for k in losses), logs
    if cfg.model.segmentor.type == 'HRDAEncoderDecoder':
        assert 'src.decode.hr.loss_ce' in logs, logs
    changed = {k.split('.')[3] for k, p in model.student.named_parameters()
               if k.startswith('backbone.vit.layers.')
               and not torch.equal(p, before[k])}
    assert changed == {'0', '1', '2', '3'}, changed


@pytest.mark.parametrize('rel', [
    'configs/vfm/daformer_dinov2-b_1xb2-40k_gta2cityscapes-512x512.py',
    'configs/vfm/hrda_dinov2-b_1xb2-40k_gta2cityscapes-1024x1024.py'
], ids=osp.basename)
def test_checkpoint_round_trips(rel, tmp_path):
    """UDA checkpoint -> exported student (uda_export.export_segmentor,
    with its config) -> plain mmseg segmentor built from that config, and
    a plain segmentor's weights -> the UDA model's student and teacher,
    all with ``strict=True`` and equal tensors. Rules out: keys renamed by
    the wrapper (``vit.`` prefix lost), state held by the UDA wrappers,
    an exported config that does not rebuild the DINOv2 segmentor."""
    cfg = shrunk_uda_config(rel)
    cfg_path = str(tmp_path / 'shrunk.py')
    cfg.dump(cfg_path)
    model = build(cfg.model)
    ckpt = str(tmp_path / 'uda.pth')
    torch.save(dict(state_dict=model.state_dict(), meta={}), ckpt)
    out_cfg = str(tmp_path / 'student.py')
    exported = export_segmentor(cfg_path, ckpt, str(tmp_path / 'seg.pth'),
                                out_config=out_cfg)
    plain_cfg = Config.fromfile(out_cfg)
    init_default_scope('mmseg')
    plain = MODELS.build(plain_cfg.model)
    plain.load_state_dict(
        torch.load(str(tmp_path / 'seg.pth'))['state_dict'], strict=True)
    for k, v in model.student.state_dict().items():
        assert torch.equal(plain.state_dict()[k], v), k
    assert set(exported) == set(plain.state_dict())
    assert any(k.startswith('backbone.vit.layers.3.') for k in exported)

    torch.manual_seed(5)
    other = MODELS.build(plain_cfg.model)
    model.student.load_state_dict(other.state_dict(), strict=True)
    model.teacher.load_state_dict(other.state_dict(), strict=True)
    for part in (model.student, model.teacher):
        for k, v in other.state_dict().items():
            assert torch.equal(part.state_dict()[k], v), k


CONVNEXT = ('configs/vfm/'
            'dacs_upernet-convnext-t_1xb2-40k_gta2cityscapes-512x512.py')


def test_dacs_step_on_upernet_convnext():
    """One DACS step of the UPerNet-ConvNeXt-T config (mmpretrain's ConvNeXt
    at full depth, no ImageNet weights, narrow heads) with its ImageNet
    feature distance: the frozen copy is an mmpretrain ConvNeXt too. Rules
    out: an ``mmpretrain.`` backbone that the feature-distance copy cannot
    build, the auxiliary head's mixed loss missing."""
    cfg = Config.fromfile(osp.join(REPO, CONVNEXT))
    seg = cfg.model.segmentor
    seg.backbone.init_cfg = None
    seg.decode_head.update(channels=16, norm_cfg=BN)
    seg.auxiliary_head.update(channels=8, norm_cfg=BN)
    seg.data_preprocessor.size = (64, 64)
    cfg.model.update(pseudo_weight_ignore_top=0,
                     pseudo_weight_ignore_bottom=0)
    model = build(cfg.model)
    assert type(model.imnet_backbone).__name__ == 'ConvNeXt'
    model.train()
    wrapper = OptimWrapper(torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.01))
    logs = model.train_step(uda_batch(size=64), wrapper)
    for key in ('src.decode.loss_ce', 'src.aux.loss_ce',
                'src.loss_imnet_feat_dist', 'mix.decode.loss_ce',
                'mix.aux.loss_ce'):
        assert key in logs and torch.isfinite(logs[key]), (key, logs)
