"""Self-training that engages when the teacher is unsure: the quick-start
DAFormer (tiny MiT, CPU, synthetic data) with DACS's fixed threshold
(0.968, the reference) against the two remedies the self-training-off
warning recommends, at matched total iterations, over several seeds:

=================  =======================================================
variant            what runs (``--iters`` N in all)
=================  =======================================================
fixed              DAFormer, N iterations, ``pseudo_threshold=0.968``
classwise          DAFormer, N iterations,
                   ``model.pseudo_threshold_mode='classwise'``
warm start         source-only N/3 iterations, then DAFormer 2N/3
                   iterations from its checkpoint (``load_from``)
=================  =======================================================

Printed per variant: the final target mIoU (mean ± std over the seeds), the
mean per-seed gain over ``fixed``, and the mean confident share
(``pseudo_weight``) of the DAFormer iterations, read from the run's
``scalars.json``. Rows go to ``WORK_DIR/results.json``.

    python benchmarks/pseudo_threshold.py --iters 120 --seeds 0 1 2

``--fixed-from DIR`` reuses the ``fixed`` runs of
``benchmarks/model_selection.py`` (``DIR/daformer_seed<s>``: the same
config, data, seeds and iterations) instead of training them again.
"""
import argparse
import glob
import json
import os.path as osp
import statistics
import sys
import time

from seed_stats import cached_run, markdown_table, summarise
from uda_gain import METHODS, ROOT, train


def confident_share(work_dir: str) -> float:
    """Mean ``pseudo_weight`` over the logged training iterations."""
    values = []
    for path in glob.glob(osp.join(work_dir, '*', 'vis_data',
                                   'scalars.json')):
        with open(path) as f:
            values += [json.loads(line)['pseudo_weight'] for line in f
                       if '"pseudo_weight"' in line]
    return statistics.fmean(values) if values else float('nan')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--iters', type=int, default=120)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--val-images', type=int, default=16)
    parser.add_argument('--variants', nargs='+',
                        default=['fixed', 'classwise', 'warm start'],
                        choices=['fixed', 'classwise', 'warm start'])
    parser.add_argument('--work-dir', default='work_dirs/pseudo_threshold')
    parser.add_argument('--data-dir', default=None,
                        help='the generated data (default: under work dir; '
                        'with --fixed-from: that benchmark\'s data)')
    parser.add_argument('--fixed-from', default=None,
                        help='reuse DIR/daformer_seed<s> as the fixed runs')
    args = parser.parse_args()
    sys.path.insert(0, ROOT)
    from mmseg_uda.datasets.synthetic import generate_synthetic_uda
    data_dir = args.data_dir or osp.join(args.work_dir,
                                         f'data_val{args.val_images}')
    roots = dict(gta=osp.join(data_dir, 'gta'),
                 cityscapes=osp.join(data_dir, 'cityscapes'))
    if not osp.exists(osp.join(roots['gta'], 'samples_with_class.json')):
        roots = generate_synthetic_uda(
            data_dir, num_target_val=args.val_images, seed=0)
    daformer = osp.join(ROOT, METHODS['DAFormer'])
    source_only = osp.join(ROOT, METHODS['source-only'])
    n, n_src = args.iters, args.iters // 3
    quiet = ('train_dataloader.num_workers=0',
             'train_dataloader.persistent_workers=False',
             'val_dataloader.num_workers=0',
             'val_dataloader.persistent_workers=False')
    start = time.time()
    rows = []
    # fixed last: with --fixed-from, model_selection.py may still be
    # training its last seed
    for variant in [v for v in ('classwise', 'warm start', 'fixed')
                    if v in args.variants]:
        for seed in args.seeds:
            work = osp.join(args.work_dir,
                            f'{variant.replace(" ", "_")}_seed{seed}')

            def run_one(variant=variant, seed=seed, work=work):
                if variant == 'warm start':
                    src = train(source_only, roots, work + '_source', n_src,
                                seed, quiet)
                    ckpt = osp.join(work + '_source', f'iter_{n_src}.pth')
                    r = train(daformer, roots, work, n - n_src, seed,
                              quiet + (f'load_from={ckpt}', ))
                    r['minutes'] += src['minutes']
                else:
                    extra = (("model.pseudo_threshold_mode='classwise'", )
                             if variant == 'classwise' else ())
                    r = train(daformer, roots, work, n, seed, quiet + extra)
                return dict(r, method=variant, seed=seed,
                            confident_share=confident_share(work))

            if variant == 'fixed' and args.fixed_from:
                work = osp.join(args.fixed_from, f'daformer_seed{seed}')
                with open(osp.join(work, 'result.json')) as f:
                    done = json.load(f)
                if done['settings']['iters'] != n:
                    raise SystemExit(f'{work}: {done["settings"]["iters"]} '
                                     f'iterations, not {n}')
                rows.append(dict(done, method='fixed',
                                 confident_share=confident_share(work)))
            else:
                rows.append(cached_run(work, dict(iters=n), run_one))
            r = rows[-1]
            print(f'{variant:10s} seed {seed}: target mIoU {r["mIoU"]:6.2f}, '
                  f'confident share {r["confident_share"]:.3f} '
                  f'({r["minutes"]:.1f} min)', flush=True)
    with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
        json.dump(rows, f)
    print(f'\n{n} iterations in all per run (warm start: {n_src} source-only '
          f'+ {n - n_src} DAFormer), seeds {args.seeds}, {args.val_images} '
          f'val images, {(time.time() - start) / 60:.1f} min')
    print(markdown_table(summarise(
        rows, {'classwise': 'fixed', 'warm start': 'fixed'})))
    for variant in args.variants:
        shares = [r['confident_share'] for r in rows
                  if r['method'] == variant]
        print(f'mean confident share, {variant}: '
              f'{statistics.fmean(shares):.3f}')


if __name__ == '__main__':
    main()
