"""DACS, HRDA and MIC training steps under bf16 autocast (CPU) give finite
losses equal to the fp32 step's within a stated tolerance, and the teacher
runs under the autocast too.

Tolerance: every logged loss within 2 % relative or 1e-3 absolute (bf16
keeps 8 bits of mantissa, ~0.4 % per rounding; measured: <= 0.9 % on these
tiny networks, the MIC loss being the farthest)."""
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import mmseg_uda  # noqa: F401
from tests.test_models.tiny_models import (
    mic_cfg,
    tiny_dacs,
    tiny_hrda_cfg,
    uda_batch,
)


class CPUAutocastOptimWrapper(OptimWrapper):
    """``AmpOptimWrapper``'s autocast on the CPU (mmengine's needs CUDA):
    the model code under test is the same, the wrapper only enters the
    autocast context in ``optim_context``."""


    @contextmanager
    def optim_context(self, model):
        with super().optim_context(model), torch.autocast(
                'cpu', dtype=torch.bfloat16):
            yield


def build(case):
    init_default_scope('mmseg')
    kwargs = {}
    if case == 'hrda':
        seg = tiny_hrda_cfg().model
        seg.decode_head.num_classes = 4
        kwargs['segmentor'] = seg
    if case == 'mic':
        kwargs['mic'] = mic_cfg()
    torch.manual_seed(0)
    # threshold 0: pseudo-weight 1, so the mixed and MIC losses are not 0;
    # every feature cell counts and weight 1, so the distance is not ~0
    fd = dict(type='FeatureDistanceLoss', classes=[0, 1, 2, 3],
              num_classes=4, scale_min_ratio=0.0, loss_weight=1.0)
    model = MODELS.build(tiny_dacs(pseudo_threshold=0.0,
                                   imnet_feature_dist=fd, **kwargs))
    model.init_weights()
    model.train()
    return model


def one_step(case, wrapper_cls):
    model = build(case)
    teacher_dtypes = []
    model.teacher.backbone.register_forward_hook(
        lambda m, a, out: teacher_dtypes.append(out[-1].dtype))
    wrapper = wrapper_cls(torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.01))
    torch.manual_seed(1)  # the same random draws in both runs
    np.random.seed(1)  # HRDA's detail crop box
    size = 64 if case == 'hrda' else 32
    logs = model.train_step(uda_batch(size=size), wrapper)
    return logs, teacher_dtypes


@pytest.mark.parametrize('case', ['dacs', 'hrda', 'mic'])
def test_bf16_step_matches_fp32(case):
    # Rules out: a stage that breaks under autocast (dtype mismatch in the
    # mixing / pixel weights / HRDA fusion), non-finite bf16 losses, and a
    # teacher left in fp32 while the student runs in bf16.
    ref, ref_teacher = one_step(case, OptimWrapper)
    amp, amp_teacher = one_step(case, CPUAutocastOptimWrapper)
    assert set(ref_teacher) == {torch.float32}
    assert set(amp_teacher) == {torch.bfloat16}
    losses = [k for k in ref if 'loss' in k]
    assert len(losses) >= (4 if case == 'hrda' else 3), losses
    for key in losses:
        assert torch.isfinite(amp[key]), key
        torch.testing.assert_close(amp[key].float(), ref[key].float(),
                                   rtol=2e-2, atol=1e-3, msg=key)
    # the confidence weight is computed in float32 from the teacher logits
    torch.testing.assert_close(amp['pseudo_weight'].float(),
                               ref['pseudo_weight'].float(), rtol=0.1,
                               atol=0.05)
