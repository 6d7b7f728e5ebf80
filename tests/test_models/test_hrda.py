"""HRDA: crop boxes, LR/HR alignment, fusion formula, losses with seg_weight,
first backbone call, sliding-window inference, config and key layout."""
# ruff: noqa: I001  (mmseg_uda first: it installs the mmcv-lite shim)
import mmseg_uda  # noqa: F401
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from mmseg_uda.models.decode_heads import HRDAHead, crop_data_samples
from mmseg_uda.models.segmentors import (HRDAEncoderDecoder, get_crop_box,
                                         slide_boxes)
from tests.test_models.tiny_models import BN, IN_CHANNELS
from tests.test_models.tiny_models import tiny_hrda_cfg as tiny_cfg
from tests.helpers import seg_samples



def tiny_model(**model_overrides):
    init_default_scope('mmseg')
    torch.manual_seed(0)
    return MODELS.build(tiny_cfg(**model_overrides).model)


class Const(nn.Module):
    """Stub head returning a fixed tensor."""

    def __init__(self, value):
        super().__init__()
        self.value = value

    def forward(self, feats):
        return self.value


class PoolBackbone(nn.Module):
    """Identity-like encoder: the image average-pooled to strides 4..32."""

    def forward(self, x):
        return [F.avg_pool2d(x, s) for s in (4, 8, 16, 32)]


class Level0(nn.Module):
    """Identity-like head: the stride-4 features are the logits."""

    def forward(self, feats):
        return feats[0]


def up2(x):
    """Hand-written 2x bilinear upsampling (align_corners=False)."""
    x = np.asarray(x, dtype=np.float64)

    def axis_weights(n):
        w = np.zeros((2 * n, n))
        for o in range(2 * n):
            src = min(max((o + 0.5) / 2 - 0.5, 0), n - 1)
            i0 = int(math.floor(src))
            i1 = min(i0 + 1, n - 1)
            w[o, i0] += 1 - (src - i0)
            w[o, i1] += src - i0
        return w

    wh, ww = axis_weights(x.shape[-2]), axis_weights(x.shape[-1])
    return np.einsum('oh,bchw,pw->bcop', wh, x, ww)


# ---------------------------------------------------------------- crop boxes
def test_crop_boxes_divisible_and_inside():
    rng = np.random.RandomState(0)
    for _ in range(300):
        h, w = rng.randint(8, 300, size=2)
        crop = tuple(rng.randint(4, 200, size=2))
        d = int(rng.choice([1, 2, 4, 8, 16]))
        y1, y2, x1, x2 = get_crop_box(h, w, crop, d, rng=rng)
        assert 0 <= y1 < y2 <= h and 0 <= x1 < x2 <= w
        assert y1 % d == 0 and x1 % d == 0
        assert (y2 - y1, x2 - x1) == (min(crop[0], h), min(crop[1], w))
    # every aligned position is reachable, the last one included
    seen = {get_crop_box(1024, 1024, (512, 512), 8, rng=rng)[0]
            for _ in range(3000)}
    assert seen == set(range(0, 513, 8))


def test_crop_box_drawn_per_call_without_module_state():
    model = tiny_model()
    before = set(vars(model)) | set(vars(model.decode_head))
    np.random.seed(0)
    boxes = {model.sample_crop_box(64, 64) for _ in range(20)}
    assert len(boxes) > 1
    for y1, y2, x1, _ in boxes:
        assert y1 % 8 == 0 and x1 % 8 == 0 and y2 - y1 == 32
    x = torch.randn(1, 3, 64, 64)
    model.loss(x, seg_samples(torch.randint(0, 5, (1, 64, 64))))
    after = set(vars(model)) | set(vars(model.decode_head))
    assert before == after


# ---------------------------------------------------------------- alignment
def test_lr_hr_alignment_identity_like_model():
    model = tiny_model()
    model.backbone = PoolBackbone()
    model.decode_head.head = Level0()
    # attention logits 0 -> 0.5 inside the crop
    model.decode_head.scale_attention = Const(torch.zeros(1, 1, 8, 8))
    torch.manual_seed(1)
    blocks = torch.rand(1, 3, 8, 8)  # constant per 8x8 block of a 64x64
    img = blocks.repeat_interleave(8, 2).repeat_interleave(8, 3)
    box = (8, 40, 16, 48)
    (fused, lr_seg, hr_seg), used = model.forward_train_logits(img, box)
    assert used == box
    assert hr_seg.shape == (1, 3, 8, 8) and lr_seg.shape == (1, 3, 8, 8)
    lr_logits = lr_seg / 0.5  # (1 - 0.5) inside the crop region
    # LR logit (i, j) covers HR logits (2i..2i+1, 2j..2j+1)
    lr_up = lr_logits.repeat_interleave(2, 2).repeat_interleave(2, 3)
    y1, _, x1, _ = box
    torch.testing.assert_close(
        lr_up[:, :, y1 // 4:y1 // 4 + 8, x1 // 4:x1 // 4 + 8], hr_seg)
    # a box not divisible by 8 would misalign the two predictions
    with pytest.raises(ValueError, match='not aligned'):
        model.forward_train_logits(img, (4, 36, 16, 48))


# ---------------------------------------------------------------- fusion
@pytest.mark.parametrize('with_crop', [True, False])
def test_fused_output_matches_hand_formula(with_crop):
    torch.manual_seed(0)
    head = HRDAHead(
        in_channels=IN_CHANNELS,
        in_index=[0, 1, 2, 3],
        channels=8,
        num_classes=3,
        norm_cfg=BN,
        decoder_params=dict(embed_dims=8),
        scales=[1, 0.5],
        attention_embed_dim=8)
    lr = torch.randn(2, 3, 4, 4)
    att_logits = torch.randn(2, 3, 4, 4)
    head.head = Const(lr)
    head.scale_attention = Const(att_logits)
    if with_crop:
        box = (8, 24, 16, 32)  # HR image 32x32, logits at stride 4
        hr = torch.randn(2, 3, 4, 4)
    else:
        box = None
        hr = torch.randn(2, 3, 8, 8)
    fused, lr_out, hr_out = head.fuse(None, hr, box)

    att = 1 / (1 + np.exp(-att_logits.double().numpy()))
    hr_ins = hr.double().numpy()
    if with_crop:
        mask = np.zeros((2, 1, 4, 4))
        mask[:, :, 1:3, 2:4] = 1  # box / 8 on the context logits
        att = att * mask
        hr_ins = np.zeros((2, 3, 8, 8))
        hr_ins[:, :, 2:6, 4:8] = hr.double().numpy()  # box / 4
    lr_expected = (1 - att) * lr.double().numpy()
    expected = up2(att) * hr_ins + up2(lr_expected)
    np.testing.assert_allclose(lr_out.numpy(), lr_expected, atol=1e-6)
    np.testing.assert_allclose(fused.numpy(), expected, atol=1e-5)
    assert hr_out is hr


# ---------------------------------------------------------------- losses
def test_losses_weighting_and_seg_weight():
    torch.manual_seed(0)
    model = tiny_model()
    head = model.decode_head
    fused = torch.randn(2, 5, 16, 16)
    hr = torch.randn(2, 5, 8, 8)
    labels = torch.randint(0, 5, (2, 64, 64))
    labels[1, :5] = 255
    weights = torch.rand(2, 64, 64)
    box = (16, 48, 8, 40)
    losses = head.loss_by_outputs((fused, None, hr),
                                  seg_samples(labels, weights), box)

    def wce(logits, lab, w):
        logits = F.interpolate(logits, lab.shape[1:], mode='bilinear',
                               align_corners=False)
        ce = F.cross_entropy(logits, lab, ignore_index=255,
                             reduction='none')
        return (ce * w).sum() / lab.numel()

    y1, y2, x1, x2 = box
    torch.testing.assert_close(losses['loss_ce'],
                               0.9 * wce(fused, labels, weights))
    torch.testing.assert_close(
        losses['hr.loss_ce'],
        0.1 * wce(hr, labels[:, y1:y2, x1:x2], weights[:, y1:y2, x1:x2]))
    assert 'acc_seg' in losses and 'hr.acc_seg' in losses

    # through the segmentor: weights only outside the crop -> detail loss 0
    x = torch.randn(2, 3, 64, 64)
    outside = torch.ones(2, 64, 64)
    outside[:, y1:y2, x1:x2] = 0
    out = model.loss(x, seg_samples(labels, outside), crop_box=box)
    assert set(out) == {'decode.loss_ce', 'decode.acc_seg',
                        'decode.hr.loss_ce', 'decode.hr.acc_seg'}
    assert out['decode.hr.loss_ce'].item() == 0
    assert out['decode.loss_ce'].item() > 0
    zero = model.loss(x, seg_samples(labels, torch.zeros(2, 64, 64)))
    assert zero['decode.loss_ce'].item() == 0
    assert zero['decode.hr.loss_ce'].item() == 0
    (out['decode.loss_ce'] + out['decode.hr.loss_ce']).backward()
    assert model.decode_head.scale_attention.conv_seg.weight.grad is not None


def test_crop_data_samples_crops_pixel_fields():
    labels = torch.arange(2 * 8 * 8).reshape(2, 8, 8)
    valid = torch.ones(2, 8, 8, dtype=torch.uint8)
    ss = seg_samples(labels, labels.float(), valid_pseudo_mask=valid)
    ss[0].set_metainfo(dict(img_path='a.png'))
    out = crop_data_samples(ss, (2, 6, 4, 8))
    for s, c in zip(ss, out):
        assert torch.equal(c.gt_sem_seg.data, s.gt_sem_seg.data[:, 2:6, 4:8])
        assert torch.equal(c.seg_weight.data, s.seg_weight.data[:, 2:6, 4:8])
        assert c.valid_pseudo_mask.shape == (4, 4)
        assert c.img_shape == (4, 4)
        assert s.gt_sem_seg.shape == (8, 8)  # originals untouched
    assert out[0].img_path == 'a.png'


# ---------------------------------------------------------------- backbone
def test_first_backbone_call_is_context_pass():
    model = tiny_model()
    calls = []
    model.backbone.register_forward_hook(
        lambda m, args, out: calls.append(args[0].shape))
    x = torch.randn(2, 3, 64, 64)
    model.loss(x, seg_samples(torch.randint(0, 5, (2, 64, 64))))
    assert calls == [(2, 3, 32, 32), (2, 3, 32, 32)]  # context, detail
    first = []
    handle = model.backbone.register_forward_hook(
        lambda m, args, out: first.append(args[0]) if not first else None)
    model.eval()
    with torch.no_grad():
        model.encode_decode(x, [])
    handle.remove()
    expected = F.interpolate(x, scale_factor=0.5, mode='bilinear',
                             align_corners=False)
    torch.testing.assert_close(first[0], expected)


# ---------------------------------------------------------------- inference
def test_slide_one_window_equals_whole_image():
    model = tiny_model().eval()
    x = torch.randn(2, 3, 64, 64)
    metas = [dict(img_shape=(64, 64), ori_shape=(64, 64))] * 2
    with torch.no_grad():
        whole = model.encode_decode(x, metas)
        assert whole.shape == (2, 5, 64, 64)
        model.test_cfg.update(crop_size=(64, 64), stride=(32, 32))
        slide = model.slide_inference(x, metas)
        model.test_cfg.update(crop_size=(96, 96))  # window > image
        larger = model.slide_inference(x, metas)
    torch.testing.assert_close(slide, whole)
    torch.testing.assert_close(larger, whole)


def test_slide_windows_batched_equal_unbatched_and_averaged():
    model = tiny_model().eval()
    x = torch.randn(1, 3, 64, 128)
    metas = [dict(img_shape=(64, 128), ori_shape=(64, 128))]
    boxes = slide_boxes(64, 128, (64, 64), (32, 32))
    assert boxes == [(0, 64, 0, 64), (0, 64, 32, 96), (0, 64, 64, 128)]
    results = []
    with torch.no_grad():
        manual = torch.zeros(1, 5, 64, 128)
        count = torch.zeros(1, 1, 64, 128)
        for y1, y2, x1, x2 in boxes:
            manual[..., y1:y2, x1:x2] += model.encode_decode(
                x[..., y1:y2, x1:x2], metas)
            count[..., y1:y2, x1:x2] += 1
        for batched, bs in [(False, None), (True, 1), (True, 2),
                            (True, None)]:
            model.test_cfg.update(batched_slide=batched, batch_size=bs)
            results.append(model.slide_inference(x, metas))
        model.test_cfg.update(batched_slide=True, batch_size=2)
        pred = model.predict(x, [SegDataSample(metainfo=metas[0])])
    for r in results:
        torch.testing.assert_close(r, manual / count, atol=1e-5, rtol=1e-5)
    assert pred[0].pred_sem_seg.shape == (64, 128)


def test_hr_slide_covers_sides_not_multiple_of_the_stride():
    """A 64x213 detail image (213 = 53.25 output-stride cells): the last
    window ends at the grid's last column. Rounding its start instead left
    that column without a window: NaN logits (0/0), e.g. under --tta at
    scales that give such sizes."""
    model = tiny_model().eval()
    model.test_cfg.update(crop_size=(64, 64), stride=(32, 32))
    with torch.no_grad():
        hr = model.hr_slide_logits(torch.randn(1, 3, 64, 213))
        fused = model.encode_decode(torch.randn(1, 3, 64, 213), [])
    assert hr.shape[-1] == 54
    assert torch.isfinite(hr).all() and torch.isfinite(fused).all()


def test_slide_window_batch_memory_budget():
    # Rules out: a budget that is ignored (all windows of a large image in
    # one forward) or that rounds down to 0 windows.
    model = tiny_model().eval()
    model.test_cfg.update(batched_slide=True, batch_size=None,
                          max_batch_pixels=2 * 64 * 64)
    assert model.slide_window_batch(num_windows=5, num_images=1) == 2
    assert model.slide_window_batch(num_windows=5, num_images=2) == 1
    assert model.slide_window_batch(num_windows=5, num_images=4) == 1
    model.test_cfg.update(max_batch_pixels=None, batch_size=3)
    assert model.slide_window_batch(num_windows=5, num_images=1) == 3
    model.test_cfg.update(batched_slide=False)
    assert model.slide_window_batch(num_windows=5, num_images=1) == 1
    # the budgeted batches give the same logits as one window at a time
    x = torch.randn(1, 3, 64, 128)
    metas = [dict(img_shape=(64, 128), ori_shape=(64, 128))]
    with torch.no_grad():
        one = model.slide_inference(x, metas)
        model.test_cfg.update(batched_slide=True, batch_size=None,
                              max_batch_pixels=2 * 64 * 64)
        two = model.slide_inference(x, metas)
    torch.testing.assert_close(two, one, atol=1e-5, rtol=1e-5)


def test_hr_sliding_windows_in_encode_decode():
    model = tiny_model().eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        hr = model.hr_slide_logits(x)  # 3x3 windows of 32, stride 16
        model.hr_slide_batch_size = 2
        torch.testing.assert_close(model.hr_slide_logits(x), hr)
        # manual average of the 9 window predictions at stride 4
        acc = torch.zeros(1, 5, 16, 16)
        cnt = torch.zeros(1, 1, 16, 16)
        for y1, y2, x1, x2 in slide_boxes(64, 64, (32, 32), (16, 16)):
            crop = x[..., y1:y2, x1:x2]
            acc[..., y1 // 4:y2 // 4, x1 // 4:x2 // 4] += \
                model.decode_head.head(model.extract_feat(crop))
            cnt[..., y1 // 4:y2 // 4, x1 // 4:x2 // 4] += 1
        torch.testing.assert_close(hr, acc / cnt)
        # one detail window covering the image = a plain HR pass
        model.hr_crop_size = (64, 64)
        torch.testing.assert_close(
            model.hr_slide_logits(x),
            model.decode_head.head(model.extract_feat(x)))
        fused = model.encode_decode(x, [])
        model.hr_slide_inference = False
        torch.testing.assert_close(model.encode_decode(x, []), fused)


# ---------------------------------------------------------------- config
def test_config_and_reference_key_layout():
    full = Config.fromfile(
        'configs/_base_/models/hrda_daformer_sepaspp_mitb5.py').model
    assert full.type == 'HRDAEncoderDecoder'
    assert full.scales == [1, 0.5] and full.hr_crop_size == (512, 512)
    assert full.crop_coord_divisible == 8 and full.feature_scale == 0.5
    assert full.decode_head.hr_loss_weight == 0.1
    assert full.data_preprocessor.size == (1024, 1024)
    assert full.test_cfg.mode == 'slide' and full.test_cfg.batched_slide
    assert full.test_cfg.crop_size == (1024, 1024)
    assert full.test_cfg.stride == (512, 512)

    head_cfg = dict(full.decode_head)
    head_cfg.update(norm_cfg=BN, scales=[1, 0.5])
    head_cfg['decoder_params']['fusion_cfg']['norm_cfg'] = BN
    head = MODELS.build(head_cfg)
    sd = head.state_dict()
    # reference_checkpoints.md section 2.3
    assert len(sd) == 74
    assert sum(p.numel() for p in head.parameters()) == 4242982
    assert sum(b.numel() for b in head.buffers()) == 9225
    assert all(k.startswith(('head.', 'scale_attention.')) for k in sd)
    assert sd['scale_attention.fuse_layer.conv.weight'].shape == (256, 1024,
                                                                  1, 1)
    assert sd['scale_attention.conv_seg.weight'].shape == (19, 256, 1, 1)
    assert 'head.fuse_layer.aspp_modules.3.pointwise_conv.conv.weight' in sd

    model = tiny_model()
    assert isinstance(model, HRDAEncoderDecoder)
    assert model.scales == [0.5, 1]
    with pytest.raises(ValueError):
        tiny_model(feature_scale=1)
    single = tiny_model(decode_head=dict(attention_classwise=False))
    assert single.decode_head.scale_attention.conv_seg.out_channels == 1
    x = torch.randn(1, 3, 64, 64)
    out = single.loss(x, seg_samples(torch.randint(0, 5, (1, 64, 64))))
    assert torch.isfinite(out['decode.loss_ce'])


# ---------------------------------------------------------------- with DACS
def test_dacs_train_step_with_hrda_segmentor():
    from mmengine.optim import OptimWrapper

    from tests.test_models.tiny_models import uda_batch
    from tests.test_models.tiny_models import tiny_dacs

    init_default_scope('mmseg')
    seg = tiny_cfg().model
    seg.decode_head.num_classes = 4
    torch.manual_seed(0)
    model = MODELS.build(tiny_dacs(segmentor=seg))
    model.init_weights()
    model.train()
    seen = []
    model.student.backbone.register_forward_hook(
        lambda m, args, out: seen.append(args[0].shape))
    wrapper = OptimWrapper(torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.01))
    logs = model.train_step(uda_batch(size=64), wrapper)
    for key in ('src.decode.loss_ce', 'src.decode.hr.loss_ce',
                'src.loss_imnet_feat_dist', 'mix.decode.loss_ce',
                'mix.decode.hr.loss_ce', 'pseudo_weight'):
        assert key in logs, logs.keys()
        assert torch.isfinite(logs[key])
    assert seen[0] == (2, 3, 32, 32)  # the source pass starts with context
