"""Run by test_uda_sampler.py under torch.distributed.run (2 processes,
gloo): writes what each rank's UDASampler yields."""
import json
import os.path as osp
import sys

import torch.distributed as dist


class Pairs:
    """Stand-in for UDADataset: only the sizes matter to the sampler (also
    used by test_uda_sampler.py's single-process tests)."""

    def __init__(self, n_src, n_tgt):
        self.source, self.target, self.rcs = range(n_src), range(n_tgt), None

    def __len__(self):
        return len(self.source)


def take(sampler, n):
    it = iter(sampler)
    return [next(it) for _ in range(n)]


def main(out_dir):
    dist.init_process_group('gloo')
    from mmseg_uda.datasets.samplers import UDASampler
    rank = dist.get_rank()
    n = 24
    ds = Pairs(n, 9)
    sampler = UDASampler(ds, seed=None)  # broadcast from rank 0
    seq = take(sampler, 30)
    again = take(UDASampler(ds, seed=sampler.seed), 30)
    resumed_sampler = UDASampler(ds, seed=sampler.seed)
    resumed_sampler.set_start(11)
    resumed = take(resumed_sampler, 19)
    result = dict(
        n=n,
        seed=sampler.seed,
        epoch_sources=[i.source for i in seq[:n // 2]],
        ks=[i.k for i in seq],
        sequence=[list(i) for i in seq],
        same_seed_again=[list(i) for i in again],
        resume_at=11,
        resumed=[list(i) for i in resumed])
    with open(osp.join(out_dir, f'rank{rank}.json'), 'w') as f:
        json.dump(result, f)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == '__main__':
    main(sys.argv[1])
