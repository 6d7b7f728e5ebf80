"""``MatmulPrecisionHook``: TF32 matmuls for a run on CUDA only."""
import pytest


def test_matmul_precision_hook_cuda_only_and_restored(monkeypatch):
    # Rules out: a hook that changes CPU numerics, leaks the setting past
    # the run, or accepts a typo.
    import torch

    from mmseg_uda.engine.hooks import MatmulPrecisionHook
    before = torch.get_float32_matmul_precision()
    hook = MatmulPrecisionHook('high')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    hook.before_run(None)
    assert torch.get_float32_matmul_precision() == before
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    hook.before_run(None)
    assert torch.get_float32_matmul_precision() == 'high'
    hook.after_run(None)
    assert torch.get_float32_matmul_precision() == before
    with pytest.raises(ValueError, match='precision'):
        MatmulPrecisionHook('tf32')
