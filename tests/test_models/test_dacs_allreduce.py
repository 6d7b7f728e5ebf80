"""Gradient all-reduces of a UDA step under DDP, counted per stage with a
DDP communication hook in 2 gloo processes (DACS, DACS+MIC, AdaptSegNet).

A UDA step runs several forward+backward stages before one optimizer step
per network (DACS: source (+ feature distance), mixed, MIC; AdaptSegNet:
target and source through the student, source and target through each
discriminator). Only the last backward through a network may all-reduce its
gradients (the earlier ones accumulate locally and are reduced with it); an
all-reduce in every backward costs 2-4x the communication and still trains
correctly, so nothing but a count sees it. (The per-step count over a whole
training run is ``tests/test_engine/test_dist_consistency.py``.)
"""
import json
import os.path as osp
from functools import partial

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

_MIC = dict(type='MaskedImageConsistency',
            mask_generator=dict(type='BlockMaskGenerator', mask_ratio=0.5,
                                block_size=8))
#: variant -> {DDP-wrapped network: its forwards per step}; the one
#: all-reduce per network must come after the last of them.
EXPECTED = {
    'dacs': dict(student=2),  # source (+ feature distance), mixed
    'mic': dict(student=3),  # source (+ feature distance), mixed, MIC
    'advseg': dict(student=2, discriminator=2, aux_discriminator=2),
}
STEPS = 2


def _count_forward(state, module, args):
    state['forwards'] += 1


def _count_allreduce(state, bucket):
    from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
    # the stage = forwards of this network so far in the step
    state['stages'].append(state['forwards'])
    return default_hooks.allreduce_hook(None, bucket)


def _build(variant):
    """(model, optim wrapper) of a variant, tiny and seeded."""
    from mmengine.optim import OptimWrapper
    from mmseg.registry import MODELS

    from tests.test_models.tiny_models import (
        build_adversarial_model as build_model,
    )
    from tests.test_models.tiny_models import (
        build_adversarial_optim as build_optim,
    )
    from tests.test_models.tiny_models import tiny_dacs
    torch.manual_seed(0)
    if variant == 'advseg':
        model = build_model(aux=True)
        return model, build_optim(model)
    model = MODELS.build(
        tiny_dacs(mic=_MIC if variant == 'mic' else None))
    model.train()
    return model, OptimWrapper(torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.01))


def _worker(rank: int, world_size: int, init_file: str, out_dir: str):
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{init_file}',
                            rank=rank, world_size=world_size)
    from mmengine.registry import init_default_scope

    import mmseg_uda  # noqa: F401
    from mmseg_uda.models.wrappers import UDADistributedDataParallel
    from tests.test_models.tiny_models import uda_batch
    init_default_scope('mmseg')

    result = {}
    for variant in EXPECTED:
        model, optim = _build(variant)
        ddp = UDADistributedDataParallel(module=model, device_ids=None)
        states = {}
        for name, child in ddp.module.named_children():
            if isinstance(child, DistributedDataParallel):
                state = states[name] = dict(forwards=0, stages=[])
                child.register_forward_pre_hook(partial(_count_forward,
                                                        state))
                child.register_comm_hook(state, _count_allreduce)
        steps = []
        for step in range(STEPS):
            for state in states.values():
                state.update(forwards=0, stages=[])
            # different data on each rank
            ddp.train_step(uda_batch(seed=10 * step + rank), optim)
            steps.append({name: dict(forwards=s['forwards'],
                                     stages=list(s['stages']))
                          for name, s in states.items()})
        flat = torch.cat([p.detach().flatten() for p in model.parameters()])
        gathered = [torch.zeros_like(flat) for _ in range(world_size)]
        dist.all_gather(gathered, flat)
        result[variant] = dict(
            steps=steps,
            ranks_equal=all(torch.equal(g, gathered[0]) for g in gathered))
    with open(osp.join(out_dir, f'rank{rank}.json'), 'w') as f:
        json.dump(result, f)
    dist.destroy_process_group()


def test_only_the_last_stage_of_each_network_all_reduces(tmp_path):
    """Per step and network, every all-reduce of its gradients happens after
    its last forward, and all parameters stay identical across ranks fed
    different data.

    Rules out: every backward synchronising (``grad_sync`` always enabled:
    all-reduces in DACS's source stage or AdaptSegNet's target generator
    stage), DACS's mixed stage synchronising although MIC follows, a
    discriminator synchronising in its source step, and a network never
    synchronising (ranks drift apart, no all-reduce at all).
    """
    mp.spawn(_worker, args=(2, str(tmp_path / 'init'), str(tmp_path)),
             nprocs=2, join=True)
    for rank in (0, 1):
        with open(tmp_path / f'rank{rank}.json') as f:
            result = json.load(f)
        for variant, networks in EXPECTED.items():
            steps = result[variant]['steps']
            assert [set(s) for s in steps] == [set(networks)] * STEPS
            for name, forwards in networks.items():
                for step in steps:
                    got = step[name]
                    where = (variant, name, got)
                    assert got['forwards'] == forwards, where
                    assert got['stages'], where  # at least one all-reduce
                    # (how many: DDP's buckets, rebuilt after step 0)
                    assert set(got['stages']) == {forwards}, where
            assert result[variant]['ranks_equal'], variant
