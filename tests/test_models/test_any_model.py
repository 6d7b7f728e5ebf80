"""DACS and MIC on mmseg's own model configs (loaded with ``mmseg::``):
per-pixel weights for every per-pixel head, checkpoints, build errors."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper
from mmseg.registry import MODELS
from torch import nn

import mmseg_uda  # noqa: F401
from mmseg_uda.converters.uda_export import extract_segmentor_state
from mmseg_uda.models.losses.pixel_weighted_loss import PixelWeightedLoss
from mmseg_uda.models.uda.dacs import imagenet_backbone_cfg
from mmseg_uda.models.utils import FirstCallCapture
from tests.test_models.mmseg_configs import CROP, MMSEG_CONFIGS, shrunk_model
from tests.test_models.tiny_models import (
    build_dacs,
    hand_weighted_ce,
    uda_batch,
    weighted_samples,
)

NAMES = sorted(MMSEG_CONFIGS)
DLV3P = 'deeplabv3plus/deeplabv3plus_r50-d8_4xb2-40k_cityscapes-512x1024.py'
SEGFORMER = 'segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py'


def _id(name):
    return name.split('/')[0]


def one_step(model):
    model.train()
    wrapper = OptimWrapper(torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.01))
    before = {k: p.clone() for k, p in model.student.named_parameters()}
    logs = model.train_step(uda_batch(size=CROP), wrapper)
    changed = [k for k, p in model.student.named_parameters()
               if not torch.equal(p, before[k])]
    return logs, changed


@pytest.mark.parametrize('name', NAMES, ids=_id)
def test_dacs_and_mic_step(name):
    """One DACS step (source, feature distance, mixed) and one MIC step on
    each mmseg model. Rules out: a head whose wrapped loss breaks its
    forward (DAHead's three outputs, OCR's cascade, SETR's list of
    auxiliary heads), losses without the mixed stage, no update."""
    model = build_dacs(shrunk_model(name))
    logs, changed = one_step(model)
    assert 'src.loss_imnet_feat_dist' in logs
    mixed = [k for k in logs if k.startswith('mix.') and 'loss' in k]
    assert mixed and all(torch.isfinite(logs[k]) for k in mixed), logs
    assert changed

    mic = dict(type='MaskedImageConsistency',
               mask_generator=dict(type='BlockMaskGenerator', mask_ratio=0.7,
                                   block_size=8))
    model = build_dacs(shrunk_model(name), imnet_feature_dist=None, mic=mic)
    logs, changed = one_step(model)
    mic_losses = [k for k in logs if k.startswith('mic.') and 'loss' in k]
    assert mic_losses and all(torch.isfinite(logs[k]) for k in mic_losses)
    assert changed


def test_mixed_loss_of_decode_and_auxiliary_head_is_pixel_weighted_ce():
    """The losses DACS back-propagates for a weighted (mixed) batch equal the
    hand-computed pixel-weighted cross-entropy, for DeepLabV3+'s decode head
    and its FCN auxiliary head (weight 0.4), as in the reference. Rules out:
    weights ignored, applied to the decode head only, applied twice,
    averaged per image, or taken from the wrong samples."""
    model = build_dacs(shrunk_model(DLV3P), imnet_feature_dist=None)
    model.eval()  # deterministic (no dropout); BN running statistics
    student = model.student
    inputs, samples = weighted_samples()
    losses = student(inputs, samples, mode='loss')
    with torch.no_grad():
        feats = student.extract_feat(inputs)
        decode = hand_weighted_ce(student.decode_head(feats), samples)
        aux = hand_weighted_ce(student.auxiliary_head(feats), samples, 0.4)
    torch.testing.assert_close(losses['decode.loss_ce'], decode)
    torch.testing.assert_close(losses['aux.loss_ce'], aux)
    # and the weights matter: without them, the stock loss differs
    for s in samples:
        del s.seg_weight
    plain = student(inputs, samples, mode='loss')
    assert not torch.allclose(plain['decode.loss_ce'], decode)


def test_ohem_sampler_and_list_of_losses():
    """A head with an OHEM sampler and a list of two losses: every loss gets
    ``sampler weight * seg_weight``. Rules out: the sampler's weight replaced
    by seg_weight (or the reverse), only the first loss of a list
    weighted."""
    segmentor = shrunk_model(SEGFORMER)
    segmentor.decode_head.sampler = dict(type='OHEMPixelSampler', thresh=0.6,
                                         min_kept=50)
    segmentor.decode_head.loss_decode = [
        dict(type='CrossEntropyLoss', loss_weight=1.0),
        dict(type='CrossEntropyLoss', loss_weight=0.5, loss_name='loss_b'),
    ]
    model = build_dacs(segmentor, imnet_feature_dist=None)
    model.eval()
    student = model.student
    assert all(isinstance(m, PixelWeightedLoss)
               for m in student.decode_head.loss_decode)
    inputs, samples = weighted_samples()
    losses = student(inputs, samples, mode='loss')
    with torch.no_grad():
        head = student.decode_head
        logits = head(student.extract_feat(inputs))
        label = torch.stack([s.gt_sem_seg.data for s in samples])
        sampled = head.sampler.sample(
            F.interpolate(logits, size=label.shape[2:], mode='bilinear',
                          align_corners=False), label)
        expected = hand_weighted_ce(logits, samples, extra_weight=sampled)
    torch.testing.assert_close(losses['decode.loss_ce'], expected)
    torch.testing.assert_close(losses['decode.loss_b'], 0.5 * expected)


def test_stock_checkpoint_loads_strict_and_export_loads_into_plain_mmseg():
    """A plain mmseg segmentor's state dict initialises the student and the
    teacher with ``strict=True``, and the exported student loads into a
    plain mmseg segmentor with ``strict=True``: the loss wrappers add no
    key. (The frozen ImageNet backbone of the feature distance is not part
    of a stock checkpoint: it keeps its ImageNet weights, so it is off
    here.) Rules out: wrappers holding state (``loss_decode.loss.*`` keys)
    or renamed heads."""
    for name in (DLV3P, 'ocrnet/ocrnet_hr18s_4xb2-40k_cityscapes-512x1024.py'):
        cfg = shrunk_model(name)
        torch.manual_seed(1)
        plain = MODELS.build(cfg)
        model = build_dacs(cfg, imnet_feature_dist=None)
        model.load_state_dict(plain.state_dict(), strict=True)
        model.student.load_state_dict(plain.state_dict(), strict=True)
        for part in (model.student, model.teacher):
            for k, v in plain.state_dict().items():
                assert torch.equal(part.state_dict()[k], v), k
        exported = extract_segmentor_state(model.state_dict(), 'student')
        fresh = MODELS.build(cfg)
        fresh.load_state_dict(exported, strict=True)
        assert set(exported) == set(plain.state_dict())


def test_heads_without_per_pixel_losses_fail_at_build_time():
    """Heads whose loss is not a per-pixel loss on the label map are refused
    when the model is built, with the head's name and the reason. Rules
    out: training such a head with the weights silently ignored."""
    # EncHead: an image-level SE loss next to the pixel loss
    segmentor = shrunk_model(DLV3P)
    segmentor.decode_head = dict(
        type='EncHead', in_channels=[16, 32, 64], in_index=(1, 2, 3),
        channels=8, num_codes=4, use_se_loss=True, num_classes=4,
        norm_cfg=dict(type='BN'), loss_decode=dict(type='CrossEntropyLoss'))
    with pytest.raises(TypeError, match=r'decode_head \(EncHead\).*'
                       r'EncHead\.loss_by_feat'):
        build_dacs(segmentor)
    # a mask-classification head (not a per-pixel BaseDecodeHead)

    @MODELS.register_module(name='_MaskClassificationHead', force=True)
    class MaskClassificationHead(nn.Module):

        def __init__(self, **kwargs):
            super().__init__()
            self.align_corners = False
            self.num_classes = 4
            self.out_channels = 4

    segmentor.decode_head = dict(type='_MaskClassificationHead')
    with pytest.raises(TypeError, match=r'decode_head '
                       r'\(MaskClassificationHead\).*mask-classification'):
        build_dacs(segmentor)


def test_seg_weight_reaches_losses_only_through_forward():
    """``student.loss()`` (bypassing ``forward``) would skip the hook that
    publishes the batch: the wrapped loss raises instead of silently
    training unweighted."""
    model = build_dacs(shrunk_model(DLV3P), imnet_feature_dist=None)
    inputs, samples = weighted_samples()
    with pytest.raises(RuntimeError, match='outside the segmentor'):
        model.student.loss(inputs, samples)
    # UDA model's own `loss` goes through forward
    losses = model.loss(inputs, samples)
    assert torch.isfinite(losses['decode.loss_ce'])
    del samples[0].seg_weight
    with pytest.raises(ValueError, match='only some data samples'):
        model.student(inputs, samples, mode='loss')


SWIN = ('swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-'
        '512x512.py')


@pytest.mark.parametrize('level', [1, -1])
def test_feature_distance_on_the_configured_level(level):
    """The ImageNet feature distance compares the backbone level the config
    names (Swin here), between the student and the frozen copy. Rules out:
    always the last level, or features of the neck/head."""
    fd = dict(type='FeatureDistanceLoss', classes=[1], num_classes=4,
              loss_weight=1.0, feature_level=level)
    model = build_dacs(shrunk_model(SWIN), imnet_feature_dist=fd)
    torch.manual_seed(3)
    for p in model.imnet_backbone.parameters():  # differ from the student
        p.data.add_(torch.randn_like(p) * 0.1)
    model.eval()
    img = torch.randn(2, 3, CROP, CROP)
    label = torch.ones(2, 1, CROP, CROP, dtype=torch.long)  # all 'thing'
    with FirstCallCapture(model.student.backbone) as capture:
        feats = model.student.extract_feat(img)
    with torch.no_grad():
        loss = model._feature_distance(capture, label)
        imnet = model.imnet_backbone(img)
        expected = torch.norm(feats[level] - imnet[level], dim=1).mean()
    torch.testing.assert_close(loss, expected)
    with pytest.raises(IndexError, match='feature_level=7.*4 feature'):
        model.feature_dist.feature_level = 7
        model._feature_distance(capture, label)


def test_imagenet_backbone_takes_the_segmentors_pretrained_weights():
    """mmseg's ResNet configs name the ImageNet weights as the segmentor's
    ``pretrained``; the frozen copy gets them (as ``EncoderDecoder`` hands
    them to its backbone), and the teacher does not load them. Rules out:
    an ImageNet model left randomly initialised for DeepLabV3+/PSPNet."""
    segmentor = shrunk_model(DLV3P)
    segmentor.pretrained = 'open-mmlab://resnet18_v1c'
    assert imagenet_backbone_cfg(segmentor)['pretrained'] == (
        'open-mmlab://resnet18_v1c')
    model = build_dacs(segmentor, init=False)  # nothing is downloaded
    assert model.imnet_backbone.init_cfg == dict(
        type='Pretrained', checkpoint='open-mmlab://resnet18_v1c')
    assert model.teacher.backbone.init_cfg != model.imnet_backbone.init_cfg


def test_hrda_around_an_mmseg_head():
    """HRDA around mmseg's DeepLabV3+ head (scale attention = a second head
    of the same type): one DACS step with the feature distance on the
    context features. Rules out: HRDA tied to the DAFormer head."""
    segmentor = shrunk_model(DLV3P)
    segmentor.update(type='HRDAEncoderDecoder', scales=[1, 0.5],
                     hr_crop_size=(16, 16), crop_coord_divisible=8,
                     feature_scale=0.5, auxiliary_head=None)
    segmentor.decode_head.update(type='HRDAHead',
                                 single_scale_head='DepthwiseSeparableASPPHead')
    model = build_dacs(segmentor)
    head = model.student.decode_head
    assert type(head.head).__name__ == 'DepthwiseSeparableASPPHead'
    assert type(head.scale_attention).__name__ == (
        'DepthwiseSeparableASPPHead')
    logs, changed = one_step(model)
    assert 'mix.decode.hr.loss_ce' in logs and 'src.loss_imnet_feat_dist' \
        in logs
    assert any(k.startswith('decode_head.scale_attention') for k in changed)


def test_pad_size_of_the_experiment_reaches_an_mmseg_model_base():
    """mmseg's model bases leave the pad size to the experiment
    (``data_preprocessor = dict(size=crop_size)``, injected by the Runner,
    with the ``_scope_`` mmengine adds to ``mmseg::`` configs): the UDA
    model and its segmentor both pad to it. A real difference still fails.
    Rules out: the segmentor training unpadded (mmseg asserts) or a
    spurious mismatch on ``_scope_``."""
    segmentor = shrunk_model(DLV3P)
    del segmentor.data_preprocessor['size']
    given = dict(segmentor.data_preprocessor, size=(CROP, CROP),
                 _scope_='mmseg')
    model = build_dacs(segmentor, init=False, imnet_feature_dist=None,
                       data_preprocessor=given)
    assert model.student.data_preprocessor.size == (CROP, CROP)
    assert model.data_preprocessor.data_preprocessor.size == (CROP, CROP)
    with pytest.raises(ValueError, match=r"\['std'\]"):
        build_dacs(segmentor, init=False, imnet_feature_dist=None,
                   data_preprocessor=dict(given, std=[1.0, 1.0, 1.0]))


def test_declared_uda_preprocessor_and_the_old_style(monkeypatch):
    """The UDA bases declare ``data_preprocessor=dict(type=
    'UDADataPreProcessor')``: each branch goes through the segmentor's own
    preprocessor, silently. A config without the declaration (the Runner
    then injects the top-level plain preprocessor) still builds, with a
    warning naming the declaration. A segmentor without a pad size (an
    ``mmseg::`` model base used as is) fails at build time naming the fix.
    Rules out: the declared wrapper ignored (the top-level pad size used
    instead of the segmentor's), the old style broken or silent, and the
    missing pad size surfacing as mmseg's bare assert at the first step."""
    from mmseg_uda.models.uda import base as base_module
    warnings = []
    monkeypatch.setattr(base_module, 'print_log',
                        lambda msg, **kw: warnings.append(msg))
    segmentor = shrunk_model(DLV3P)
    segmentor.data_preprocessor['size'] = (CROP, CROP)
    model = build_dacs(segmentor, init=False, imnet_feature_dist=None,
                       data_preprocessor=dict(type='UDADataPreProcessor'))
    assert model.data_preprocessor.data_preprocessor.size == (CROP, CROP)
    assert not warnings
    plain = dict(segmentor.data_preprocessor)  # what the Runner injects
    model = build_dacs(segmentor, init=False, imnet_feature_dist=None,
                       data_preprocessor=plain)
    assert model.data_preprocessor.data_preprocessor.size == (CROP, CROP)
    assert len(warnings) == 1 and "type='UDADataPreProcessor'" in warnings[0]
    del segmentor.data_preprocessor['size']
    with pytest.raises(ValueError, match='no pad size.*crop_size'):
        build_dacs(segmentor, init=False, imnet_feature_dist=None,
                   data_preprocessor=dict(type='UDADataPreProcessor'))


def test_which_mmseg_heads_take_pixel_weights():
    """Every per-pixel head class mmseg registers is accepted (the issue's
    list among them) and the ones that compute their loss on other targets
    are refused. Rules out: an allow-list that misses mmseg's heads, or a
    check that lets PointHead/STDCHead/EncHead through."""
    import mmseg.models.decode_heads as heads
    from mmseg.models.decode_heads.decode_head import BaseDecodeHead

    from mmseg_uda.models.losses.pixel_weighted_loss import (
        non_per_pixel_loss_method,
    )
    classes = {n: c for n, c in vars(heads).items() if isinstance(c, type)
               and issubclass(c, BaseDecodeHead) and c is not BaseDecodeHead}
    accepted = {n for n, c in classes.items()
                if non_per_pixel_loss_method(c) is None}
    assert accepted >= {
        'SegformerHead', 'DepthwiseSeparableASPPHead', 'ASPPHead', 'UPerHead',
        'PSPHead', 'FCNHead', 'DAHead', 'ISAHead', 'SETRUPHead',
        'SegmenterMaskTransformerHead', 'OCRHead', 'SETRMLAHead', 'FPNHead',
        'LightHamHead', 'DPTHead', 'PSAHead', 'CCHead'}
    refused = set(classes) - accepted
    assert refused >= {'PointHead', 'STDCHead', 'EncHead', 'DDRHead',
                       'PIDHead'}
    assert non_per_pixel_loss_method(classes['PointHead']) == (
        'PointHead.loss')


def test_pixel_weights_reach_the_loss_through_ddp(tmp_path):
    """Under ``UDADistributedDataParallel`` the student is a DDP child; the
    batch is still published to its wrapped losses (DDP calls the inner
    segmentor, whose hooks fire). One gloo process. Rules out: weights
    silently dropped in distributed training only."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from mmseg_uda.models.wrappers import UDADistributedDataParallel
    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/init',
                            rank=0, world_size=1)
    try:
        model = build_dacs(shrunk_model(DLV3P), imnet_feature_dist=None)
        model.eval()
        inputs, samples = weighted_samples()
        with torch.no_grad():
            feats = model.student.extract_feat(inputs)
            expected = hand_weighted_ce(model.student.decode_head(feats),
                                        samples)
            ddp = UDADistributedDataParallel(module=model, device_ids=None)
            assert isinstance(ddp.module.student, DistributedDataParallel)
            losses = ddp.module.student(inputs, samples, mode='loss')
        torch.testing.assert_close(losses['decode.loss_ce'], expected)
    finally:
        dist.destroy_process_group()


def test_torch_before_2_refuses_mmseg_heads_but_keeps_plugin_heads(
        monkeypatch):
    """The publishing hooks need torch >= 2.0 (forward hooks with keyword
    arguments): older torch gets a clear error for mmseg heads, while models
    with only the plugin's own heads (which apply seg_weight themselves)
    register no hook and still build. Rules out: a TypeError deep in
    torch on 1.13, or the plugin's zoo broken on 1.13."""
    from tests.test_models.tiny_models import tiny_mit_segmentor
    monkeypatch.setattr(torch, '__version__', '1.13.1')
    with pytest.raises(RuntimeError, match=r'torch >= 2\.0.*1\.13\.1'):
        build_dacs(shrunk_model(DLV3P), init=False)
    model = build_dacs(tiny_mit_segmentor(), init=False,
                       imnet_feature_dist=None)
    assert not model.student._forward_pre_hooks


def test_the_issue_example_builds(tmp_path):
    """The config of the bug report (mmseg's full SegFormer config wrapped
    by DACS in three lines) builds: the decode head gets pixel weights
    instead of the former TypeError about SegformerHead."""
    from mmengine.config import Config
    cfg_file = tmp_path / 'issue.py'
    cfg_file.write_text(
        "_base_ = ['mmseg::segformer/segformer_mit-b0_8xb2-160k_ade20k-"
        "512x512.py']\n"
        "custom_imports = dict(imports=['mmseg_uda'], "
        'allow_failed_imports=False)\n'
        "model = dict(_delete_=True, type='DACS', segmentor=_base_.model, "
        'pseudo_threshold=0.968)\n')
    cfg = Config.fromfile(str(cfg_file))
    segmentor = cfg.model.segmentor
    segmentor.backbone.init_cfg = None  # nothing downloaded
    segmentor.decode_head.norm_cfg = dict(type='BN', requires_grad=True)
    model = MODELS.build(cfg.model)
    assert isinstance(model.student.decode_head.loss_decode,
                      PixelWeightedLoss)


def test_wrapped_mmseg_head_equals_the_plugins_native_weighting():
    """mmseg's FCNHead with the loss wrapper and the same head with the
    plugin's ``PixelWeightedLossMixin`` (what DAFormerHead/DeepLabV2Head
    use) give identical weighted losses, OHEM sampler included: the two
    paths have one semantics. The head is biased towards class 1 so that
    OHEM drops its confidently right pixels (at random initialisation every
    pixel is hard and OHEM's weight is all ones, which any combination
    reproduces). Rules out: the wrapper and the mixin combining seg_weight
    and the sampler's weight differently (e.g. one of them dropping the
    sampler's weight)."""
    from tests.test_models.tiny_models import tiny_mit_segmentor
    losses, loss_modules = [], []
    for head in ('FCNHead', 'TinyWeightedFCNHead'):
        segmentor = tiny_mit_segmentor(head=head, crop=(CROP, CROP))
        segmentor.decode_head.sampler = dict(type='OHEMPixelSampler',
                                             thresh=0.6, min_kept=50)
        model = build_dacs(segmentor, imnet_feature_dist=None)
        model.eval()
        student = model.student
        with torch.no_grad():
            student.decode_head.conv_seg.bias.copy_(
                torch.tensor([0.0, 5.0, 0.0, 0.0]))
        inputs, samples = weighted_samples()
        losses.append(student(inputs, samples, mode='loss'))
        loss_modules.append(type(student.decode_head.loss_decode))
        with torch.no_grad():  # OHEM drops some valid pixels
            logits = F.interpolate(
                student.decode_head(student.extract_feat(inputs)),
                size=(CROP, CROP), mode='bilinear', align_corners=False)
            label = torch.stack([s.gt_sem_seg.data for s in samples])
            kept = student.decode_head.sampler.sample(logits, label)
            assert 0.3 < kept[label[:, 0] != 255].mean() < 0.95
    assert loss_modules[0] is PixelWeightedLoss  # wrapped
    assert loss_modules[1] is not PixelWeightedLoss  # native
    torch.testing.assert_close(losses[0]['decode.loss_ce'],
                               losses[1]['decode.loss_ce'])
