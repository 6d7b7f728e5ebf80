"""Which label-free criterion picks the checkpoint to keep? Trains
source-only, DAFormer, MIC(DAFormer) and HRDA (tiny MiT, CPU) on
generated domain shifts, saves checkpoints along each run, evaluates every
checkpoint on the labelled synthetic target val split with the label-free
criteria of ``LabelFreeMetric`` and the true mIoU, and prints each
criterion's Spearman rank correlation with the mIoU:

- *within runs*: over the checkpoints of one run (mean and minimum over the
  runs): does the criterion pick the right iteration?
- *across runs*: over all checkpoints of all runs of a data variant (and of
  all variants): does it rank methods, seeds and iterations together?
- *pick*: how far the checkpoint with the best criterion value is from the
  run's best mIoU (runs within 0.5 mIoU).

The naive baselines are the student's mean max-softmax ``confidence`` and
mean ``entropy`` (lower is better). Variants: the synthetic generator
(``mmseg_uda/datasets/synthetic.py``) with different generator seeds (other
layouts, shading and textures of the same source/target styles).

    python benchmarks/model_selection.py                 # the full study
    python benchmarks/model_selection.py --stage train   # train only

Each run goes through ``tools/train.py`` (a fresh process) and is cached in
``WORK_DIR/<variant>/<method>_seed<s>`` (an interrupted benchmark continues);
the evaluation goes through ``tools/analysis_tools/rank_checkpoints.py``'s
``evaluate_work_dir`` and is cached per work dir. Rows go to
``WORK_DIR/checkpoints.json``, the tables to ``WORK_DIR/tables.md``.
"""
import argparse
import os
import os.path as osp
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis_tools'))

from seed_stats import cached_run  # noqa: E402
from uda_gain import METHODS as GAIN_METHODS  # noqa: E402
from uda_gain import train  # noqa: E402

METHODS = {
    'source-only': GAIN_METHODS['source-only'],
    'DAFormer': GAIN_METHODS['DAFormer'],
    'MIC(DAFormer)': GAIN_METHODS['MIC(DAFormer)'],
    'HRDA': GAIN_METHODS['HRDA'],
}


def slug(name: str) -> str:
    return name.replace('(', '-').replace(')', '').lower()


def train_runs(args) -> list:
    """Train (or reuse) every (variant, seed, method) run; returns
    ``dict(variant, seed, method, work_dir)`` rows."""
    from mmseg_uda.datasets.synthetic import generate_synthetic_uda
    runs = []
    for variant in args.variants:
        data_dir = osp.join(args.work_dir, f'data_g{variant}_val'
                            f'{args.val_images}')
        roots = dict(gta=osp.join(data_dir, 'gta'),
                     cityscapes=osp.join(data_dir, 'cityscapes'))
        if not osp.exists(osp.join(roots['gta'], 'samples_with_class.json')):
            roots = generate_synthetic_uda(
                data_dir, num_target_val=args.val_images, seed=variant)
        for seed in args.seeds:
            for name in args.methods:
                if variant != args.variants[0] and \
                        seed not in args.other_variant_seeds:
                    continue
                if name in args.first_run_only and (
                        variant != args.variants[0]
                        or seed != args.seeds[0]):
                    continue
                iters = args.hrda_iters if name == 'HRDA' else args.iters
                every = max(1, iters // args.checkpoints)
                work_dir = osp.join(args.work_dir, f'g{variant}',
                                    f'{slug(name)}_seed{seed}')
                settings = dict(iters=iters, every=every, variant=variant,
                                val_images=args.val_images)
                opts = (f'default_hooks.checkpoint.interval={every}',
                        'default_hooks.checkpoint.max_keep_ckpts=-1',
                        'train_dataloader.num_workers=0',
                        'train_dataloader.persistent_workers=False',
                        'val_dataloader.num_workers=0',
                        'val_dataloader.persistent_workers=False')

                def run_one(name=name, seed=seed, work_dir=work_dir,
                            iters=iters, opts=opts, roots=roots):
                    r = train(osp.join(ROOT, METHODS[name]), roots, work_dir,
                              iters, seed, opts)
                    return dict(r, method=name, seed=seed)

                if args.evaluate_finished:
                    if not osp.exists(osp.join(work_dir, 'result.json')):
                        continue
                    run_one = None  # noqa: F811 (cached: not trained)
                row = cached_run(work_dir, settings, run_one)
                print(f'g{variant} {name:14s} seed {seed}: final mIoU '
                      f'{row["mIoU"]:6.2f} ({row["minutes"]:.1f} min)',
                      flush=True)
                runs.append(dict(variant=variant, seed=seed, method=name,
                                 work_dir=work_dir, roots=roots, iters=iters,
                                 every=every))
    return runs


def _iter(path: str) -> int:
    return int(osp.basename(path).split('_')[1].split('.')[0])


def evaluate_runs(runs: list, args) -> list:
    """Every checkpoint of every run: label-free criteria and mIoU."""
    from rank_checkpoints import evaluate_work_dir, list_checkpoints
    rows = []
    for run in runs:

        def evaluate(run=run):
            # this run's checkpoints only (an earlier run with other
            # settings may have left others in the work dir)
            ckpts = [p for p in list_checkpoints(run['work_dir'])
                     if _iter(p) == run['iters'] or (
                         _iter(p) < run['iters']
                         and _iter(p) % run['every'] == 0)]
            return dict(rows=evaluate_work_dir(
                run['work_dir'], data_root=run['roots']['cityscapes'],
                source_stats=run['roots']['gta'], with_labels=True,
                checkpoints=ckpts))

        results = cached_run(osp.join(run['work_dir'], 'label_free_eval'),
                             dict(version=1), evaluate)['rows']
        for r in results:
            rows.append(dict(r, variant=run['variant'], seed=run['seed'],
                             method=run['method']))
        print(f'evaluated {run["work_dir"]}: {len(results)} checkpoints',
              flush=True)
    return rows


def last_checkpoint_reference(rows: list) -> str:
    """What "keep the last checkpoint" achieves on the same runs (runs
    this short mostly improve with the iterations)."""
    from rank_checkpoints import PICK_TOLERANCE

    from mmseg_uda.evaluation.label_free import spearman
    runs = {}
    for r in rows:
        runs.setdefault(r['work_dir'], []).append(r)
    within, hits, lost = [], 0, []
    for group in runs.values():
        within.append(spearman([r['iter'] for r in group],
                               [r['mIoU'] for r in group]))
        best = max(r['mIoU'] for r in group)
        last = max(group, key=lambda r: r['iter'])['mIoU']
        lost.append(best - last)
        hits += best - last <= PICK_TOLERANCE
    valid = [w for w in within if w == w]
    return (f'Reference, the last checkpoint of each run: Spearman of the '
            f'iteration with the mIoU within runs '
            f'{sum(valid) / len(valid):+.2f} (mean) / {min(valid):+.2f} '
            f'(min); the last checkpoint is within {PICK_TOLERANCE} mIoU of '
            f'the run\'s best in {hits} of {len(runs)} runs (mIoU lost: '
            f'mean {sum(lost) / len(lost):.2f}, max {max(lost):.2f}).')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--iters', type=int, default=120)
    parser.add_argument('--hrda-iters', type=int, default=40)
    parser.add_argument('--checkpoints', type=int, default=6,
                        help='checkpoints saved along each run')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--variants', type=int, nargs='+', default=[0, 1],
                        help='generator seeds of the synthetic data')
    parser.add_argument('--val-images', type=int, default=16)
    parser.add_argument('--methods', nargs='+', default=list(METHODS),
                        choices=list(METHODS))
    parser.add_argument(
        '--first-run-only', nargs='*',
        default=['MIC(DAFormer)', 'HRDA'],
        help='methods trained for the first variant and seed only (the '
        'costly ones: the full grid exceeds the CPU budget)')
    parser.add_argument(
        '--other-variant-seeds', type=int, nargs='+', default=[0, 1, 2],
        help='the seeds trained for the variants after the first')
    parser.add_argument('--evaluate-finished', action='store_true',
                        help='only evaluate the runs already trained')
    parser.add_argument('--work-dir', default='work_dirs/model_selection')
    parser.add_argument('--stage', choices=['train', 'all'], default='all')
    args = parser.parse_args()
    sys.path.insert(0, ROOT)
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    start = time.time()
    runs = train_runs(args)
    print(f'training: {(time.time() - start) / 60:.1f} min', flush=True)
    if args.stage == 'train':
        return
    t0 = time.time()
    rows = evaluate_runs(runs, args)
    print(f'evaluation: {(time.time() - t0) / 60:.1f} min', flush=True)
    from mmseg_uda.utils.io import atomic_write_json
    atomic_write_json(osp.join(args.work_dir, 'checkpoints.json'), rows)
    from rank_checkpoints import selection_tables
    text = selection_tables(rows, run_key='work_dir', domain_key='variant')
    text += '\n\n' + last_checkpoint_reference(rows)
    header = (f'{len(runs)} runs ({", ".join(args.methods)}; seeds '
              f'{args.seeds}; generator seeds {args.variants}; '
              f'{", ".join(args.first_run_only) or "no method"} for '
              f'generator seed {args.variants[0]} and seed {args.seeds[0]} '
              f'only; seeds {args.other_variant_seeds} for the other '
              f'variants), '
              f'{args.iters} iterations ({args.hrda_iters} for HRDA), '
              f'{args.checkpoints} checkpoints each, {args.val_images} val '
              f'images; {(time.time() - start) / 60:.1f} min in all')
    print(header)
    print(text)
    with open(osp.join(args.work_dir, 'tables.md'), 'w') as f:
        f.write(header + '\n\n' + text + '\n')


if __name__ == '__main__':
    main()
