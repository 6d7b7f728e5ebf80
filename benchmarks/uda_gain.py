"""Does adaptation help? Target mIoU of source-only vs. UDA methods on the
synthetic domain-shift data (tiny MiT, CPU, minutes per run).

Rows (same data, seed, network, iterations and schedule; only the method
differs): source-only, DAFormer (DACS + RCS + feature distance + warmup),
MIC(DAFormer); ``--adversarial`` adds source-only DeepLab-v2, AdaptSegNet
and PFR from ``benchmarks/uda_gain_adversarial.py``. Each run goes through
``tools/train.py`` (a fresh process) with the quick-start configs, and the
number is the target val mIoU after the last iteration.

    python benchmarks/uda_gain.py [--iters 1000] [--work-dir DIR]
"""
import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
METHODS = {
    'source-only': 'configs/quickstart/'
    'source-only_mit-tiny_1xb2-1k_synthetic-128x128.py',
    'DAFormer': 'configs/quickstart/'
    'daformer_mit-tiny_1xb2-1k_synthetic-128x128.py',
    'MIC(DAFormer)': 'configs/mic/'
    'mic-daformer_mit-tiny_1xb2-1k_synthetic-128x128.py',
}


def train(config: str, roots: dict, work_dir: str, iters: int,
          seed: int) -> dict:
    """Train ``config`` for ``iters`` iterations; returns the final val
    metrics and the wall time."""
    uda = 'daformer' in config or 'mic' in config
    opts = [
        f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
        f'default_hooks.checkpoint.interval={iters}',
        f'val_dataloader.dataset.data_root={roots["cityscapes"]}',
        f'test_dataloader.dataset.data_root={roots["cityscapes"]}',
        f'randomness.seed={seed}',
        # the schedule follows the run length (warmup 10 %)
        f'param_scheduler.0.max_iters={iters}',
        f'param_scheduler.0.warmup_iters={max(iters // 10, 1)}',
    ]
    if uda:
        opts += [
            f'train_dataloader.dataset.source.data_root={roots["gta"]}',
            f'train_dataloader.dataset.target.data_root={roots["cityscapes"]}'
        ]
    else:
        opts.append(f'train_dataloader.dataset.data_root={roots["gta"]}')
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.setdefault('OMP_NUM_THREADS', '2')
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
    for path in glob.glob(osp.join(work_dir, '*', 'vis_data',
                                   'scalars.json')):
        with open(path) as f:
            rows += [json.loads(line) for line in f if 'mIoU' in line]
    if not rows:
        raise SystemExit(f'no validation result in {work_dir}')
    return dict(metrics=rows[-1], minutes=minutes)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--iters', type=int, default=1000)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--work-dir', default='work_dirs/uda_gain')
    parser.add_argument('--methods', nargs='+', default=list(METHODS),
                        choices=list(METHODS))
    parser.add_argument('--adversarial', action='store_true',
                        help='also run benchmarks/uda_gain_adversarial.py')
    args = parser.parse_args()
    sys.path.insert(0, ROOT)
    from mmseg_uda.datasets.synthetic import generate_synthetic_uda
    data_dir = osp.join(args.work_dir, 'data')
    roots = dict(gta=osp.join(data_dir, 'gta'),
                 cityscapes=osp.join(data_dir, 'cityscapes'))
    if not osp.exists(osp.join(roots['gta'], 'samples_with_class.json')):
        roots = generate_synthetic_uda(data_dir, seed=0)
    results = {}
    for name in args.methods:
        work_dir = osp.join(args.work_dir, name.replace('(', '-').replace(
            ')', '').lower())
        results[name] = train(
            osp.join(ROOT, METHODS[name]), roots, work_dir, args.iters,
            args.seed)
        r = results[name]
        print(f"{name:16s} target mIoU {r['metrics']['mIoU']:6.2f}  "
              f"({r['minutes']:.1f} min)", flush=True)
    if args.adversarial:
        sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
        import uda_gain_adversarial
        rows = uda_gain_adversarial.run(
            osp.join(args.work_dir, 'adversarial'), iters=args.iters,
            seeds=[args.seed])
        for row in rows:
            print(f"{row['method']:16s} target mIoU {row['mIoU']:6.2f}  "
                  f"({row['minutes']:.1f} min)", flush=True)
    if 'source-only' in results:
        base = results['source-only']['metrics']['mIoU']
        for name, r in results.items():
            if name != 'source-only':
                print(f"{name}: {r['metrics']['mIoU'] - base:+.2f} mIoU over "
                      'source-only')


if __name__ == '__main__':
    main()
