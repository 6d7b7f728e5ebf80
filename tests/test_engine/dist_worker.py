"""Worker of the 2-process (gloo) tests of tests/test_engine/
test_dist_consistency.py: one launch trains several tiny UDA runs in a row
(imports and process-group set-up are paid once) and each rank writes what
the test compares.

Usage (one process per rank, e.g. under ``torch.distributed.run``; the
repository on ``PYTHONPATH``)::

    python tests/test_engine/dist_worker.py consistency ROOTS_JSON OUT_DIR
"""
import json
import os
import os.path as osp
import sys

import mmengine.config.config as _mmengine_config
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner
from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import (
    allreduce_hook,
)
from torch.nn.parallel import DistributedDataParallel

import mmseg_uda  # noqa: F401
from mmseg_uda.models.utils import unwrap
from tests.helpers import load_tool

setup_cpu_distributed = load_tool(
    'tools/launch_utils.py').setup_cpu_distributed

# mmengine formats the config with yapf several times per Runner (seconds
# each on a loaded CPU); the runs here never read the dump.
_mmengine_config.FormatCode = lambda code, **kwargs: (code, False)

#: case name -> (tiny config builder key, MIC on/off)
METHODS = ('dacs', 'hrda', 'mic_hrda', 'advseg', 'pfr')


def method_cfg(method: str, roots: dict, work_dir: str, max_iters: int):
    """A tiny config of ``method`` on the synthetic data (64x64 crops,
    batch 1, no validation or checkpoint) for this process group."""
    if method in ('advseg', 'pfr'):
        from tests.e2e_helpers import tiny_adversarial_cfg as tiny_cfg
        cfg = tiny_cfg(method, roots, work_dir, max_iters)
    else:
        from tests.e2e_helpers import tiny_mic_cfg as tiny_cfg
        cfg = tiny_cfg('daformer' if method == 'dacs' else 'hrda', roots,
                       work_dir, max_iters)
        if method != 'mic_hrda':
            cfg.model.mic = None
    # only the plugin's hooks (no test dump hooks of the other modules)
    cfg.custom_hooks = [
        h for h in cfg.custom_hooks if 'Dump' not in h['type']
    ]
    cfg.custom_imports = dict(imports=['mmseg_uda'],
                              allow_failed_imports=False)
    cfg.train_cfg.val_interval = 10**6
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.default_hooks.checkpoint.update(interval=10**6, save_last=False)
    cfg.default_hooks.pop('visualization', None)
    cfg.experiment_name = osp.basename(work_dir)
    cfg.launcher = 'pytorch'
    setup_cpu_distributed(cfg, 'pytorch')
    return cfg


def set_accumulation(cfg, counts: int) -> None:
    wrappers = cfg.optim_wrapper
    if 'optimizer' in wrappers:
        wrappers.accumulative_counts = counts
        return
    for child in wrappers.values():
        if isinstance(child, dict) and 'optimizer' in child:
            child['accumulative_counts'] = counts


class CommCounter(Hook):
    """Counts the gradient all-reduces of every DDP-wrapped child per
    iteration through a DDP communication hook (the default all-reduce,
    recorded)."""

    priority = 'VERY_HIGH'

    def __init__(self):
        self.calls = []  # (iteration, child name, bucket index)
        self.steps = []  # (iteration, optimizer name)
        self.iter = -1

    def before_train(self, runner):
        model = runner.model.module
        self.wrapped = []
        for name, child in model.named_children():
            if isinstance(child, DistributedDataParallel):
                self.wrapped.append(name)
                child.register_comm_hook(state=name, hook=self._hook)
        wrappers = runner.optim_wrapper
        named = (wrappers.optim_wrappers if hasattr(
            wrappers, 'optim_wrappers') else {'optimizer': wrappers})
        for name, wrapper in named.items():
            wrapper.optimizer.register_step_post_hook(
                lambda opt, args, kwargs, name=name: self.steps.append(
                    (self.iter, name)))

    def _hook(self, name, bucket):
        self.calls.append((self.iter, name, bucket.index()))
        return allreduce_hook(None, bucket)

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.iter = runner.iter


def model_state(runner) -> dict:
    """Every parameter and buffer of every child, DDP prefixes removed."""
    model = runner.model.module if hasattr(runner.model,
                                           'module') else runner.model
    state = {}
    for name, child in model.named_children():
        for k, v in unwrap(child).state_dict(keep_vars=False).items():
            state[f'{name}.{k}'] = v.detach().clone()
    return state


def buffer_names(runner) -> list:
    model = unwrap(runner.model.module)
    return [
        f'{name}.{k}' for name, child in model.named_children()
        for k, _ in unwrap(child).named_buffers()
    ]


def run_consistency(roots: dict, out: str) -> None:
    """Each method without (2 iterations) and with gradient accumulation
    (2 iterations: one optimizer step), plus DACS without buffer
    synchronisation (control, 1 iteration)."""
    rank = int(os.environ['RANK'])
    cases = [(m, acc, True) for m in METHODS for acc in (1, 2)]
    cases.append(('dacs', 1, False))
    results = {}
    for method, acc, sync in cases:
        case = f'{method}_acc{acc}' + ('' if sync else '_nosync')
        max_iters = 2 if sync else 1
        cfg = method_cfg(method, roots, osp.join(out, case), max_iters)
        set_accumulation(cfg, acc)
        cfg.model_wrapper_cfg.sync_buffers = sync
        runner = Runner.from_cfg(cfg)
        counter = CommCounter()
        runner.register_hook(counter)
        runner.train()
        results[case] = dict(calls=counter.calls, wrapped=counter.wrapped,
                             steps=counter.steps,
                             state=model_state(runner),
                             buffers=buffer_names(runner),
                             max_iters=max_iters, acc=acc)
    torch.save(results, osp.join(out, f'consistency_rank{rank}.pth'))


class NaNOnRank(Hook):
    """Makes this rank's logged source loss NaN at iteration ``iteration``
    (0-based) on rank ``rank`` only: a non-finite loss seen by one rank."""

    priority = 'HIGHEST'

    def __init__(self, rank: int, iteration: int):
        self.rank, self.iteration = rank, iteration

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.rank == self.rank and runner.iter == self.iteration:
            outputs['src.decode.loss_ce'] = torch.tensor(float('nan'))


def _train(cfg, hooks=(), resume=False):
    """Train; returns (runner, logged losses per iteration, error)."""
    from tests.test_engine.ft_helpers import LossRecorder
    cfg.resume = resume
    runner = Runner.from_cfg(cfg)
    recorder = LossRecorder()
    for hook in (recorder, *hooks):
        runner.register_hook(hook)
    error = None
    try:
        runner.train()
    except Exception as e:  # noqa: BLE001 (reported to the test)
        error = dict(type=type(e).__name__, message=str(e),
                     iter=runner.iter)
    return runner, recorder.losses, error


def run_faults(roots: dict, out: str, kill_rank: int, kill_at: int) -> None:
    """On data with one unreadable target image:

    - MIC(HRDA) with BadSampleHook: uninterrupted vs SIGTERM on one rank
      after ``kill_at`` iterations + resume (in the same processes);
    - DACS with ``max_bad_samples=0``: every rank stops;
    - DACS with a NaN loss on rank 1 only: every rank stops;
    - DACS with ``max_replacements=0`` (the loading fails on one rank):
      every rank stops.
    """
    from tests.test_engine.dist_hooks import SignalRankHook
    from tests.test_engine.ft_helpers import final_state
    rank = int(os.environ['RANK'])
    results = {}
    max_iters = 4

    def runtime_faults(cfg):
        # The unreadable target image stands for a file that breaks after
        # the checks before training (PreflightCheckHook would name it and
        # stop): here the runtime replacement is under test.
        cfg.default_hooks.pop('preflight')
        return cfg

    def mic_cfg(name):
        cfg = method_cfg('mic_hrda', roots, osp.join(out, name), max_iters)
        cfg.default_hooks.checkpoint.interval = max_iters
        cfg.default_hooks.bad_samples.max_bad_samples = 5
        return runtime_faults(cfg)

    for name, hooks in (('full', ()), ('cut', (SignalRankHook(
            rank=kill_rank, iteration=kill_at), ))):
        runner, losses, error = _train(mic_cfg(name), hooks)
        results[name] = dict(losses=losses, error=error,
                             state=final_state(runner),
                             world_size=runner.world_size)
    runner, losses, error = _train(mic_cfg('cut'), resume=True)
    results['resumed'] = dict(losses=losses, error=error,
                              state=final_state(runner))

    def dacs_cfg(name, max_bad=5, max_replacements=10):
        cfg = method_cfg('dacs', roots, osp.join(out, name), max_iters)
        cfg.default_hooks.bad_samples.max_bad_samples = max_bad
        cfg.train_dataloader.dataset.max_replacements = max_replacements
        return runtime_faults(cfg)

    _, _, results['limit'] = _train(dacs_cfg('limit', max_bad=0))
    _, _, results['nan'] = _train(dacs_cfg('nan'),
                                  (NaNOnRank(rank=1, iteration=1), ))
    _, _, results['load'] = _train(dacs_cfg('load', max_replacements=0))
    torch.save(results, osp.join(out, f'faults_rank{rank}.pth'))


def main() -> None:
    torch.set_num_threads(1)
    mode, roots_json, out = sys.argv[1:4]
    with open(roots_json) as f:
        roots = json.load(f)
    if mode == 'consistency':
        run_consistency(roots, out)
    elif mode == 'faults':
        run_faults(roots, out, int(sys.argv[4]), int(sys.argv[5]))
    else:
        raise ValueError(f'unknown mode {mode!r}')


if __name__ == '__main__':
    main()
