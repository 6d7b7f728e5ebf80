"""Launch tests/test_engine/dist_worker.py under torch.distributed.run
(2 gloo CPU processes) for the distributed tests."""
import json
import os
import socket
import subprocess
import sys

from tests.helpers import REPO
from tests.processes import run_process_tree

WORKER = os.path.join(REPO, 'tests', 'test_engine', 'dist_worker.py')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def launch(mode: str, roots: dict, out, nproc: int = 2, timeout=600,
           extra=(), worker=WORKER):
    """Run the worker under ``torch.distributed.run``; returns the
    completed process (output in ``stdout``). On a timeout the launcher and
    its workers are all ended (``run_process_tree``) before
    ``TimeoutExpired`` is raised."""
    roots_json = os.path.join(str(out), 'roots.json')
    with open(roots_json, 'w') as f:
        json.dump(roots, f)
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH',
                                                             ''))
    cmd = [sys.executable, '-m', 'torch.distributed.run',
           f'--nproc_per_node={nproc}', f'--master_port={free_port()}',
           worker, mode, roots_json, str(out), *extra]
    return run_process_tree(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            timeout=timeout)
