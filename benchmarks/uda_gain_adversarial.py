"""Target mIoU of AdaptSegNet and PFR against their matched baselines on the
synthetic domain-shift data (CPU), over several seeds.

Each method is compared with its **matched baseline**: the same zoo config
(segmentor, auxiliary head, discriminators, data pipeline, optimizers,
batch norm, one source and one target forward per iteration) with every
adaptation weight set to 0 (AdaptSegNet: ``lambda_adv`` and
``lambda_adv_aux``; PFR: ``lambda_adv`` and ``pfr_loss.loss_weight``), so
the difference is the adaptation loss and nothing else:

============  ====================================================
method        config
============  ====================================================
advseg-w0     configs/advseg (multi-level), adversarial weights 0
advseg        configs/advseg (multi-level), weights 0.001 / 0.0002
pfr-w0        configs/pfr, adversarial and PFR weights 0
pfr           configs/pfr, weights 0.002 / 0.004
source-only   configs/source_only/deeplabv2 (optional: no target
              forward, no auxiliary head)
============  ====================================================

The configs are scaled down for a CPU: a narrow dilated ResNet-18
(``--base-channels``; the discriminators' widths scaled by the same factor
from 64..512) trained from scratch with the configs' batch norm (training
mode, affine parameters frozen, as the AdaptSegNet reference),
``--crop`` crops, ``--batch`` source (+ target) crops per iteration (1,
as the configs),
``--iters`` iterations, SGD at ``--lr`` (a rate suited to a randomly
initialised network, poly 0.9 over the run, heads x10) and the
discriminators' Adam at the reference ratio to it (1e-4 / 2.5e-4 = 0.4 x
``--lr``). Every method sees the same data and, per seed, the same
initialisation and sample order; the number is the mIoU over 19 classes on
``--val-images`` synthetic target val images after the last iteration.

Usage::

    python benchmarks/uda_gain_adversarial.py --iters 300 --seeds 0 1 2

It prints one line per run, then a table with the mean ± std over the
seeds and the gain over the matched baseline (mean ± std of the per-seed
differences), writes the rows to ``WORK_DIR/results.json`` and the
generator and discriminator loss curves to ``WORK_DIR/loss_curves.png``.
"""
import argparse
import copy
import glob
import json
import os
import os.path as osp
import statistics
import time

from seed_stats import cached_run, markdown_table, summarise

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
ADVSEG = ('configs/advseg/'
          'advseg_deeplabv2-r101_1xb1-150k_gta2cityscapes-512x512.py')
PFR = 'configs/pfr/pfr_deeplabv2-r101_1xb1-150k_gta2cityscapes-512x512.py'
SOURCE_ONLY = ('configs/source_only/'
               'deeplabv2_r101_1xb1-150k_gta2cityscapes-512x512.py')
#: method -> (config, adaptation switched off?)
METHODS = {
    'advseg-w0': (ADVSEG, True),
    'advseg': (ADVSEG, False),
    'pfr-w0': (PFR, True),
    'pfr': (PFR, False),
    'source-only': (SOURCE_ONLY, True),
}
DEFAULT_METHODS = ['advseg-w0', 'advseg', 'pfr-w0', 'pfr']
#: method -> its matched baseline
BASELINE = {'advseg': 'advseg-w0', 'pfr': 'pfr-w0'}
SYNTHETIC = 'configs/_base_/datasets/synthetic_uda.py'
#: the reference optimizers' learning rates (AdaptSegNet's SGD and Adam)
REF_LR, REF_D_LR = 2.5e-4, 1e-4


def tiny_config(method: str, data_root: str, work_dir: str, iters: int,
                seed: int, base_channels: int = 16, lr: float = 5e-3,
                batch_size: int = 1, crop: int = 128, log_points: int = 40):
    """The zoo config of ``method`` scaled down for the synthetic data."""
    from mmengine.config import Config

    config, ablate = METHODS[method]
    cfg = Config.fromfile(osp.join(ROOT, config))
    data = Config.fromfile(osp.join(ROOT, SYNTHETIC))
    uda = method != 'source-only'
    roots = dict(gta=osp.join(data_root, 'gta'),
                 cityscapes=osp.join(data_root, 'cityscapes'))
    train = copy.deepcopy(data.train_dataloader)
    train.dataset.source.data_root = roots['gta']
    train.dataset.target.data_root = roots['cityscapes']
    train.dataset.rare_class_sampling = None
    train.batch_size = batch_size
    train.num_workers = 1
    for branch in (train.dataset.source, train.dataset.target):
        for t in branch.pipeline:
            if t.type == 'RandomCrop':
                t.crop_size = (crop, crop)
    if not uda:
        train = dict(
            batch_size=batch_size, num_workers=1, persistent_workers=True,
            sampler=dict(type='InfiniteSampler', shuffle=True),
            dataset=train.dataset.source)
    cfg.train_dataloader = train
    val = copy.deepcopy(data.val_dataloader)
    val.dataset.data_root = roots['cityscapes']
    val.num_workers = 1
    cfg.val_dataloader = cfg.test_dataloader = val
    cfg.val_evaluator = cfg.test_evaluator = data.val_evaluator

    seg = cfg.model.segmentor if uda else cfg.model
    # the segmentor's and the top-level one (the Runner injects it)
    seg.data_preprocessor.size = (crop, crop)
    cfg.data_preprocessor.size = (crop, crop)
    c = base_channels
    # batch norm as configured (train mode, frozen affine): only the size
    # of the network changes
    seg.backbone.update(depth=18, base_channels=c, stem_channels=c,
                        init_cfg=None)
    seg.decode_head.in_channels = 8 * c
    if seg.get('auxiliary_head'):
        seg.auxiliary_head.in_channels = 4 * c
    if uda:
        for key in ('discriminator', 'aux_discriminator'):
            if cfg.model.get(key):
                cfg.model[key].channels = tuple(
                    max(1, ch * c // 64) for ch in (64, 128, 256, 512))
        if ablate:  # the matched baseline: adaptation weights 0
            cfg.model.lambda_adv = 0.0
            cfg.model.lambda_adv_aux = 0.0
            if cfg.model.get('pfr_loss'):
                cfg.model.pfr_loss.loss_weight = 0.0
        # the discriminators keep the reference ratio to the generator
        for key, wrapper in cfg.optim_wrapper.items():
            if key not in ('constructor', 'student'):
                wrapper.optimizer.lr = lr * REF_D_LR / REF_LR
        cfg.optim_wrapper.student.optimizer.lr = lr
    else:
        cfg.optim_wrapper.optimizer.lr = lr
    cfg.param_scheduler = [
        dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=iters,
             by_epoch=False)
    ]
    cfg.train_cfg.update(max_iters=iters, val_interval=iters)
    cfg.default_hooks.checkpoint.update(interval=iters, max_keep_ckpts=1)
    cfg.default_hooks.logger.interval = max(1, iters // log_points)
    cfg.randomness = dict(seed=seed)
    cfg.work_dir = work_dir
    # mmengine keeps one visualizer per name in the process: a name of its
    # own per run, or every run logs into the first run's directory
    cfg.visualizer.name = f'visualizer_{osp.abspath(work_dir)}'
    return cfg


def read_curves(work_dir: str) -> dict:
    """``{key: ([iter, ...], [value, ...])}`` of the training losses logged
    in ``work_dir``'s newest ``scalars.json``."""
    paths = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    curves = {}
    if not paths:
        return curves
    with open(paths[-1]) as f:
        for line in f:
            row = json.loads(line)
            if 'mIoU' in row or 'iter' not in row:
                continue
            for key, value in row.items():
                if 'loss' in key:
                    its, vals = curves.setdefault(key, ([], []))
                    its.append(row['iter'])
                    vals.append(value)
    return curves


def run(work_dir: str, iters: int = 300, seeds=(0, 1, 2), methods=None,
        base_channels: int = 16, lr: float = 5e-3, batch_size: int = 1,
        crop: int = 128, val_images: int = 32) -> list:
    """Train and evaluate every method for every seed; one row per run.
    A run whose ``result.json`` exists with the same settings is not
    repeated (an interrupted benchmark continues where it stopped)."""
    # mmseg_uda first: it installs the mmcv-lite shim
    import mmseg_uda  # noqa: F401, I001
    from mmengine.runner import Runner
    from mmseg_uda.datasets.synthetic import generate_synthetic_uda

    data_root = osp.join(work_dir, f'synthetic_uda_val{val_images}')
    if not osp.isdir(osp.join(data_root, 'cityscapes')):
        generate_synthetic_uda(data_root, num_target_val=val_images, seed=0)
    settings = dict(iters=iters, base_channels=base_channels, lr=lr,
                    batch_size=batch_size, crop=crop, val_images=val_images)
    rows = []
    for seed in seeds:
        for method in methods or DEFAULT_METHODS:
            out = osp.join(work_dir, f'{method}_seed{seed}')

            def train(method=method, seed=seed, out=out):
                cfg = tiny_config(method, data_root, out, iters, seed,
                                  base_channels, lr, batch_size, crop)
                start = time.time()
                runner = Runner.from_cfg(cfg)
                runner.train()
                metrics = runner.val_loop.run()
                return dict(method=method, config=METHODS[method][0],
                            seed=seed, mIoU=float(metrics['mIoU']),
                            minutes=(time.time() - start) / 60,
                            curves=read_curves(out))

            rows.append(cached_run(out, settings, train))
            print({k: v for k, v in rows[-1].items()
                   if k not in ('curves', 'settings')}, flush=True)
    return rows


def plot_curves(rows: list, path: str) -> None:
    """Generator (adversarial, unweighted) and discriminator losses, and
    the source segmentation loss, per method averaged over the seeds."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = [
        ('generator: L_adv(D(p_t), source) / lambda_adv', 'tgt.loss_adv'),
        ('discriminator: (L(D(p_s), 0) + L(D(p_t), 1)) / 2',
         ('disc.src_loss', 'disc.tgt_loss')),
        ('source segmentation loss (decode head)', 'src.decode.loss_ce'),
    ]
    fig = Figure(figsize=(15, 4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels))
    methods = list(dict.fromkeys(r['method'] for r in rows))
    lambdas = {'advseg': 0.001, 'pfr': 0.002}
    for ax, (title, key) in zip(axes, panels):
        for method in methods:
            runs = [r['curves'] for r in rows if r['method'] == method]
            keys = key if isinstance(key, tuple) else (key, )
            if not runs or not all(k in runs[0] for k in keys):
                continue
            if key == 'tgt.loss_adv' and method not in lambdas:
                continue  # weight 0: the logged (weighted) loss is 0
            its = runs[0][keys[0]][0]
            n = min(len(r[k][1]) for r in runs for k in keys)
            vals = [
                sum(statistics.fmean(r[k][1][i] for r in runs)
                    for k in keys) for i in range(n)
            ]
            if key == 'tgt.loss_adv':
                vals = [v / lambdas[method] for v in vals]
            ax.plot(its[:n], vals, label=method)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel('iteration')
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--work-dir', default='work_dirs/uda_gain_adversarial')
    p.add_argument('--iters', type=int, default=300)
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--methods', nargs='+', choices=list(METHODS),
                   default=DEFAULT_METHODS)
    p.add_argument('--base-channels', type=int, default=16)
    p.add_argument('--lr', type=float, default=5e-3)
    p.add_argument('--batch', type=int, default=1)
    p.add_argument('--crop', type=int, default=128)
    p.add_argument('--val-images', type=int, default=32)
    a = p.parse_args()
    os.makedirs(a.work_dir, exist_ok=True)
    start = time.time()
    rows = run(a.work_dir, a.iters, a.seeds, a.methods, a.base_channels,
               a.lr, a.batch, a.crop, a.val_images)
    with open(osp.join(a.work_dir, 'results.json'), 'w') as f:
        json.dump(rows, f)
    plot_curves(rows, osp.join(a.work_dir, 'loss_curves.png'))
    print(f'\n{a.iters} iterations, seeds {a.seeds}, {a.val_images} val '
          f'images, {(time.time() - start) / 60:.1f} min in all')
    print(markdown_table(summarise(rows, BASELINE)))
    print(f"loss curves: {osp.join(a.work_dir, 'loss_curves.png')}")


if __name__ == '__main__':
    main()
