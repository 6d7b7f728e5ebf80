import json
import os
import os.path as osp
import socket
import sys

from mmseg_uda.datasets import UDASampler
from tests.processes import run_process_tree
from tests.test_datasets.dist_sampler_worker import Pairs, take

WORKER = osp.join(osp.dirname(osp.abspath(__file__)), 'dist_sampler_worker.py')


def test_single_process_epochs_seed_and_resume():
    ds = Pairs(10, 7)
    s = UDASampler(ds, seed=3, rank=0, world_size=1)
    seq = take(s, 25)
    assert sorted(i.source for i in seq[:10]) == list(range(10))
    assert sorted(i.source for i in seq[10:20]) == list(range(10))
    assert sorted(i.target for i in seq[:7]) == list(range(7))
    assert [i.k for i in seq] == list(range(25))
    assert take(UDASampler(ds, seed=3, rank=0, world_size=1), 25) == seq
    assert take(UDASampler(ds, seed=4, rank=0, world_size=1), 25) != seq
    resumed = UDASampler(ds, seed=3, rank=0, world_size=1)
    resumed.set_start(12)
    assert take(resumed, 13) == seq[12:]
    unshuffled = take(UDASampler(ds, shuffle=False, seed=0, rank=0,
                                  world_size=1), 10)
    assert [i.source for i in unshuffled] == list(range(10))


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_gloo_processes_shard_disjoint_cover_and_resume(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    cmd = [
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        '--master_addr=127.0.0.1', f'--master_port={_free_port()}', WORKER,
        str(tmp_path)
    ]
    res = run_process_tree(cmd, env=env, capture_output=True, text=True,
                           timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    out = []
    for rank in range(2):
        with open(tmp_path / f'rank{rank}.json') as f:
            out.append(json.load(f))
    n = out[0]['n']
    # the same (broadcast) seed on both ranks
    assert out[0]['seed'] == out[1]['seed']
    # one epoch-equivalent: disjoint halves covering the source set
    a, b = (set(o['epoch_sources']) for o in out)
    assert len(out[0]['epoch_sources']) == n // 2 == len(a)
    assert not a & b and a | b == set(range(n))
    for o, rank in zip(out, range(2)):
        assert all(k % 2 == rank for k in o['ks'])
        assert o['same_seed_again'] == o['sequence']
        assert o['resumed'] == o['sequence'][o['resume_at']:]
