"""Wall time to resume a tiny UDA run at iteration 20 and at iteration 2,000.

mmengine's ``IterBasedTrainLoop`` resumes by pulling ``iter`` batches out of
the dataloader (loading and transforming every skipped image);
``UDAIterBasedTrainLoop`` moves the ``UDASampler`` to the resumed position
in O(1). This script

1. trains a tiny run (the synthetic UDA data with rare class sampling, a
   one-parameter model, so data loading is the only real work) for 2,000
   iterations, keeping the checkpoints of iterations 20 and 2,000;
2. times, for each checkpoint and each loop, building a Runner that resumes
   from it and running one more iteration (median of ``--repeats``);
3. prints the times and the ratio resume@2000 / resume@20 (target of the
   plugin's loop: <= 1.5x).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/resume_cost.py [--iters 2000] \
        [--short 20] [--repeats 3] [--work-dir /tmp/resume_cost]
"""
import argparse
import os.path as osp
import shutil
import statistics
import sys
import tempfile
import time

import torch
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.runner import Runner

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

import mmseg_uda  # noqa: E402,F401 (registers the plugin)
from mmseg_uda.datasets.synthetic import generate_synthetic_uda  # noqa: E402

DATA_CFG = osp.join(REPO, 'configs', '_base_', 'datasets',
                    'synthetic_uda.py')


class TinyUDAModel(BaseModel):
    """One parameter; the loss reads every image of the batch."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, inputs=None, data_samples=None, mode='tensor'):
        return self.w

    def train_step(self, data, optim_wrapper):
        pixels = torch.stack([
            img.float().mean()
            for branch in ('source', 'target')
            for img in data[branch]['inputs']
        ])
        loss = ((self.w - pixels.mean() / 255)**2).sum()
        optim_wrapper.update_params(loss)
        return {'loss': loss.detach()}


_COUNTER = [0]


def make_runner(data_cfg, work_dir, max_iters, loop, ckpt_interval,
                resume_from=None):
    _COUNTER[0] += 1
    loader = data_cfg.train_dataloader
    return Runner(
        model=TinyUDAModel(),
        work_dir=work_dir,
        experiment_name=f'resume_cost_{_COUNTER[0]}',
        train_dataloader=loader,
        train_cfg=dict(type=loop, max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        param_scheduler=[dict(type='PolyLR', power=1.0, eta_min=0.0,
                              begin=0, end=max(max_iters, 2001),
                              by_epoch=False)],
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=ckpt_interval,
                            by_epoch=False, max_keep_ckpts=-1),
            logger=dict(type='LoggerHook', interval=10**6)),
        log_processor=dict(by_epoch=False),
        log_level='WARNING',
        randomness=dict(seed=0),
        default_scope='mmseg',
        load_from=resume_from,
        resume=resume_from is not None)


def time_resume(data_cfg, ckpt, work_dir, step, loop):
    start = time.perf_counter()
    runner = make_runner(data_cfg, work_dir, step + 1, loop, 10**6,
                         resume_from=ckpt)
    runner.train()
    assert runner.iter == step + 1
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--iters', type=int, default=2000)
    parser.add_argument('--short', type=int, default=20)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--work-dir', default=None)
    parser.add_argument('--skip-baseline', action='store_true',
                        help="don't time mmengine's IterBasedTrainLoop")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')

    root = args.work_dir or tempfile.mkdtemp(prefix='resume_cost_')
    roots = generate_synthetic_uda(
        osp.join(root, 'data'), num_source=24, num_target_train=12,
        num_target_val=2, seed=0)
    data_cfg = Config.fromfile(DATA_CFG)
    loader = data_cfg.train_dataloader
    loader.dataset.source.data_root = roots['gta']
    loader.dataset.target.data_root = roots['cityscapes']
    loader.num_workers = 0
    loader.persistent_workers = False

    train_dir = osp.join(root, 'train')
    shutil.rmtree(train_dir, ignore_errors=True)
    start = time.perf_counter()
    make_runner(data_cfg, train_dir, args.iters, 'UDAIterBasedTrainLoop',
                args.short).train()
    train_time = time.perf_counter() - start
    print(f'trained {args.iters} iterations in {train_time:.1f} s '
          f'({1000 * train_time / args.iters:.1f} ms/iteration)')

    loops = ['UDAIterBasedTrainLoop']
    if not args.skip_baseline:
        loops.append('IterBasedTrainLoop')
    results = {}
    for loop in loops:
        for step in (args.short, args.iters):
            ckpt = osp.join(train_dir, f'iter_{step}.pth')
            times = []
            for r in range(args.repeats if loop.startswith('UDA') else 1):
                wd = osp.join(root, f'resume_{loop}_{step}_{r}')
                shutil.rmtree(wd, ignore_errors=True)
                times.append(time_resume(data_cfg, ckpt, wd, step, loop))
            results[loop, step] = statistics.median(times)

    print(f'\nwall time to resume and run one iteration (median of '
          f'{args.repeats} for the plugin loop):')
    print(f'{"loop":<24}{"@" + str(args.short):>10}{"@" + str(args.iters):>10}'
          f'{"ratio":>8}')
    for loop in loops:
        a, b = results[loop, args.short], results[loop, args.iters]
        print(f'{loop:<24}{a:>9.2f}s{b:>9.2f}s{b / a:>7.2f}x')
    ratio = (results['UDAIterBasedTrainLoop', args.iters] /
             results['UDAIterBasedTrainLoop', args.short])
    verdict = 'OK' if ratio <= 1.5 else 'ABOVE TARGET'
    print(f'\nresume cost ratio (UDAIterBasedTrainLoop, iteration '
          f'{args.iters} vs {args.short}): {ratio:.2f}x '
          f'(target <= 1.5x: {verdict})')
    if args.work_dir is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == '__main__':
    main()
