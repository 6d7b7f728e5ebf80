"""MIC: block masks, the masked consistency loss, its DACS stage (sync
order, shared/own pseudo-labels, source masking, debug output), HRDA's
multi-resolution path and the zoo configs."""
# ruff: noqa: I001  (mmseg_uda first: it installs the mmcv-lite shim)
import mmseg_uda  # noqa: F401
import glob
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.structures import PixelData
from mmengine.registry import MODEL_WRAPPERS
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from mmseg_uda.models.uda import MaskedImageConsistency, PseudoLabels
from mmseg_uda.models.uda import dacs as dacs_module
from mmseg_uda.models.utils import BlockMaskGenerator, DomainBatch, \
    block_mask
from tests.helpers import record_calls
from tests.test_models.tiny_models import uda_batch
from tests.test_models.tiny_models import MEAN, STD, tiny_dacs, \
    tiny_mit_segmentor
from tests.test_models.tiny_models import mic_cfg

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MEAN_T = torch.tensor(MEAN).view(3, 1, 1)
STD_T = torch.tensor(STD).view(3, 1, 1)


def deterministic_segmentor():
    """The tiny segmentor without dropout / drop-path."""
    seg = tiny_mit_segmentor()
    seg.backbone.drop_path_rate = 0.0
    seg.decode_head.dropout_ratio = 0.0
    return seg


def labelled_samples(label, weight):
    out = []
    for lbl, w in zip(label, weight):
        s = SegDataSample(metainfo=dict(img_shape=tuple(lbl.shape[-2:]),
                                        ori_shape=tuple(lbl.shape[-2:])))
        s.gt_sem_seg = PixelData(data=lbl.long())
        s.seg_weight = PixelData(data=w.float())
        out.append(s)
    return out


# ------------------------------------------------------------ block masks
@pytest.mark.parametrize('size', [(64, 96), (70, 50)])
def test_mask_constant_on_each_block(size):
    g = torch.Generator().manual_seed(0)
    b = 16
    mask = block_mask((3, 3, *size), b, 0.5, generator=g)
    assert mask.shape == (3, 1, *size)
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    h, w = size
    for y in range(0, h, b):
        for x in range(0, w, b):
            block = mask[:, :, y:y + b, x:x + b]
            assert torch.all(block == block[:, :, :1, :1]), (y, x)
    # the blocks differ (not one value for the whole image)
    assert mask.flatten(1).std(1).gt(0).all()


@pytest.mark.parametrize('ratio', [0.3, 0.7])
def test_masked_fraction_over_many_draws(ratio):
    gen = BlockMaskGenerator(mask_ratio=ratio, block_size=4)
    g = torch.Generator().manual_seed(1)
    fractions = [
        1 - gen.generate_mask(torch.zeros(4, 3, 32, 32), g).mean().item()
        for _ in range(100)
    ]  # 100 draws x 4 images x 64 blocks
    assert abs(sum(fractions) / len(fractions) - ratio) < 0.02


def test_masked_pixels_are_zero_in_normalised_space():
    g = torch.Generator().manual_seed(2)
    img = torch.randn(2, 3, 40, 40, generator=g) + 3.0  # never 0
    masked, mask = BlockMaskGenerator(0.7, 8).mask_image(img, g)
    keep = mask.expand_as(img).bool()
    assert torch.all(masked[~keep] == 0)
    assert torch.equal(masked[keep], img[keep])
    assert 0 < (~keep).float().mean() < 1
    # ratio 0 keeps everything, ratio 1 masks everything
    assert torch.equal(BlockMaskGenerator(0.0, 8).mask_image(img)[0], img)
    assert torch.all(BlockMaskGenerator(1.0, 8).mask_image(img)[0] == 0)
    with pytest.raises(ValueError):
        BlockMaskGenerator(1.5, 8)
    with pytest.raises(ValueError):
        BlockMaskGenerator(0.5, 0)


def test_augmentation_before_masking():
    torch.manual_seed(3)
    img = torch.randn(2, 3, 32, 32)
    mic = MODELS.build(mic_cfg(color_jitter_prob=1.0, blur=False))
    torch.manual_seed(4)
    masked, mask = mic.masked_inputs(img, MEAN_T, STD_T)
    assert torch.all(masked * (1 - mask) == 0)
    kept = mask.expand_as(img).bool()
    assert not torch.allclose(masked[kept], img[kept])  # jittered
    plain = MODELS.build(mic_cfg(augment=False))
    masked, mask = plain.masked_inputs(img, MEAN_T, STD_T)
    assert torch.equal(masked, img * mask)


# ------------------------------------------------------------ the loss
def test_loss_equals_hand_computed_weighted_cross_entropy():
    torch.manual_seed(5)
    seg = MODELS.build(deterministic_segmentor())
    seg.init_weights()
    seg.eval()  # BN on running stats: the hand computation sees the same
    img = torch.randn(2, 3, 32, 32)
    label = torch.randint(0, 4, (2, 1, 32, 32))
    label[:, :, :3] = 255
    weight = torch.rand(2, 1, 32, 32)
    mic = MODELS.build(mic_cfg(augment=False, loss_weight=0.5))
    # label 255 rows: the host's pseudo-labels never hold 255, but the
    # loss must ignore it all the same
    losses, extra = mic(seg, DomainBatch(img, labelled_samples(label, weight)),
                        PseudoLabels(label[:, 0], weight[:, 0]),
                        mean=MEAN_T, std=STD_T, record=True)
    masked = extra['masked_image']
    assert torch.equal(masked, img * extra['mic_mask'])
    with torch.no_grad():
        logits = seg.decode_head.forward(seg.extract_feat(masked))
        up = F.interpolate(logits, size=(32, 32), mode='bilinear',
                           align_corners=False)
        ce = F.cross_entropy(up, label[:, 0], reduction='none',
                             ignore_index=255)
        expected = 0.5 * (ce * weight[:, 0]).sum() / ce.numel()
    torch.testing.assert_close(losses['decode.loss_ce'], expected)
    assert 'decode.acc_seg' in losses
    # the debug prediction: a plain forward of the segmentor on the masked
    # images (rules out the prediction of the unmasked images, or of the
    # images before augmentation)
    metas = [s.metainfo for s in labelled_samples(label, weight)]
    with torch.no_grad():
        pred = seg.encode_decode(masked, metas).argmax(1, keepdim=True)
    assert torch.equal(extra['masked_pred'], pred)
    assert not seg.training  # the mode is restored
    assert 'forward' not in vars(seg.decode_head)  # no method replaced


def test_debug_prediction_draws_no_random_numbers():
    """``record=True`` (the visualisation interval) must not change the
    training: the loss and the random stream are those of ``record=False``
    (rules out a debug forward in train mode, whose dropout/drop-path
    draws would shift every later random draw)."""
    seg = MODELS.build(tiny_mit_segmentor())  # with drop-path and dropout
    seg.init_weights()
    seg.train()
    img = torch.randn(2, 3, 32, 32)
    label = torch.randint(0, 4, (2, 32, 32))
    weight = torch.rand(2, 32, 32)
    samples = labelled_samples(label[:, None], weight[:, None])
    mic = MODELS.build(mic_cfg())
    out = {}
    for record in (False, True):
        torch.manual_seed(3)
        losses, extra = mic(seg, DomainBatch(img, samples),
                            PseudoLabels(label, weight), mean=MEAN_T,
                            std=STD_T, record=record)
        out[record] = (losses['decode.loss_ce'].detach(), torch.rand(1))
    assert torch.equal(out[False][0], out[True][0])
    assert torch.equal(out[False][1], out[True][1])
    assert seg.training


def test_mask_ratio_zero_equals_dacs_mixed_loss_on_unmixed_target(
        monkeypatch):
    """With no masking and no augmentation, MIC's loss is DACS's mixed loss
    when nothing is mixed in (the mixed image is the target image)."""
    monkeypatch.setattr(dacs_module, 'classmix_masks',
                        lambda label, per_image=False: torch.zeros_like(
                            label, dtype=torch.float))
    torch.manual_seed(6)
    model = MODELS.build(tiny_dacs(
        segmentor=deterministic_segmentor(), imnet_feature_dist=None,
        pseudo_threshold=0.0, pseudo_weight_ignore_top=5,
        color_jitter_prob=0.0, blur=False,
        mic=mic_cfg(mask_ratio=0.0, augment=False)))
    model.init_weights()
    model.train()
    wrapper = OptimWrapper(torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.01))
    logs = model.train_step(uda_batch(valid_mask=True), wrapper)
    assert logs['mix.decode.loss_ce'] > 0
    torch.testing.assert_close(logs['mic.decode.loss_ce'],
                               logs['mix.decode.loss_ce'])


# ------------------------------------------------------------ DACS stage
def test_train_step_stages_sync_last_and_debug(monkeypatch):
    torch.manual_seed(7)
    model = MODELS.build(tiny_dacs(mic=mic_cfg()))
    model.init_weights()
    model.train()
    model.record_debug = True
    stages = record_calls(monkeypatch, model, '_stage')
    before = {k: v.clone() for k, v in model.student.named_parameters()}
    wrapper = OptimWrapper(torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.1))
    logs = model.train_step(uda_batch(), wrapper)
    # source (+ feature distance, same backward), mixed: no sync; MIC:
    # the one sync
    assert [c['last'] for c in stages] == [False, False, True]
    for key in ('mix.decode.loss_ce', 'mic.decode.loss_ce',
                'mic.decode.acc_seg'):
        assert torch.isfinite(logs[key]), key
    assert any(not torch.equal(p, before[k])
               for k, p in model.student.named_parameters())
    out = model.debug_output
    assert out['masked_image'].shape == (2, 3, 32, 32)
    assert out['masked_pred'].shape == (2, 1, 32, 32)
    assert out['masked_pred'].dtype == torch.long
    masked = out['masked_image'] * (1 - out['mic_mask'])
    assert torch.all(masked == 0)
    assert all(not v.requires_grad for v in out.values())

    # without MIC the mixed stage is the last one again
    plain = MODELS.build(tiny_dacs(imnet_feature_dist=None))
    stages = record_calls(monkeypatch, plain, '_stage')
    plain.train()
    plain.train_step(uda_batch(), wrapper)
    assert [c['last'] for c in stages] == [False, True]


def test_shared_and_own_pseudo_weight_and_source_masking():
    torch.manual_seed(8)
    model = MODELS.build(tiny_dacs(
        imnet_feature_dist=None, pseudo_weight_ignore_top=2,
        mic=mic_cfg(pseudo_threshold=0.5)))
    b, h, w = 2, 8, 8
    logits = torch.zeros(b, 4, h, w)
    logits[:, 1, :, :4] = 10.0  # confident on the left half only
    valid = torch.ones(b, h, w)
    valid[:, :, -1] = 0
    # what DACS's pseudo-label stage hands MIC (ignore_top=2, the mask)
    pseudo = PseudoLabels.from_logits(logits, 0.968, 2, 0, valid)
    label, weight = pseudo.label, pseudo.weight
    src_img, tgt_img = torch.randn(b, 3, h, w), torch.randn(b, 3, h, w)
    src_label = torch.randint(0, 4, (b, 1, h, w))
    batch = uda_batch(n=b, size=h)
    src_s, tgt_s = (batch[k]['data_samples'] for k in ('source', 'target'))
    for sample, lbl in zip(src_s, src_label):
        sample.gt_sem_seg.data = lbl

    def run():
        return model.mic.build_batch(DomainBatch(tgt_img, tgt_s), pseudo,
                                     source=DomainBatch(src_img, src_s))

    img, samples = run()
    own = torch.stack([s.seg_weight.data[0] for s in samples])
    # own threshold 0.5: half the pixels are confident; same ignore regions
    expected = torch.full((b, h, w), 0.5)
    expected[:, :2] = 0
    expected[:, :, -1] = 0
    assert torch.equal(own, expected)
    assert torch.equal(img, tgt_img)
    assert torch.equal(samples[0].gt_sem_seg.data[0], label[0])

    model.mic.pseudo_threshold = None  # shared with DACS
    _, samples = run()
    shared = torch.stack([s.seg_weight.data[0] for s in samples])
    assert torch.equal(shared, weight)

    model.mic.mask_source = True
    img, samples = run()
    assert torch.equal(img, torch.cat([src_img, tgt_img]))
    assert len(samples) == 2 * b
    assert torch.equal(samples[0].gt_sem_seg.data, src_label[0])
    assert torch.all(samples[0].seg_weight.data == 1)
    assert torch.equal(samples[b].seg_weight.data[0], weight[0])


def test_mask_source_train_step():
    torch.manual_seed(9)
    model = MODELS.build(tiny_dacs(
        imnet_feature_dist=None,
        mic=mic_cfg(augment=False, mask_source=True)))
    model.train()
    model.record_debug = True
    wrapper = OptimWrapper(torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.01))
    logs = model.train_step(uda_batch(), wrapper)
    assert logs['mic.decode.loss_ce'] > 0  # source pixels have weight 1
    assert model.debug_output['masked_image'].shape == (2, 3, 32, 32)


def test_config_errors():
    with pytest.raises(ValueError, match='pseudo_threshold'):
        MaskedImageConsistency(pseudo_threshold=2.0)
    with pytest.raises(ValueError, match='loss_weight'):
        MaskedImageConsistency(loss_weight=-1)
    mic = MaskedImageConsistency()
    assert mic.mask_generator.block_size == 64
    assert mic.mask_generator.mask_ratio == 0.7
    assert not list(mic.parameters())  # nothing to wrap in DDP or save


# ------------------------------------------------------------ HRDA
def test_masked_image_takes_the_multi_resolution_path():
    from tests.test_models.tiny_models import tiny_hrda_cfg as tiny_cfg

    seg = tiny_cfg().model
    seg.decode_head.num_classes = 4
    torch.manual_seed(10)
    model = MODELS.build(tiny_dacs(
        segmentor=seg, mic=mic_cfg(block_size=16, augment=False)))
    model.init_weights()
    model.train()
    model.record_debug = True
    calls = []
    model.student.backbone.register_forward_hook(
        lambda m, args, out: calls.append(args[0].detach().clone()))
    wrapper = OptimWrapper(torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.01))
    logs = model.train_step(uda_batch(size=64), wrapper)
    for key in ('mic.decode.loss_ce', 'mic.decode.hr.loss_ce'):
        assert torch.isfinite(logs[key]), key
    # the MIC stage's training forward calls the backbone on the context
    # (masked image downscaled by 2), then on the detail crop (of the
    # masked image); the debug prediction's forward comes after them
    masked = model.debug_output['masked_image']
    lr = F.interpolate(masked, scale_factor=0.5, mode='bilinear',
                       align_corners=False)
    first = next(i for i, c in enumerate(calls)
                 if c.shape == lr.shape and torch.allclose(c, lr))
    context, detail = calls[first], calls[first + 1]
    torch.testing.assert_close(context, lr)
    assert detail.shape == (2, 3, 32, 32)
    found = [
        (y, x) for y in range(0, 33, 8) for x in range(0, 33, 8)
        if torch.equal(masked[:, :, y:y + 32, x:x + 32], detail)
    ]
    assert found
    assert model.debug_output['masked_pred'].shape == (2, 1, 64, 64)


# ------------------------------------------------------------ configs
def test_zoo_configs():
    files = sorted(glob.glob(osp.join(REPO, 'configs', 'mic', '*.py')))
    names = {osp.basename(f) for f in files}
    assert names >= {
        'mic-daformer_mitb5_1xb2-40k_gta2cityscapes-512x512.py',
        'mic-hrda_mitb5_1xb2-40k_gta2cityscapes-1024x1024.py',
        'mic-hrda_mitb5_1xb2-40k_synthia2cityscapes-1024x1024.py',
        'mic-hrda_mitb5_1xb2-40k_cityscapes2acdc-1024x1024.py',
        'mic-hrda_mitb5_1xb2-40k_cityscapes2darkzurich-1024x1024.py',
    }
    for f in files:
        cfg = Config.fromfile(f)
        model, mic = cfg.model, cfg.model.mic
        assert model.type == 'DACS' and mic.type == 'MaskedImageConsistency'
        assert mic.mask_generator.mask_ratio == 0.7
        assert mic.loss_weight == 1 and mic.pseudo_threshold is None
        adverse = 'cityscapes2' in f
        assert mic.augment is not adverse
        assert mic.mask_source is adverse
        assert model.imnet_feature_dist is not None
        if 'hrda' in osp.basename(f):
            assert model.segmentor.type == 'HRDAEncoderDecoder'
            assert mic.mask_generator.block_size == 64
            assert (model.pseudo_weight_ignore_top,
                    model.pseudo_weight_ignore_bottom) == (0, 0)
            assert cfg.train_dataloader.dataset.rare_class_sampling[
                'min_crop_ratio'] == 2.0
            target = cfg.train_dataloader.dataset.target.pipeline
            has_mask = any(t.type == 'GenerateValidPseudoMask'
                           for t in target)
            assert has_mask is not adverse
        elif 'synthetic' in f:  # the CPU quick-start at 128 px crops
            assert mic.mask_generator.block_size == 8
        else:
            assert model.segmentor.type == 'EncoderDecoder'
            assert mic.mask_generator.block_size == 32
            assert (model.pseudo_weight_ignore_top,
                    model.pseudo_weight_ignore_bottom) == (15, 120)
        assert cfg.custom_hooks[0].type == 'EMATeacherHook'
        assert cfg.custom_hooks[0].alpha == 0.999
        assert MODEL_WRAPPERS.get(cfg.model_wrapper_cfg.type) is not None
        # MIC(X) is X plus the MIC loss: everything else is X's config
        base = Config.fromfile(_base_experiment(f))
        mine, theirs = cfg.to_dict(), base.to_dict()
        mine['model'].pop('mic'), mine.pop('mic')
        mine.pop('model_wrapper_cfg'), theirs.pop('model_wrapper_cfg')
        assert mine == theirs, f


def _base_experiment(path):
    name = osp.basename(path).replace('mic-', '')
    folder = 'daformer' if name.startswith('daformer') else 'hrda'
    if name.startswith('dacs'):  # DACS on an mmseg model (configs/dacs)
        folder = 'dacs'
    if 'synthetic' in name:
        folder = 'quickstart'
    return osp.join(REPO, 'configs', folder, name)
