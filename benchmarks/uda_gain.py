"""Does adaptation help? Target mIoU of DAFormer, MIC and HRDA against
their matched source-only baselines on the synthetic domain-shift data
(tiny MiT, CPU), over several seeds.

=====================  ==================================================
method                 config (quick-start, tiny MiT, no ImageNet weights)
=====================  ==================================================
source-only            source-only_mit-tiny (DAFormer network, 128x128)
DAFormer               daformer_mit-tiny (DACS + RCS + FD + warmup)
MIC(DAFormer)          mic-daformer_mit-tiny
source-only(HRDA)      source-only-hrda_mit-tiny (HRDA network, 256x256)
HRDA                   hrda_mit-tiny (multi-resolution DACS)
=====================  ==================================================

DAFormer and MIC are compared with ``source-only`` and HRDA with
``source-only(HRDA)``: the same network, crops, data, schedule and seed,
only the adaptation differs. Each run goes through ``tools/train.py`` (a
fresh process) with ``--iters`` iterations (the schedule's warmup is 10 %
of them), and the number is the mIoU over 19 classes on ``--val-images``
synthetic target val images after the last iteration. The table gives the
mean ± std over the seeds and the mean ± std of the per-seed differences to
the matched baseline; the rows go to ``WORK_DIR/results.json``.

    python benchmarks/uda_gain.py --iters 200 --seeds 0 1 2
"""
import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time

from mmengine.config import Config
from seed_stats import cached_run, markdown_table, summarise

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
QUICKSTART = 'configs/quickstart/'
METHODS = {
    'source-only':
    QUICKSTART + 'source-only_mit-tiny_1xb2-1k_synthetic-128x128.py',
    'DAFormer': QUICKSTART + 'daformer_mit-tiny_1xb2-1k_synthetic-128x128.py',
    'MIC(DAFormer)':
    'configs/mic/mic-daformer_mit-tiny_1xb2-1k_synthetic-128x128.py',
    'source-only(HRDA)':
    QUICKSTART + 'source-only-hrda_mit-tiny_1xb2-1k_synthetic-256x256.py',
    'HRDA': QUICKSTART + 'hrda_mit-tiny_1xb2-1k_synthetic-256x256.py',
}
#: method -> its matched baseline
BASELINE = {
    'DAFormer': 'source-only',
    'MIC(DAFormer)': 'source-only',
    'HRDA': 'source-only(HRDA)',
}


def train(config: str, roots: dict, work_dir: str, iters: int,
          seed: int, extra_opts: tuple = ()) -> dict:
    """Train ``config`` for ``iters`` iterations with ``tools/train.py``
    (``extra_opts``: more ``--cfg-options``, applied last); returns the
    final val mIoU and the wall time."""
    from mmseg_uda.datasets.synthetic import synthetic_root_options
    uda = Config.fromfile(config).train_dataloader.dataset.type == \
        'UDADataset'
    opts = [
        f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
        f'default_hooks.checkpoint.interval={iters}',
        f'default_hooks.logger.interval={max(1, iters // 20)}',
        f'randomness.seed={seed}',
        # the schedule follows the run length (warmup 10 %)
        f'param_scheduler.0.max_iters={iters}',
        f'param_scheduler.0.warmup_iters={max(iters // 10, 1)}',
    ] + synthetic_root_options(roots, uda) + list(extra_opts)
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.setdefault('OMP_NUM_THREADS', '1')
    start = time.time()
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', config, '--work-dir', work_dir,
         '--cfg-options', *opts],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    minutes = (time.time() - start) / 60
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-5000:])
        raise SystemExit(f'training {config} failed')
    rows = []
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                          'scalars.json'))):
        with open(path) as f:
            rows += [json.loads(line) for line in f if 'mIoU' in line]
    if not rows:
        raise SystemExit(f'no validation result in {work_dir}')
    return dict(mIoU=float(rows[-1]['mIoU']), minutes=minutes)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--iters', type=int, default=200)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--val-images', type=int, default=32)
    parser.add_argument('--work-dir', default='work_dirs/uda_gain')
    parser.add_argument('--methods', nargs='+', default=list(METHODS),
                        choices=list(METHODS))
    args = parser.parse_args()
    sys.path.insert(0, ROOT)
    from mmseg_uda.datasets.synthetic import generate_synthetic_uda
    data_dir = osp.join(args.work_dir, f'data_val{args.val_images}')
    roots = dict(gta=osp.join(data_dir, 'gta'),
                 cityscapes=osp.join(data_dir, 'cityscapes'))
    if not osp.exists(osp.join(roots['gta'], 'samples_with_class.json')):
        roots = generate_synthetic_uda(
            data_dir, num_target_val=args.val_images, seed=0)
    settings = dict(iters=args.iters, val_images=args.val_images)
    start = time.time()
    rows = []
    for seed in args.seeds:
        for name in args.methods:
            work_dir = osp.join(
                args.work_dir, name.replace('(', '-').replace(')', '').lower()
                + f'_seed{seed}')

            def run_one(name=name, seed=seed, work_dir=work_dir):
                r = train(osp.join(ROOT, METHODS[name]), roots, work_dir,
                          args.iters, seed)
                return dict(r, method=name, config=METHODS[name], seed=seed)

            rows.append(cached_run(work_dir, settings, run_one))
            r = rows[-1]
            print(f"{name:18s} seed {seed}  target mIoU {r['mIoU']:6.2f}  "
                  f"({r['minutes']:.1f} min)", flush=True)
    with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
        json.dump(rows, f)
    print(f'\n{args.iters} iterations, seeds {args.seeds}, '
          f'{args.val_images} val images, '
          f'{(time.time() - start) / 60:.1f} min in all')
    print(markdown_table(summarise(rows, BASELINE)))


if __name__ == '__main__':
    main()
