"""The quick-start demo (``make demo``).

    python tools/quickstart.py                  # DAFormer, ~10 min
    python tools/quickstart.py --method hrda    # or UDA_METHOD=mic ...
    python tools/quickstart.py --iters 4 --val-interval 2 --num-vis 2 \\
        --work-dir work_dirs/quickstart_tiny    # smoke test

On a CPU and without downloads: generate the synthetic domain-shift data,
train a source-only and a UDA model (DAFormer by default; HRDA or MIC with
``--method`` / ``UDA_METHOD``) with the tiny MiT quick-start configs,
evaluate both on the target val split, print per-class IoU and mIoU, and
write

- ``<work_dir>/figure.png``: one row per val image, four panels:
  target image | source-only | <method> | ground truth;
- ``<work_dir>/miou_curve.png``: target mIoU over the iterations of both
  runs (read from each run's ``vis_data/scalars.json``);
- ``<work_dir>/results.json``: the numbers behind the table and plots.

It also prints the label-free health of the UDA run (the
``SelfTrainingHealthHook`` entries: confident share of the pseudo-labels,
teacher-student agreement, entropy, collapse alarms) with whether its
self-training was on, and the ranking of its checkpoints (one per
validation) by the label-free criteria of
``tools/analysis_tools/rank_checkpoints.py``, next to their true mIoU
(docs/model_selection.md).

A finished run is reused when its settings match (the source-only baseline
is trained once for all methods); ``--retrain`` trains again.
"""
import argparse
import contextlib
import gc
import glob
import json
import math
import os
import os.path as osp
import sys
import time
import warnings
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.hooks import Hook

# Default iterations of each run per method: chosen so that the source-only
# and the UDA run of the default method take about ten minutes in all on an
# idle 2-core CPU (see docs/get_started.md for the measured times).
DEFAULT_ITERS = {'daformer': 600, 'mic': 500, 'hrda': 250}
METHODS = {
    'daformer': ('DAFormer',
                 'quickstart/daformer_mit-tiny_1xb2-1k_synthetic-128x128.py'),
    'hrda': ('HRDA', 'quickstart/hrda_mit-tiny_1xb2-1k_synthetic-256x256.py'),
    'mic': ('MIC(DAFormer)',
            'mic/mic-daformer_mit-tiny_1xb2-1k_synthetic-128x128.py'),
}
SOURCE_ONLY = ('source-only',
               'quickstart/source-only_mit-tiny_1xb2-1k_synthetic-128x128.py')
ENV_METHOD = 'UDA_METHOD'
DATA_SETTINGS = dict(num_source=24, num_target_train=16, num_target_val=8,
                     seed=0)
_RUN_RECORD = 'quickstart_run.json'


def config_dir() -> str:
    """``configs/`` next to this ``tools/`` folder: the repository's, or
    ``mmseg_uda/.mim/configs`` of an installed package."""
    cand = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                    'configs')
    if not osp.isdir(cand):
        raise FileNotFoundError(
            f'cannot find the configs/ folder of mmseg_uda at {cand}')
    return cand


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog='tools/quickstart.py',
        description='Quick-start: source-only vs UDA on synthetic '
        'domain-shift data, on CPU.')
    p.add_argument(
        '--method', choices=sorted(METHODS),
        default=os.environ.get(ENV_METHOD, 'daformer').lower() or 'daformer',
        help=f'UDA method to compare with source-only (default: '
        f'${ENV_METHOD} or daformer)')
    p.add_argument(
        '--iters', type=int, default=None,
        help='training iterations of each run (default per method: ' +
        ', '.join(f'{k} {v}' for k, v in DEFAULT_ITERS.items()) + ')')
    p.add_argument('--val-interval', type=int, default=None,
                   help='validate every N iterations (default: iters/5)')
    p.add_argument('--num-vis', type=int, default=4,
                   help='val images in figure.png')
    p.add_argument('--work-dir', default='work_dirs/quickstart',
                   help='every output goes here')
    p.add_argument('--data-dir', default=None,
                   help='synthetic data (default: <work-dir>/data; '
                   'generated when missing)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--workers', type=int, default=1,
                   help='training dataloader workers per run')
    p.add_argument('--threads', type=int, default=None,
                   help='torch intra-op threads (default: torch\'s, or '
                   '$OMP_NUM_THREADS)')
    p.add_argument('--retrain', action='store_true',
                   help='train again even if a matching run exists')
    args = p.parse_args(argv)
    if args.method not in METHODS:  # from the environment variable
        p.error(f'{ENV_METHOD}={args.method!r}: choose from '
                f'{sorted(METHODS)}')
    if args.iters is None:
        args.iters = DEFAULT_ITERS[args.method]
    if args.iters < 1:
        p.error('--iters must be >= 1')
    if args.val_interval is None:
        args.val_interval = max(1, args.iters // 5)
    if args.num_vis < 1:
        p.error('--num-vis must be >= 1')
    if args.data_dir is None:
        args.data_dir = osp.join(args.work_dir, 'data')
    return args


# ---------------------------------------------------------------- data
def prepare_data(data_dir: str, out=sys.stdout) -> Dict[str, str]:
    """Generate (or reuse) the synthetic data; returns its roots."""
    from mmseg_uda.datasets.synthetic import generate_synthetic_uda
    roots = dict(gta=osp.join(data_dir, 'gta'),
                 cityscapes=osp.join(data_dir, 'cityscapes'))
    marker = osp.join(data_dir, 'quickstart_data.json')
    if osp.exists(marker):
        with open(marker) as f:
            if json.load(f) == DATA_SETTINGS:
                print(f'Data: reusing {data_dir}', file=out)
                return roots
    if osp.isdir(osp.join(data_dir, 'gta', 'images')) and osp.isdir(
            osp.join(data_dir, 'cityscapes', 'gtFine', 'val')) and glob.glob(
                osp.join(data_dir, 'gta', '*.json')):
        # generated elsewhere (tools/misc/generate_synthetic_uda.py, tests)
        print(f'Data: using the synthetic data in {data_dir}', file=out)
        return roots
    t0 = time.time()
    print(f'Data: generating the synthetic domain-shift data in {data_dir}',
          file=out)
    os.makedirs(data_dir, exist_ok=True)
    with open(osp.join(data_dir, 'generate.log'), 'w') as log, \
            contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        roots = generate_synthetic_uda(data_dir, **DATA_SETTINGS)
    with open(marker, 'w') as f:
        json.dump(DATA_SETTINGS, f)
    print(f'Data: done in {time.time() - t0:.1f} s', file=out)
    return roots


# ---------------------------------------------------------------- configs
def build_cfg(config: str, roots: Dict[str, str], work_dir: str, iters: int,
              val_interval: int, seed: int = 0, workers: int = 1):
    """The quick-start ``config`` on the data at ``roots``, shortened to
    ``iters`` iterations (the poly schedule and its warmup follow)."""
    from mmengine.config import Config

    from mmseg_uda.datasets.synthetic import use_synthetic_roots
    cfg = Config.fromfile(config)
    use_synthetic_roots(cfg, roots)
    cfg.train_dataloader.num_workers = workers
    cfg.train_dataloader.persistent_workers = workers > 0
    for key in ('val_dataloader', 'test_dataloader'):
        cfg[key].num_workers = 0
        cfg[key].persistent_workers = False
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = val_interval
    for sched in cfg.param_scheduler:
        if 'max_iters' in sched:
            sched.max_iters = iters
        if 'end' in sched:
            sched.end = iters
        if sched.get('warmup_iters', 0) > iters // 5:
            sched.warmup_iters = iters // 5
    # a checkpoint per validation, all kept: the demo ranks them
    cfg.default_hooks.checkpoint.interval = val_interval
    cfg.default_hooks.checkpoint.max_keep_ckpts = -1
    cfg.default_hooks.logger.interval = max(1, min(10, iters // 10))
    cfg.randomness = dict(seed=seed)
    # Several runners in one process: mmengine's visualizer and logger are
    # named singletons; unique names keep each run's scalars.json and log in
    # its own work_dir.
    tag = f'{osp.basename(osp.normpath(work_dir))}_{time.time_ns()}'
    cfg.visualizer.name = f'visualizer_{tag}'
    cfg.experiment_name = f'quickstart_{tag}'
    cfg.work_dir = work_dir
    return cfg


# ---------------------------------------------------------------- training
class ProgressHook(Hook):
    """Compact progress display of a training run (a bar on a terminal, a
    line per 10 % otherwise) and the validation mIoU as it comes."""

    priority = 'VERY_LOW'

    def __init__(self, name: str, out, total: int):
        self.name, self.out, self.total = name, out, total
        self.tty = hasattr(out, 'isatty') and out.isatty()
        self.t0 = time.time()
        self.c0 = time.process_time()
        self.val_time = 0.0
        self.val_cpu = 0.0
        self.tv = self.cv = None
        self.last_pct = -1
        self.bar_open = False

    def before_train(self, runner) -> None:
        self.t0, self.c0 = time.time(), time.process_time()

    def before_val_epoch(self, runner) -> None:
        self.tv, self.cv = time.time(), time.process_time()

    def after_val_epoch(self, runner, metrics=None) -> None:
        if self.tv is not None:
            self.val_time += time.time() - self.tv
            self.val_cpu += time.process_time() - self.cv
        if metrics and 'mIoU' in metrics:
            self._end_bar()
            print(f'  {self.name:<14} iter {runner.iter:>5}: target mIoU '
                  f'{metrics["mIoU"]:.2f}', file=self.out, flush=True)

    def train_time(self) -> float:
        """Seconds spent training so far (validation excluded)."""
        return time.time() - self.t0 - self.val_time

    def train_cpu_time(self) -> float:
        """CPU seconds of this process spent training (all its threads;
        not the dataloader workers)."""
        return time.process_time() - self.c0 - self.val_cpu

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        done = runner.iter + 1
        spi = self.train_time() / done
        eta = _fmt(spi * (self.total - done))
        loss = sum(float(v) for k, v in (outputs or {}).items()
                   if 'loss' in k)
        pct = 100 * done // self.total
        if self.tty:
            bar = '#' * (pct // 5) + '-' * (20 - pct // 5)
            self.out.write(f'\r  {self.name:<14} [{bar}] {done:>5}/'
                           f'{self.total}  {spi:5.2f} s/it  eta {eta}  '
                           f'loss {loss:.3f} ')
            self.out.flush()
            self.bar_open = True
        elif pct // 10 != self.last_pct // 10 or done == self.total:
            print(f'  {self.name:<14} {done:>5}/{self.total} ({pct:3d}%)  '
                  f'{spi:.2f} s/it  eta {eta}  loss {loss:.3f}',
                  file=self.out, flush=True)
        self.last_pct = pct

    def after_train(self, runner) -> None:
        self._end_bar()

    def _end_bar(self) -> None:
        if self.bar_open:
            self.out.write('\n')
            self.bar_open = False


def _fmt(seconds: float) -> str:
    seconds = int(round(seconds))
    return f'{seconds // 60}:{seconds % 60:02d}'


def read_val_history(work_dir: str) -> List[List[float]]:
    """``[[iteration, mIoU], ...]`` of the latest run in ``work_dir``."""
    paths = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    rows = []
    if paths:
        with open(paths[-1]) as f:
            rows = [json.loads(line) for line in f if line.strip()]
    return [[r['step'], r['mIoU']] for r in rows if 'mIoU' in r]


def train_run(name: str, config: str, roots: Dict[str, str], work_dir: str,
              args: argparse.Namespace, out=sys.stdout) -> dict:
    """Train ``config`` (or reuse a finished run with the same settings);
    returns the run record (checkpoint, timings, validation history)."""
    from mmengine.runner import Runner

    settings = dict(config=osp.relpath(config, config_dir()),
                    iters=args.iters, val_interval=args.val_interval,
                    seed=args.seed, data=osp.abspath(roots['gta']))
    record_path = osp.join(work_dir, _RUN_RECORD)
    ckpt = osp.join(work_dir, f'iter_{args.iters}.pth')
    if not args.retrain and osp.exists(record_path) and osp.exists(ckpt):
        with open(record_path) as f:
            record = json.load(f)
        if record.get('settings') == settings:
            print(f'  {name:<14} reusing the finished run in {work_dir} '
                  '(--retrain to train again)', file=out)
            return record
    cfg = build_cfg(config, roots, work_dir, args.iters, args.val_interval,
                    args.seed, args.workers)
    os.makedirs(work_dir, exist_ok=True)
    progress = ProgressHook(name, out, args.iters)
    t0 = time.time()
    # mmengine's console output (config dump, logger lines) goes to
    # <work_dir>/console.log; the log file of the run has it too.
    with open(osp.join(work_dir, 'console.log'), 'a') as log, \
            contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        if 'runner_type' in cfg:
            from mmseg.registry import RUNNERS
            runner = RUNNERS.build(cfg)
        else:
            runner = Runner.from_cfg(cfg)
        runner.register_hook(progress)
        runner.train()
        # the logger's console handler points at `log`: detach it
        for handler in list(runner.logger.handlers):
            if getattr(handler, 'stream', None) is log:
                runner.logger.removeHandler(handler)
        del runner
        gc.collect()
    total = time.time() - t0
    train_time = progress.train_time()
    record = dict(
        settings=settings, checkpoint=ckpt, wall_time_s=round(total, 1),
        train_time_s=round(train_time, 1),
        sec_per_iter=round(train_time / args.iters, 4),
        cpu_sec_per_iter=round(progress.train_cpu_time() / args.iters, 4),
        threads=torch.get_num_threads(), workers=args.workers,
        val_history=read_val_history(work_dir))
    with open(record_path, 'w') as f:
        json.dump(record, f, indent=1)
    return record


# ---------------------------------------------------------------- evaluation
def evaluate(cfg, checkpoint: str, num_vis: int) -> dict:
    """Run the checkpoint on the target val split: per-class intersection,
    union and label areas (mmseg's IoUMetric definitions) and the first
    ``num_vis`` (image, prediction, label) triples."""
    import cv2
    from mmengine.runner import Runner
    from mmseg.apis import init_model
    model = init_model(cfg.copy(), checkpoint, device='cpu')
    loader = Runner.build_dataloader(cfg.val_dataloader)
    num_classes = len(loader.dataset.metainfo['classes'])
    inter = np.zeros(num_classes, np.int64)
    union = np.zeros(num_classes, np.int64)
    area_label = np.zeros(num_classes, np.int64)
    vis = []
    with torch.no_grad():
        for batch in loader:
            for sample in model.test_step(batch):
                pred = sample.pred_sem_seg.data[0].cpu().numpy()
                gt = sample.gt_sem_seg.data[0].cpu().numpy()
                valid = gt != 255
                p, g = pred[valid], gt[valid]
                bins = lambda x: np.bincount(x, minlength=num_classes)  # noqa
                i = bins(p[p == g])
                ap, ag = bins(p), bins(g)
                inter += i
                union += ap + ag - i
                area_label += ag
                if len(vis) < num_vis:
                    img = cv2.imread(sample.img_path)[..., ::-1]
                    vis.append(dict(image=np.ascontiguousarray(img),
                                    pred=pred, gt=gt,
                                    name=osp.basename(sample.img_path)))
    del model
    gc.collect()
    with np.errstate(invalid='ignore', divide='ignore'):
        iou = inter / union
    return dict(iou=iou, area_label=area_label, vis=vis,
                classes=list(loader.dataset.metainfo['classes']))


def miou(iou: np.ndarray) -> float:
    """mmseg's mIoU (%): mean over classes with a non-empty union."""
    return float(np.nanmean(iou) * 100) if np.any(~np.isnan(iou)) else \
        float('nan')


def format_table(classes: Sequence[str], columns: Dict[str, np.ndarray],
                 area_label: np.ndarray) -> str:
    """Per-class IoU (%) of each column, the difference of the last two and
    mIoU; '-' where a class is neither labelled nor predicted. Classes
    without a val pixel are marked '*' (their IoU is 0 when predicted, as in
    mmseg's IoUMetric)."""
    names = list(columns)
    width = max(10, *(len(n) + 1 for n in names))
    head = f'{"class":<15}' + ''.join(f'{n:>{width}}' for n in names)
    if len(names) >= 2:
        head += f'{"delta":>8}'
    lines = [head, '-' * len(head)]

    def cell(v, w):
        return f'{"-":>{w}}' if math.isnan(v) else f'{100 * v:>{w}.2f}'

    for c, name in enumerate(classes):
        label = name + (' *' if area_label[c] == 0 else '')
        row = f'{label:<15}' + ''.join(
            cell(columns[n][c], width) for n in names)
        if len(names) >= 2:
            a, b = columns[names[-2]][c], columns[names[-1]][c]
            row += f'{"-":>8}' if math.isnan(a) or math.isnan(b) else \
                f'{100 * (b - a):>+8.2f}'
        lines.append(row)
    lines.append('-' * len(head))
    ms = [miou(columns[n]) for n in names]
    row = f'{"mIoU":<15}' + ''.join(f'{m:>{width}.2f}' for m in ms)
    if len(names) >= 2:
        row += f'{ms[-1] - ms[-2]:>+8.2f}'
    lines.append(row)
    if np.any(area_label == 0):
        lines.append('* not in the val labels; - neither labelled nor '
                     'predicted (excluded from mIoU)')
    return '\n'.join(lines)


# ---------------------------------------------------------------- health
def read_health(work_dir: str) -> List[dict]:
    """The ``SelfTrainingHealthHook`` entries of the latest run in
    ``work_dir`` (``<timestamp>/health.json``; [] without)."""
    paths = sorted(glob.glob(osp.join(work_dir, '*', 'health.json')))
    if not paths:
        return []
    with open(paths[-1]) as f:
        return json.load(f)


def format_health(entries: List[dict], name: str) -> str:
    """The health lines of each validation and the verdict on whether
    self-training was on."""
    from mmseg_uda.engine.hooks.self_training_health_hook import (
        SELF_TRAINING_OFF_ADVICE,
        format_summary,
    )
    if not entries:
        return f'{name}: no health entries (no validation ran)'
    lines = ['  ' + format_summary(e) + (
        ' [' + ', '.join(c['name'] for c in e['collapsed']) + ']'
        if e['collapsed'] else '') for e in entries]
    shares = [(e['confident_share'], e['iter']) for e in entries
              if e['confident_share'] is not None]
    if not shares:
        lines.append(f'{name} has no pseudo-labels (no confident share).')
    elif max(shares)[0] >= 0.01:
        first = next(it for v, it in shares if v >= 0.01)
        lines.append(
            f'Self-training is on: the confident share of the pseudo-labels '
            f'reached {100 * max(shares)[0]:.1f} % (>= 1 % from the '
            f'validation at iteration {first} on).')
    else:
        lines.append(
            'Self-training stayed off: the confident share of the '
            'pseudo-labels was below 1 % at every validation, so the target '
            'term added almost nothing (the teacher is too unsure for '
            f'the fixed threshold this early). To fix it: '
            f'{SELF_TRAINING_OFF_ADVICE}.')
    return '\n'.join(lines)


def rank_run(work_dir: str, roots: Dict[str, str]) -> List[dict]:
    """The label-free criteria and the mIoU of every checkpoint of the
    run (``rank_checkpoints.evaluate_work_dir``)."""
    sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)),
                                'analysis_tools'))
    from rank_checkpoints import evaluate_work_dir
    return evaluate_work_dir(work_dir, data_root=roots['cityscapes'],
                             source_stats=roots['gta'], with_labels=True,
                             device='cpu')


def format_ranking(rows: List[dict]) -> str:
    """The checkpoints, best default criterion first, the pick and how it
    compares with the best mIoU."""
    from rank_checkpoints import _oriented, format_rows

    from mmseg_uda.evaluation.label_free import DEFAULT_CRITERION, spearman
    pick = max(rows, key=lambda r: _oriented(r, DEFAULT_CRITERION))
    best = max(rows, key=lambda r: r['mIoU'])
    rho = spearman([_oriented(r, DEFAULT_CRITERION) for r in rows],
                   [r['mIoU'] for r in rows])
    return '\n'.join([
        format_rows(rows, DEFAULT_CRITERION), '',
        f'Label-free pick ({DEFAULT_CRITERION}): iteration {pick["iter"]} '
        f'(mIoU {pick["mIoU"]:.2f}); best mIoU: iteration {best["iter"]} '
        f'({best["mIoU"]:.2f}); Spearman {DEFAULT_CRITERION} vs mIoU over '
        f'the {len(rows)} checkpoints: {rho:+.2f}'])


# ---------------------------------------------------------------- figures
def make_figure(vis_a: List[dict], vis_b: List[dict], titles: Sequence[str],
                path: str) -> np.ndarray:
    """Rows of target image | prediction A | prediction B | ground truth,
    with the Cityscapes palette and a legend of the classes shown."""
    from mmseg_uda.apis.vis_utils import (
        colorize,
        compose_grid,
        label_classes,
        save_rgb,
    )
    rows, labels = [], []
    for a, b in zip(vis_a, vis_b):
        rows.append([a['image'], colorize(a['pred']), colorize(b['pred']),
                     colorize(a['gt'])])
        labels += [a['pred'], b['pred'], a['gt']]
    grid = compose_grid(rows, titles, legend=label_classes(*labels))
    save_rgb(path, grid)
    return grid


def plot_curves(curves: Dict[str, Sequence[Sequence[float]]],
                path: str, title: str = 'Target val mIoU') -> None:
    """mIoU over training iterations, one line per run."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, points in curves.items():
        if points:
            x, y = zip(*points)
            ax.plot(x, y, marker='o', label=f'{name} ({y[-1]:.1f})')
    ax.set_xlabel('iteration')
    ax.set_ylabel('mIoU (%)')
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc='best')
    fig.tight_layout()
    fig.savefig(path, dpi=100)


# ---------------------------------------------------------------- main
def main(argv: Optional[Sequence[str]] = None, out=sys.stdout) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    t_start = time.time()
    method_name, method_cfg = METHODS[args.method]
    cfgs = config_dir()
    method_cfg = osp.join(cfgs, method_cfg)
    so_name, so_cfg = SOURCE_ONLY[0], osp.join(cfgs, SOURCE_ONLY[1])
    if not osp.exists(method_cfg):
        raise FileNotFoundError(f'{args.method}: config {method_cfg} is '
                                'missing')
    os.makedirs(args.work_dir, exist_ok=True)
    print(f'Quick-start: source-only vs {method_name}, {args.iters} '
          f'iterations each, outputs in {args.work_dir}', file=out)

    from mmengine.registry import init_default_scope

    import mmseg_uda  # noqa: F401  (registers the plugin)
    init_default_scope('mmseg')
    roots = prepare_data(args.data_dir, out)

    runs = {}
    for name, cfg_path, sub in ((so_name, so_cfg, 'source-only'),
                                (method_name, method_cfg, args.method)):
        work_dir = osp.join(args.work_dir, sub)
        print(f'Training {name}: {osp.relpath(cfg_path, cfgs)} '
              f'(log: {osp.join(work_dir, "console.log")})', file=out)
        record = train_run(name, cfg_path, roots, work_dir, args, out)
        cfg = build_cfg(cfg_path, roots, work_dir, args.iters,
                        args.val_interval, args.seed, args.workers)
        t0 = time.time()
        with open(osp.join(work_dir, 'console.log'), 'a') as log, \
                contextlib.redirect_stdout(log), \
                contextlib.redirect_stderr(log):
            result = evaluate(cfg, record['checkpoint'], args.num_vis)
        record['eval_time_s'] = round(time.time() - t0, 1)
        runs[name] = dict(record=record, result=result)

    so, da = runs[so_name]['result'], runs[method_name]['result']
    table = format_table(so['classes'], {so_name: so['iou'],
                                         method_name: da['iou']},
                         so['area_label'])
    print(f'\nSynthetic target val ({len(so["area_label"])} classes, '
          f'{int(so["area_label"].sum())} labelled px): per-class IoU (%)',
          file=out)
    print(table, file=out)

    uda_dir = osp.join(args.work_dir, args.method)
    health = read_health(uda_dir)
    print(f'\nSelf-training health of {method_name} (no target labels '
          'used):', file=out)
    print(format_health(health, method_name), file=out)
    with open(osp.join(uda_dir, 'console.log'), 'a') as log, \
            contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        ranking = rank_run(uda_dir, roots)
    print(f'\nCheckpoint ranking of {method_name} by label-free criteria '
          '(the mIoU column uses the target labels, for comparison):',
          file=out)
    print(format_ranking(ranking), file=out)

    figure = osp.join(args.work_dir, 'figure.png')
    curve = osp.join(args.work_dir, 'miou_curve.png')
    make_figure(so['vis'], da['vis'],
                ['target image', so_name, method_name, 'ground truth'],
                figure)
    plot_curves({n: r['record']['val_history'] for n, r in runs.items()},
                curve, f'Target val mIoU: source-only vs {method_name}')
    summary = dict(
        method=args.method, iters=args.iters, seed=args.seed,
        classes=so['classes'],
        val_label_pixels=so['area_label'].tolist(),
        runs={
            n: dict(
                mIoU=round(miou(r['result']['iou']), 2),
                per_class_iou=[
                    None if math.isnan(v) else round(100 * float(v), 2)
                    for v in r['result']['iou']
                ],
                **{k: v for k, v in r['record'].items() if k != 'settings'})
            for n, r in runs.items()
        },
        health=health, checkpoint_ranking=ranking,
        figure=figure, miou_curve=curve,
        total_time_s=round(time.time() - t_start, 1),
        threads=torch.get_num_threads())
    with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    times = ', '.join(
        f'{n} {r["record"]["train_time_s"]:.0f} s '
        f'({r["record"]["sec_per_iter"]:.2f} s/it)' for n, r in runs.items())
    print(f'\nTraining time: {times}; total {summary["total_time_s"]:.0f} s',
          file=out)
    print(f'Figure:     {figure}\nmIoU curve: {curve}\nResults:    '
          f'{osp.join(args.work_dir, "results.json")}', file=out)
    return summary


if __name__ == '__main__':
    # mmcv-lite cannot import MultiScaleDeformableAttention (unused here).
    warnings.filterwarnings(
        'ignore', message='Fail to import ``MultiScale')
    main()
