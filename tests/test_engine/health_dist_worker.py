"""Worker of the 2-process SelfTrainingHealthHook test (run by
torch.distributed.run): each rank feeds its own pseudo-weights and
validation images; rank 0 writes ``<out>/dist/health.json``."""
import os
import sys

import torch

#: per rank: pseudo_weight values and validation images ({class: pixels})
RANK_DATA = [
    dict(pw=[0.1, 0.3, 0.2], val=[{0: 8, 1: 12}, {0: 20}]),
    dict(pw=[0.9], val=[{0: 15, 1: 5}]),
]


def main(out: str) -> None:
    from mmengine.dist import get_rank

    import mmseg_uda  # noqa: F401
    from mmseg_uda.engine.hooks import SelfTrainingHealthHook
    from tests.test_engine.health_helpers import (
        TeacherStub,
        feed,
        make_runner,
        write_source_stats,
    )
    torch.distributed.init_process_group('gloo')  # CPU processes
    rank = get_rank()
    work = os.path.join(out, 'dist')
    os.makedirs(work, exist_ok=True)
    if rank == 0:
        write_source_stats(work, {0: 50, 1: 40, 2: 10})
    torch.distributed.barrier()
    hook = SelfTrainingHealthHook(agreement_images=100, collapse_begin=0)
    runner = make_runner(work, teacher=TeacherStub(torch.zeros(4, 5).long()),
                         name=f'dist{rank}')
    hook.before_train(runner)
    labels = []
    for counts in RANK_DATA[rank]['val']:
        flat = torch.cat([torch.full((n, ), k) for k, n in counts.items()])
        labels.append(flat.view(4, 5))
    feed(hook, runner, RANK_DATA[rank]['pw'], labels)
    torch.distributed.barrier()


if __name__ == '__main__':
    main(sys.argv[1])
