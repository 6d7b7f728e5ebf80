"""Launch tests/test_engine/dist_worker.py under torch.distributed.run
(2 gloo CPU processes) for the distributed tests."""
import json
import os
import socket
import subprocess
import sys

from tests.helpers import REPO

WORKER = os.path.join(REPO, 'tests', 'test_engine', 'dist_worker.py')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def launch(mode: str, roots: dict, out, nproc: int = 2, timeout=600,
           extra=()):
    """Run the worker under ``torch.distributed.run``; returns the
    completed process (output in ``stdout``)."""
    roots_json = os.path.join(str(out), 'roots.json')
    with open(roots_json, 'w') as f:
        json.dump(roots, f)
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH',
                                                             ''))
    cmd = [sys.executable, '-m', 'torch.distributed.run',
           f'--nproc_per_node={nproc}', f'--master_port={free_port()}',
           WORKER, mode, roots_json, str(out), *extra]
    return subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)
