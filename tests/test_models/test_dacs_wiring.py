"""The wiring of one DACS (and MIC) training step, checked number by number.

Every test runs ``DACS.train_step`` on the tiny segmentor with stand-ins at
stable seams, so that a plausible wrong wiring changes a recorded number:

* the teacher's ``encode_decode`` returns fixed logits (chosen confidence)
  and records the images it is given;
* the strong augmentation (``model.strong_aug``) is replaced by a recording
  stand-in with a distinctive, invertible result (``3 - img``);
* ``classmix_masks`` of the DACS module returns a fixed mask;
* a forward pre-hook on the student records, per student call (source,
  mixed, MIC), the images, labels and per-pixel weights it is trained on.

Each test's docstring names the wrong implementation it rules out (see
``tests/README.md``).
"""
from typing import List, NamedTuple, Optional

import pytest
import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from mmseg.registry import MODELS

import mmseg_uda  # noqa: F401
from mmseg_uda.models.uda import dacs as dacs_module
from tests.test_models.tiny_models import tiny_dacs, uda_batch

B, C, S = 2, 4, 32  # batch, classes, crop side (the tiny preprocessor's)


class StudentCall(NamedTuple):
    """One ``student(inputs, data_samples, mode='loss')`` call."""
    inputs: torch.Tensor  # (B, 3, S, S)
    labels: torch.Tensor  # (B, 1, S, S) gt_sem_seg
    weights: Optional[torch.Tensor]  # (B, 1, S, S) seg_weight or None


class RecordingAugmentation(nn.Module):
    """Stand-in for DACS's strong augmentation: records its input and
    returns ``3 - img`` (never equal to its input on normalised images)."""

    def __init__(self):
        super().__init__()
        self.inputs: List[torch.Tensor] = []

    def forward(self, img, mean, std):
        self.inputs.append(img.detach().clone())
        return 3.0 - img


class Step(NamedTuple):
    model: nn.Module
    src_img: torch.Tensor  # preprocessed source images
    tgt_img: torch.Tensor  # preprocessed target images
    src_label: torch.Tensor  # (B, 1, S, S)
    teacher_inputs: List[torch.Tensor]
    aug: RecordingAugmentation
    calls: List[StudentCall]
    logs: dict


def teacher_logits(confident_image: int = 0) -> torch.Tensor:
    """``(B, C, S, S)`` logits: image ``confident_image`` confident
    everywhere (class 1, max prob ~0.9998), every other image unconfident
    (uniform, 0.25) except pixel (5, 7) of the last image whose max
    probability is exactly 0.5 (two equal logits, the others negligible)."""
    logits = torch.zeros(B, C, S, S)
    logits[confident_image, 1] = 10.0
    logits[-1, :, 5, 7] = torch.tensor([5.0, 5.0, -100.0, -100.0])
    return logits


def run_step(monkeypatch,
             logits: torch.Tensor,
             mask: Optional[torch.Tensor] = None,
             record_debug: bool = False,
             valid_mask: bool = False,
             source_class: Optional[int] = None,
             **dacs_kwargs) -> Step:
    """One ``train_step`` with the stand-ins; ``mask`` (``(B, 1, S, S)``)
    fixes ClassMix's mask; ``valid_mask`` gives the target samples a
    ``valid_pseudo_mask`` that is 0 on the first 4 columns;
    ``source_class`` labels every source pixel with that class."""
    torch.manual_seed(0)
    dacs_kwargs.setdefault('imnet_feature_dist', None)
    model = MODELS.build(tiny_dacs(**dacs_kwargs))
    model.init_weights()
    model.train()
    model.record_debug = record_debug

    teacher_inputs = []

    def fake_encode_decode(inputs, batch_img_metas):
        teacher_inputs.append(inputs.detach().clone())
        return logits.clone()

    monkeypatch.setattr(model.teacher, 'encode_decode', fake_encode_decode)
    aug = RecordingAugmentation()
    model.strong_aug = aug
    if mask is not None:
        monkeypatch.setattr(
            dacs_module, 'classmix_masks',
            lambda labels, per_image=False, **kw: mask.clone())

    calls: List[StudentCall] = []

    def record(module, args, kwargs):
        inputs = args[0] if args else kwargs['inputs']
        samples = args[1] if len(args) > 1 else kwargs['data_samples']
        labels = torch.stack([s.gt_sem_seg.data for s in samples])
        weights = (torch.stack([s.seg_weight.data for s in samples])
                   if 'seg_weight' in samples[0] else None)
        calls.append(StudentCall(inputs.detach().clone(), labels.clone(),
                                 weights))

    model.student.register_forward_pre_hook(record, with_kwargs=True)

    batch = uda_batch(n=B, size=S, valid_mask=valid_mask)
    if source_class is not None:
        for sample in batch['source']['data_samples']:
            sample.gt_sem_seg.data.fill_(source_class)
    data = model.data_preprocessor(batch, True)
    src_label = torch.stack(
        [s.gt_sem_seg.data for s in data['source']['data_samples']])
    wrapper = OptimWrapper(torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.01))
    logs = model.train_step(batch, wrapper)
    return Step(model, data['source']['inputs'], data['target']['inputs'],
                src_label, teacher_inputs, aug, calls, logs)


def zeros_mask():
    return torch.zeros(B, 1, S, S)


# ------------------------------------------------------- pseudo-label weight
def test_pseudo_weight_is_the_batch_share_counting_the_threshold_pixel(
        monkeypatch):
    """Pseudo-label weight = share of pixels of the WHOLE batch whose max
    probability is ``>= threshold`` (DAFormer's ``dacs.py``: ``ge``).

    Image 0 is fully confident, image 1 has one pixel exactly at the
    threshold 0.5: the batch share is (S*S + 1) / (2*S*S). Rules out the
    per-image share (1.0 and 1/(S*S)), a strict ``>`` (0.5 exactly), and a
    weight taken from the mean probability instead of the count.
    """
    step = run_step(monkeypatch, teacher_logits(), mask=zeros_mask(),
                    pseudo_threshold=0.5)
    src, mixed = step.calls
    expected = torch.full((B, 1, S, S), (S * S + 1) / (B * S * S))
    torch.testing.assert_close(mixed.weights, expected, rtol=0, atol=1e-7)
    torch.testing.assert_close(step.logs['pseudo_weight'],
                               torch.tensor((S * S + 1) / (B * S * S)))
    # and the hard labels are the teacher's argmax (class 1 on image 0)
    assert torch.all(mixed.labels[0] == 1)


def test_pseudo_weight_does_not_depend_on_which_image_is_confident(
        monkeypatch):
    """Same share when the confident image is the last one: rules out a
    weight taken from one image of the batch (e.g. ``[0]`` or ``[-1]``)."""
    step = run_step(monkeypatch, teacher_logits(confident_image=1),
                    mask=zeros_mask(), pseudo_threshold=0.5)
    # image 1 confident, its (5, 7) pixel at the threshold: S*S pixels
    expected = (S * S) / (B * S * S)
    torch.testing.assert_close(step.calls[1].weights,
                               torch.full((B, 1, S, S), expected))


# ------------------------------------------------------------ ignore regions
@pytest.mark.parametrize('mic', [False, True])
def test_ignore_rows_top_and_bottom(monkeypatch, mic):
    """With threshold 0 every pixel is confident (weight 1), so the top and
    bottom ignore rows (3 and 5 of them) are the only zeros of the
    pseudo-label weight, in the mixed stage and in MIC's stage with its own
    threshold. Rules out top/bottom swapped, an off-by-one row count, and
    the ignore rows left out of MIC's re-weighting."""
    kwargs = {}
    if mic:
        kwargs['mic'] = dict(
            type='MaskedImageConsistency', augment=False,
            pseudo_threshold=0.0,
            mask_generator=dict(type='BlockMaskGenerator', mask_ratio=0.5,
                                block_size=8))
    step = run_step(monkeypatch, teacher_logits(), mask=zeros_mask(),
                    pseudo_threshold=0.0, pseudo_weight_ignore_top=3,
                    pseudo_weight_ignore_bottom=5, **kwargs)
    expected = torch.ones(B, 1, S, S)
    expected[:, :, :3] = 0
    expected[:, :, S - 5:] = 0
    assert len(step.calls) == (3 if mic else 2)
    for call in step.calls[1:]:
        assert torch.equal(call.weights, expected)


def test_valid_pseudo_mask_zeros_the_weight(monkeypatch):
    """The target samples' ``valid_pseudo_mask`` (0 on the first 4 columns)
    zeroes the pseudo-label weight there; with threshold 0 it is 1
    elsewhere. Rules out the mask not passed on by ``train_step``."""
    step = run_step(monkeypatch, teacher_logits(), mask=zeros_mask(),
                    valid_mask=True, pseudo_threshold=0.0)
    expected = torch.ones(B, 1, S, S)
    expected[:, :, :, :4] = 0
    assert torch.equal(step.calls[1].weights, expected)


# ---------------------------------------------------------- feature distance
def test_feature_distance_gradient_reaches_the_backbone_only(monkeypatch):
    """Two identical steps, the ImageNet feature distance weighted 10 in one
    and 0 in the other: the student's backbone ends up different, its
    decode head identical (the distance is on backbone features). Rules out
    the distance only logged and never back-propagated, and the distance
    computed on labels without the source's 'thing' class 2 (zero)."""
    students = []
    for weight in (10.0, 0.0):
        step = run_step(
            monkeypatch, teacher_logits(), mask=zeros_mask(),
            source_class=2,
            imnet_feature_dist=dict(type='FeatureDistanceLoss',
                                    classes=[2, 3], num_classes=4,
                                    loss_weight=weight))
        assert step.logs['src.loss_imnet_feat_dist'] > 0 or weight == 0
        students.append(dict(step.model.student.named_parameters()))
    weighted, unweighted = students
    backbone = [k for k in weighted if k.startswith('backbone.')]
    head = [k for k in weighted if k.startswith('decode_head.')]
    assert any(not torch.allclose(weighted[k], unweighted[k])
               for k in backbone)
    assert all(torch.equal(weighted[k], unweighted[k]) for k in head)


# --------------------------------------------- augmentation and teacher input
def test_mixed_images_get_the_strong_augmentation(monkeypatch):
    """The student's mixed-stage images are the strong augmentation's
    result of the mixed images, and the augmentation runs once, on them.
    Rules out dropping the augmentation's result (training on the
    unaugmented mix), augmenting the target before mixing, and augmenting
    the source-stage images."""
    mask = torch.zeros(B, 1, S, S)
    mask[:, :, :, :S // 2] = 1
    step = run_step(monkeypatch, teacher_logits(), mask=mask)
    src_call, mixed_call = step.calls
    mixed = mask * step.src_img + (1 - mask) * step.tgt_img
    assert len(step.aug.inputs) == 1
    torch.testing.assert_close(step.aug.inputs[0], mixed)
    torch.testing.assert_close(mixed_call.inputs, 3.0 - mixed)
    assert torch.equal(src_call.inputs, step.src_img)


def test_teacher_labels_the_clean_target(monkeypatch):
    """The teacher sees the preprocessed target images, unaugmented and
    unmixed, exactly once per step. Rules out feeding the teacher the
    augmented target (the stand-in's ``3 - img``), the mixed images or the
    source images."""
    step = run_step(monkeypatch, teacher_logits(), mask=zeros_mask())
    assert len(step.teacher_inputs) == 1
    assert torch.equal(step.teacher_inputs[0], step.tgt_img)


# ------------------------------------------------------------------ ClassMix
def test_classmix_source_where_mask_is_one_pixel_by_pixel(monkeypatch):
    """A fixed, irregular ClassMix mask, checked pixel by pixel: where the
    mask is 1 the mixed image, label and weight come from the source (label
    = source label, weight 1), where it is 0 from the target (teacher's
    pseudo-label and weight). Rules out the direction inverted on images,
    on labels or on weights alone, and a mask shared across the batch."""
    g = torch.Generator().manual_seed(3)
    mask = (torch.rand(B, 1, S, S, generator=g) > 0.5).float()
    logits = torch.zeros(B, C, S, S)
    logits[:, 3] = 10.0  # pseudo-label 3 everywhere, all confident
    logits[0, 3, :4] = 1.0  # ...but image 0's top rows: p = 0.475 < 0.9
    step = run_step(monkeypatch, logits, mask=mask, pseudo_threshold=0.9)
    _, mixed_call = step.calls
    share = 1.0 - (4 * S) / (B * S * S)
    m = mask.bool()
    images = 3.0 - mixed_call.inputs  # undo the stand-in augmentation
    torch.testing.assert_close(images[m.expand_as(images)],
                               step.src_img[m.expand_as(images)])
    torch.testing.assert_close(images[~m.expand_as(images)],
                               step.tgt_img[~m.expand_as(images)])
    assert torch.equal(mixed_call.labels[m], step.src_label[m])
    assert torch.all(mixed_call.labels[~m] == 3)
    assert torch.all(mixed_call.weights[m] == 1)
    torch.testing.assert_close(mixed_call.weights[~m],
                               torch.full_like(mixed_call.weights[~m], share))


# ----------------------------------------------------------------------- MIC
def test_mic_masks_the_target_not_the_mixed_images(monkeypatch):
    """With an all-ones ClassMix mask (the mixed image is the source) and
    MIC's augmentation off, MIC's student input must equal the target
    images times MIC's mask, its labels the teacher's pseudo-labels and its
    weights the pseudo-label weights. Rules out masking the mixed images
    (which here are the source), the augmented mix, or training MIC on the
    mixed labels."""
    mask = torch.ones(B, 1, S, S)
    step = run_step(
        monkeypatch, teacher_logits(), mask=mask, record_debug=True,
        pseudo_threshold=0.5,
        mic=dict(type='MaskedImageConsistency', augment=False,
                 mask_generator=dict(type='BlockMaskGenerator',
                                     mask_ratio=0.5, block_size=8)))
    _, mixed_call, mic_call = step.calls
    keep = step.model.debug_output['mic_mask']
    assert 0 < keep.mean() < 1  # some blocks masked, some kept
    torch.testing.assert_close(mic_call.inputs, step.tgt_img * keep)
    assert torch.equal(mixed_call.labels, step.src_label)  # all source
    pseudo = teacher_logits().argmax(1, keepdim=True)
    assert torch.equal(mic_call.labels[0], pseudo[0])
    torch.testing.assert_close(
        mic_call.weights, torch.full((B, 1, S, S),
                                     (S * S + 1) / (B * S * S)))
