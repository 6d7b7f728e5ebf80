"""Test-only hooks of the 2-process fault-tolerance tests, loaded by the
training processes through ``custom_imports``."""
import json
import os
import os.path as osp
import signal

from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

# With MMSEG_UDA_TEST_UNFORMATTED_CONFIG=1 the training processes skip
# mmengine's yapf formatting of the config (seconds per Runner).
import tests.e2e_helpers  # noqa: F401


@HOOKS.register_module(force=True)
class SignalRankHook(Hook):
    """Send ``SIGTERM`` to this process after iteration ``iteration``
    (1-based) on rank ``rank`` only, as Slurm may deliver it to one task."""

    priority = 'HIGHEST'

    def __init__(self, rank: int, iteration: int):
        self.rank = rank
        self.iteration = iteration

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.iteration and get_rank() == self.rank:
            os.kill(os.getpid(), signal.SIGTERM)


@HOOKS.register_module(force=True)
class LossDumpHook(Hook):
    """Append every logged value of every training iteration of this rank
    to ``<work_dir>/losses_rank<r>.jsonl`` (``float.hex``: exact)."""

    priority = 'LOWEST'

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        path = osp.join(runner.work_dir, f'losses_rank{get_rank()}.jsonl')
        with open(path, 'a') as f:
            f.write(json.dumps(dict(
                iter=runner.iter,
                losses={k: float(v).hex() for k, v in (outputs or {}).items()}
            )) + '\n')


def read_losses(work_dir: str, rank: int) -> dict:
    """``{iteration: {name: value}}`` written by :class:`LossDumpHook`."""
    out = {}
    path = osp.join(work_dir, f'losses_rank{rank}.jsonl')
    with open(path) as f:
        for line in f:
            entry = json.loads(line)
            out[entry['iter']] = entry['losses']
    return out
