"""Gradient all-reduces of a DACS / MIC step under DDP, counted per stage
with a DDP communication hook in 2 gloo processes.

A DACS step runs several forward+backward stages (source, feature distance,
mixed, MIC) before one optimizer step. Only the last backward may
all-reduce the student's gradients (the earlier ones accumulate locally and
are reduced with it); an all-reduce in every backward costs 3-4x the
communication and still trains correctly, so nothing but a count sees it.
"""
import json
import os.path as osp

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

#: variant name -> DACS keyword arguments (feature distance on in both).
VARIANTS = {
    'dacs': {},
    'mic': dict(mic=dict(type='MaskedImageConsistency',
                         mask_generator=dict(type='BlockMaskGenerator',
                                             mask_ratio=0.5, block_size=8))),
}
STEPS = 2


def _worker(rank: int, world_size: int, init_file: str, out_dir: str):
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{init_file}',
                            rank=rank, world_size=world_size)
    from mmengine.optim import OptimWrapper
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

    import mmseg_uda  # noqa: F401
    from mmseg_uda.models.wrappers import UDADistributedDataParallel
    from tests.test_models.test_dacs import uda_batch
    from tests.test_models.tiny_models import tiny_dacs
    init_default_scope('mmseg')

    result = {}
    for name, kwargs in VARIANTS.items():
        torch.manual_seed(0)
        model = MODELS.build(tiny_dacs(**kwargs))
        model.train()
        ddp = UDADistributedDataParallel(module=model, device_ids=None)
        student = ddp.module.student  # the student's own DDP
        state = dict(forwards=0, stages=[])

        def count_forward(module, args, state=state):
            state['forwards'] += 1

        def count_allreduce(state, bucket):
            # the stage = student forwards so far in this step
            state['stages'].append(state['forwards'])
            return default_hooks.allreduce_hook(None, bucket)

        student.register_forward_pre_hook(count_forward)
        student.register_comm_hook(state, count_allreduce)
        wrapper = OptimWrapper(torch.optim.SGD(
            [p for p in ddp.parameters() if p.requires_grad], lr=0.01))
        steps = []
        for step in range(STEPS):
            state.update(forwards=0, stages=[])
            # different data on each rank
            ddp.train_step(uda_batch(seed=10 * step + rank), wrapper)
            steps.append(dict(forwards=state['forwards'],
                              stages=list(state['stages'])))
        flat = torch.cat([p.detach().flatten()
                          for p in model.student.parameters()])
        gathered = [torch.zeros_like(flat) for _ in range(world_size)]
        dist.all_gather(gathered, flat)
        result[name] = dict(
            steps=steps,
            ranks_equal=all(torch.equal(g, gathered[0]) for g in gathered))
    with open(osp.join(out_dir, f'rank{rank}.json'), 'w') as f:
        json.dump(result, f)
    dist.destroy_process_group()


def test_only_the_last_stage_all_reduces(tmp_path):
    """Per step, every all-reduce of the student's gradients happens after
    its last forward (DACS: source, then mixed = 2nd forward; MIC: 3rd),
    and the students stay identical across ranks on different data.

    Rules out: every backward synchronising (``grad_sync`` always enabled:
    all-reduces in the source/feature-distance stages), the mixed stage
    synchronising although MIC follows, and no stage synchronising (ranks
    drift apart, no all-reduce at all).
    """
    mp.spawn(_worker, args=(2, str(tmp_path / 'init'), str(tmp_path)),
             nprocs=2, join=True)
    results = [json.load(open(tmp_path / f'rank{r}.json')) for r in (0, 1)]
    expected_forwards = dict(dacs=2, mic=3)
    for result in results:
        for name, forwards in expected_forwards.items():
            steps = result[name]['steps']
            for step in steps:
                assert step['forwards'] == forwards, (name, step)
                assert step['stages'], (name, 'no all-reduce at all')
                assert set(step['stages']) == {forwards}, (name, step)
            # the same buckets every step (no extra reduce on step 0)
            assert len(steps[0]['stages']) == len(steps[1]['stages'])
            assert result[name]['ranks_equal'], name
