"""Every test file runs alone, and a timed-out 2-process launch leaves no
process behind."""
import json
import os
import os.path as osp
import subprocess
import sys
import time

import pytest

from tests.helpers import REPO
from tests.test_engine.dist_launch import launch

COLLECT_ALONE = osp.join(REPO, 'tests', 'collect_alone.py')


def test_every_test_file_collects_alone(tmp_path):
    """``tests/collect_alone.py`` over the whole suite, plus one file that
    needs a stand-in registered by another test module
    (``tests/test_models/tiny_models.py``): exactly that one is reported.
    Rules out a test module that only imports after another one (e.g.
    ``pytest tests/test_models/test_pixel_weight_ohem.py`` run alone before
    tests/conftest.py imported the plugin: mmseg's models imported before
    the mmcv-lite shim) and a check whose children are not fresh."""
    bad = tmp_path / 'test_needs_another_module.py'
    bad.write_text('from mmseg.registry import MODELS\n\n'
                   "assert MODELS.get('TinyWeightedFCNHead') is not None\n")
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO)
    res = subprocess.run([sys.executable, COLLECT_ALONE, '--suite-and',
                          str(bad)], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=600)
    reported = [line for line in res.stdout.splitlines()
                if line.startswith('=== ')]
    assert reported == [f'=== {osp.relpath(bad, REPO)} fails when '
                        'collected alone:'], res.stdout[-6000:] + res.stderr
    assert res.returncode == 1


def test_mutation_table_names_existing_files():
    """Every module and test of tools/misc/mutation_targets.json exists
    (rules out a table left behind when modules or tests move)."""
    with open(osp.join(REPO, 'tools', 'misc', 'mutation_targets.json')) as f:
        table = {k: v for k, v in json.load(f).items()
                 if not k.startswith('_')}
    missing = [p for module, tests in table.items()
               for p in [module, *(t.split('::')[0] for t in tests)]
               if not osp.exists(osp.join(REPO, p))]
    assert not missing


SLEEPER = '''import os, sys, time
with open(os.path.join(sys.argv[3], 'pid' + os.environ['RANK']), 'w') as f:
    f.write(str(os.getpid()))
time.sleep(600)
'''


def _alive(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().split(')')[-1].split()[0] != 'Z'
    except OSError:
        return False


def test_launcher_timeout_ends_its_workers(tmp_path):
    """The 2-process launcher (tests/test_engine/dist_launch.py) on a
    worker that hangs: ``TimeoutExpired`` is raised and both workers are
    gone. Rules out killing only ``torch.distributed.run`` (what
    ``subprocess.run(timeout=...)`` does), whose workers run in sessions of
    their own and would stay alive for the rest of the suite."""
    worker = tmp_path / 'sleeper.py'
    worker.write_text(SLEEPER)
    for timeout in (10, 60):  # the second only where start-up was slow
        out = tmp_path / f'out{timeout}'
        out.mkdir()
        with pytest.raises(subprocess.TimeoutExpired):
            launch('hang', {}, out, timeout=timeout, worker=str(worker))
        pids = [int((out / f'pid{r}').read_text())
                for r in range(2) if (out / f'pid{r}').exists()]
        if len(pids) == 2:
            break
    assert len(pids) == 2, 'the workers never started'
    deadline = time.monotonic() + 10
    while any(map(_alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = [p for p in pids if _alive(p)]
    for p in alive:  # do not leave them to the rest of the suite
        os.kill(p, 9)
    assert not alive
