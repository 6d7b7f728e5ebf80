"""Target mIoU of source-only DeepLab-v2, AdaptSegNet and PFR on the
synthetic domain-shift data (CPU, minutes).

The zoo configs (``configs/source_only/deeplabv2_*``, ``configs/advseg``,
``configs/pfr``) are scaled down: a narrow dilated ResNet-18
(``--base-channels``; the discriminators' widths scaled by the same factor
from 64..512) trained from scratch, the synthetic data at its
128x128 crops, ``--iters`` iterations with 2 source (+ 2 target) crops each,
SGD at a learning rate suited to a randomly initialised network (poly 0.9
over the run, head x10), the discriminator's Adam as the reference. The
adversarial and PFR weights are the reference ones (multi-level
AdaptSegNet: 0.001/0.0002; PFR: 0.002 and 0.004). Every method sees the
same seeds, data and iterations; the number is the mIoU on the synthetic
target val split after the last iteration, over ``--seeds`` seeds.

Usage::

    python benchmarks/uda_gain_adversarial.py [--iters 1000] [--seeds 0 1]

or from Python: ``rows = run(work_dir, iters=..., seeds=...)``, a list of
``dict(method=..., config=..., seed=..., mIoU=..., minutes=...)`` rows
plus ``summarise(rows)`` for the mean per method.
"""
import argparse
import copy
import os
import os.path as osp
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
METHODS = dict(
    source_only='configs/source_only/'
    'deeplabv2_r101_1xb1-150k_gta2cityscapes-512x512.py',
    adaptsegnet='configs/advseg/'
    'advseg_deeplabv2-r101_1xb1-150k_gta2cityscapes-512x512.py',
    pfr='configs/pfr/pfr_deeplabv2-r101_1xb1-150k_gta2cityscapes-512x512.py')
SYNTHETIC = 'configs/_base_/datasets/synthetic_uda.py'


def tiny_config(method: str, data_root: str, work_dir: str, iters: int,
                seed: int, base_channels: int = 16, lr: float = 5e-3,
                batch_size: int = 2):
    """The zoo config of ``method`` scaled down for the synthetic data."""
    from mmengine.config import Config

    cfg = Config.fromfile(osp.join(ROOT, METHODS[method]))
    data = Config.fromfile(osp.join(ROOT, SYNTHETIC))
    roots = dict(gta=osp.join(data_root, 'gta'),
                 cityscapes=osp.join(data_root, 'cityscapes'))
    train = copy.deepcopy(data.train_dataloader)
    train.dataset.source.data_root = roots['gta']
    train.dataset.target.data_root = roots['cityscapes']
    train.dataset.rare_class_sampling = None
    train.batch_size = batch_size
    if method == 'source_only':
        train = dict(
            batch_size=batch_size, num_workers=train.num_workers,
            persistent_workers=True,
            sampler=dict(type='InfiniteSampler', shuffle=True),
            dataset=train.dataset.source)
        cfg.train_cfg = dict(type='IterBasedTrainLoop')
    cfg.train_dataloader = train
    val = copy.deepcopy(data.val_dataloader)
    val.dataset.data_root = roots['cityscapes']
    cfg.val_dataloader = cfg.test_dataloader = val
    cfg.val_evaluator = cfg.test_evaluator = data.val_evaluator

    seg = cfg.model if method == 'source_only' else cfg.model.segmentor
    crop = data.crop_size
    # the segmentor's and the top-level one (the Runner injects it)
    seg.data_preprocessor.size = crop
    cfg.data_preprocessor.size = crop
    c = base_channels
    seg.backbone.update(
        depth=18, base_channels=c, stem_channels=c, init_cfg=None,
        norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False)
    seg.decode_head.in_channels = 8 * c
    if seg.get('auxiliary_head'):
        seg.auxiliary_head.in_channels = 4 * c
    if method != 'source_only':  # discriminators scaled like the network
        for key in ('discriminator', 'aux_discriminator'):
            if cfg.model.get(key):
                cfg.model[key].channels = tuple(
                    max(1, ch * c // 64) for ch in (64, 128, 256, 512))

    student = (cfg.optim_wrapper if method == 'source_only' else
               cfg.optim_wrapper.student)
    student.optimizer.lr = lr
    cfg.param_scheduler = [
        dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=iters,
             by_epoch=False)
    ]
    cfg.train_cfg.update(max_iters=iters, val_interval=iters)
    cfg.default_hooks.checkpoint.update(interval=iters, max_keep_ckpts=1)
    cfg.default_hooks.logger.interval = max(1, iters // 10)
    cfg.randomness = dict(seed=seed)
    cfg.work_dir = work_dir
    return cfg


def run(work_dir: str, iters: int = 1000, seeds=(0, ), methods=None,
        base_channels: int = 16, lr: float = 5e-3) -> list:
    """Train and evaluate every method; returns one row per run."""
    # mmseg_uda first: it installs the mmcv-lite shim
    import mmseg_uda  # noqa: F401, I001
    from mmengine.runner import Runner
    from mmseg_uda.datasets.synthetic import generate_synthetic_uda

    data_root = osp.join(work_dir, 'synthetic_uda')
    if not osp.isdir(osp.join(data_root, 'cityscapes')):
        generate_synthetic_uda(data_root, seed=0)
    rows = []
    for seed in seeds:
        for method in methods or list(METHODS):
            out = osp.join(work_dir, f'{method}_seed{seed}')
            cfg = tiny_config(method, data_root, out, iters, seed,
                              base_channels, lr)
            start = time.time()
            runner = Runner.from_cfg(cfg)
            runner.train()
            metrics = runner.val_loop.run()
            rows.append(
                dict(method=method, config=METHODS[method], seed=seed,
                     mIoU=float(metrics['mIoU']),
                     minutes=(time.time() - start) / 60))
            print(rows[-1], flush=True)
    return rows


def summarise(rows: list) -> list:
    """Mean target mIoU per method, and the gain over source-only."""
    out = []
    by_method = {}
    for row in rows:
        by_method.setdefault(row['method'], []).append(row['mIoU'])
    base = by_method.get('source_only')
    base_mean = sum(base) / len(base) if base else None
    for method, values in by_method.items():
        mean = sum(values) / len(values)
        out.append(dict(
            method=method, mIoU=mean, runs=len(values),
            gain=None if base_mean is None else mean - base_mean))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--work-dir', default='work_dirs/uda_gain_adversarial')
    p.add_argument('--iters', type=int, default=1000)
    p.add_argument('--seeds', type=int, nargs='+', default=[0])
    p.add_argument('--methods', nargs='+', choices=list(METHODS))
    p.add_argument('--base-channels', type=int, default=16)
    p.add_argument('--lr', type=float, default=5e-3)
    a = p.parse_args()
    os.makedirs(a.work_dir, exist_ok=True)
    rows = run(a.work_dir, a.iters, a.seeds, a.methods, a.base_channels,
               a.lr)
    print('\n| method | target mIoU (synthetic) | gain vs source-only |'
          ' runs |')
    print('|---|---|---|---|')
    for r in summarise(rows):
        gain = '' if r['gain'] is None else f"{r['gain']:+.2f}"
        print(f"| {r['method']} | {r['mIoU']:.2f} | {gain} | {r['runs']} |")


if __name__ == '__main__':
    main()
