"""The DACS, MIC and HRDA training steps contain no op that makes the host
wait for a GPU (``.item()``/``bool()`` -> ``_local_scalar_dense``,
boolean indexing -> ``nonzero``, ``unique``, ``repeat_interleave`` without
an output size, ...), counted with torch.profiler on CPU; the same ops are
device syncs on CUDA. ``benchmarks/step_ops.py`` gives the full counts."""
import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from torch.profiler import ProfilerActivity, profile

import mmseg_uda  # noqa: F401
from tests.test_models.tiny_models import (
    mic_cfg,
    tiny_dacs,
    tiny_hrda_cfg,
    uda_batch,
)

SYNC_OPS = {
    'aten::_local_scalar_dense', 'aten::nonzero', 'aten::nonzero_static',
    'aten::unique', 'aten::_unique', 'aten::_unique2', 'aten::unique_dim',
    'aten::unique_consecutive', 'aten::masked_select',
    'aten::repeat_interleave', 'aten::bincount', 'aten::histc',
    'aten::equal', 'aten::is_nonzero'
}


@pytest.mark.parametrize('case', ['dacs', 'mic', 'hrda'])
def test_no_host_sync_in_the_step(case):
    # Rules out: torch.unique / per-image loops in ClassMix, boolean-mask
    # assignment in the feature distance, mmseg's accuracy (boolean
    # indexing), repeat_interleave in the blur or the MIC mask, .item() on
    # a tensor anywhere in the step.
    init_default_scope('mmseg')
    kwargs = {}
    size = 32
    if case == 'mic':
        kwargs['mic'] = mic_cfg()
    if case == 'hrda':
        seg = tiny_hrda_cfg().model
        seg.decode_head.num_classes = 4
        kwargs['segmentor'] = seg
        size = 64
    torch.manual_seed(0)
    model = MODELS.build(tiny_dacs(**kwargs))
    model.init_weights()
    model.train()
    # SGD without momentum: its CPU step reads nothing on the host (AdamW's
    # CPU for-loop reads the step counts; on CUDA the configs' fused AdamW
    # does not)
    wrapper = OptimWrapper(torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.01))
    model.train_step(uda_batch(size=size, valid_mask=True), wrapper)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        model.train_step(uda_batch(size=size, valid_mask=True), wrapper)
    syncs = [e.name for e in prof.events() if e.name in SYNC_OPS]
    assert syncs == []
    ops = [e.name for e in prof.events() if e.name.startswith('aten::')]
    assert len(ops) > 500  # the profiler saw the step


def test_no_host_sync_in_augmentation_and_masks():
    # The step above may skip the jitter or the blur (drawn per call on
    # the host); here each one runs. Rules out: repeat_interleave in the
    # blur kernel or the MIC block mask, torch.unique in ClassMix.
    from mmseg_uda.models.utils import block_mask, classmix_masks
    from mmseg_uda.models.utils.strong_aug import color_jitter, gaussian_blur
    img = torch.rand(2, 3, 40, 40)
    labels = torch.randint(0, 4, (2, 1, 40, 40))
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        color_jitter(img, 0.2)
        gaussian_blur(img, torch.tensor([0.5, 1.0]))
        block_mask(img.shape, 8, 0.7, device=img.device)
        classmix_masks(labels)
        classmix_masks(labels, per_image=True)
    names = [e.name for e in prof.events()]
    assert 'aten::conv2d' in names  # the blur ran
    assert [n for n in names if n in SYNC_OPS] == []
