"""Rank the checkpoints of one or several runs without target labels.

    python tools/analysis_tools/rank_checkpoints.py WORK_DIR [WORK_DIR ...] \\
        [--config CFG] [--data-root TARGET_ROOT] [--source-stats SRC_ROOT] \\
        [--select CRITERION] [--no-labels] [--out PREFIX]

For every ``iter_*.pth`` (or ``epoch_*.pth``) of each work dir, the model
of the run's config (the copy that ``tools/train.py`` writes into the work
dir, or ``--config``) predicts the config's test split, and
``LabelFreeMetric`` computes the label-free criteria
(docs/model_selection.md). The table lists every checkpoint with its
criteria, best ``--select`` first; ``PREFIX.json`` and ``PREFIX.csv``
(default ``<first work dir>/rank_checkpoints``) hold the same rows.

Where the split has labels (detected from its first label file; ``--no-labels``
skips them), the mIoU is added, with each criterion's Spearman rank
correlation with the mIoU within each run and over all checkpoints, and
the mIoU lost by picking each criterion's best checkpoint instead of the
best one. Without labels the test pipeline's annotation loading is
dropped, so an unlabelled target folder works.
"""
import argparse
import copy
import csv
import glob
import logging
import os.path as osp
import re
import statistics
import sys
from typing import Dict, List, Optional, Sequence

import torch

import mmseg_uda  # noqa: F401  (registers the plugin; mmcv-lite shim)

#: the mIoU difference under which a pick counts as the best (docs)
PICK_TOLERANCE = 0.5


def run_config(work_dir: str, config: Optional[str] = None) -> str:
    """The config of a run: ``config``, or the one ``.py`` file that
    ``tools/train.py`` dumped into ``work_dir``."""
    if config:
        return config
    found = sorted(glob.glob(osp.join(work_dir, '*.py')))
    if len(found) != 1:
        raise FileNotFoundError(
            f'{work_dir}: expected the one config that tools/train.py '
            f'writes there, found {len(found) or "none"} '
            f'({", ".join(map(osp.basename, found))}); pass --config')
    return found[0]


def list_checkpoints(work_dir: str) -> List[str]:
    """``iter_N.pth`` / ``epoch_N.pth`` of ``work_dir``, by N."""
    found = []
    for path in glob.glob(osp.join(work_dir, '*.pth')):
        m = re.fullmatch(r'(?:iter|epoch)_(\d+)\.pth', osp.basename(path))
        if m:
            found.append((int(m.group(1)), path))
    if not found:
        raise FileNotFoundError(f'{work_dir}: no iter_*.pth/epoch_*.pth '
                                'checkpoint')
    return [p for _, p in sorted(found)]


def _is_annotation_loader(step: dict) -> bool:
    return 'LoadAnnotations' in str(step.get('type', '')) or \
        'LoadCheckedAnnotations' in str(step.get('type', ''))


def split_has_labels(dataset) -> bool:
    """Whether the first sample's label file exists."""
    if len(dataset) == 0:
        raise ValueError('the test split is empty')
    path = dataset.get_data_info(0).get('seg_map_path')
    return bool(path) and osp.exists(path)


def test_cfg(cfg, data_root: Optional[str], labels: Optional[bool]):
    """(config with a single-process test dataloader on ``data_root``,
    whether labels are used)."""
    from mmengine.registry import DATASETS
    cfg = copy.deepcopy(cfg)
    loader = cfg.test_dataloader
    loader.num_workers = 0
    loader.persistent_workers = False
    loader.batch_size = 1
    if data_root:
        loader.dataset.data_root = data_root
    if labels is None or labels:
        probe = copy.deepcopy(loader.dataset)
        probe.pipeline = []
        probe.lazy_init = False
        found = split_has_labels(DATASETS.build(probe))
        if labels and not found:
            raise FileNotFoundError(
                f'the test split under {loader.dataset.get("data_root")} has '
                'no label files')
        labels = found
    if not labels:
        loader.dataset.pipeline = [
            s for s in loader.dataset.pipeline
            if not _is_annotation_loader(s)
        ]
    return cfg, labels


def evaluate_work_dir(work_dir: str,
                      config: Optional[str] = None,
                      data_root: Optional[str] = None,
                      source_stats: Optional[str] = None,
                      with_labels: Optional[bool] = None,
                      select: Optional[str] = None,
                      device: Optional[str] = None,
                      checkpoints: Optional[Sequence[str]] = None
                      ) -> List[dict]:
    """Label-free criteria (and the mIoU with labels) of every checkpoint
    of ``work_dir``; one row per checkpoint: ``work_dir, checkpoint, iter``,
    the ``LabelFreeMetric`` values without prefix and ``mIoU``."""
    from mmengine.config import Config
    from mmengine.evaluator import Evaluator
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner, load_checkpoint
    from mmseg.apis import init_model
    init_default_scope('mmseg')
    cfg = Config.fromfile(run_config(work_dir, config))
    cfg, labels = test_cfg(cfg, data_root, with_labels)
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    ckpts = list(checkpoints or list_checkpoints(work_dir))
    model = init_model(cfg.copy(), ckpts[0], device=device)
    loader = Runner.build_dataloader(cfg.test_dataloader)
    metrics = [dict(type='LabelFreeMetric', select=select,
                    source_stats=source_stats)]
    if labels:
        metrics.append(dict(type='IoUMetric', iou_metrics=['mIoU']))
    rows = []
    for ckpt in ckpts:
        if ckpt != ckpts[0]:
            load_checkpoint(model, ckpt, map_location=device, logger='silent')
        evaluator = Evaluator(copy.deepcopy(metrics))
        evaluator.dataset_meta = loader.dataset.metainfo
        with torch.no_grad():
            for batch in loader:
                evaluator.process(model.test_step(batch), batch)
        # IoUMetric logs its per-class table for each checkpoint
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.WARNING)
        try:
            res = evaluator.evaluate(len(loader.dataset))
        finally:
            logger.setLevel(level)
        m = re.search(r'(\d+)\.pth$', ckpt)
        row = dict(work_dir=work_dir, checkpoint=ckpt,
                   iter=int(m.group(1)) if m else None)
        row.update({k.split('/', 1)[-1]: float(v) for k, v in res.items()
                    if k.startswith('label_free/')})
        if labels:
            row['mIoU'] = float(res['mIoU'])
        rows.append(row)
    del model
    return rows


# ------------------------------------------------------------ statistics
def _criteria(rows: List[dict]) -> List[str]:
    from mmseg_uda.evaluation.label_free import CRITERIA
    return [c for c in CRITERIA if all(c in r for r in rows)]


def _oriented(row: dict, criterion: str) -> float:
    from mmseg_uda.evaluation.label_free import CRITERIA
    return CRITERIA[criterion] * row[criterion]


def selection_stats(rows: List[dict], run_key: str = 'work_dir',
                    domain_key: Optional[str] = None) -> Dict[str, dict]:
    """Per criterion (rows with ``mIoU``): Spearman with the mIoU over all
    rows (``across``), mean over the ``domain_key`` groups
    (``across_domain``), within each ``run_key`` group (``within``: the
    list), and the pick of each run: mIoU lost (``regret``) and whether it
    is within :data:`PICK_TOLERANCE` of the run's best (``hits``)."""
    from mmseg_uda.evaluation.label_free import spearman
    runs: Dict[str, list] = {}
    for r in rows:
        runs.setdefault(r[run_key], []).append(r)
    domains: Dict[str, list] = {}
    for r in rows:
        domains.setdefault(r[domain_key] if domain_key else 0, []).append(r)
    out = {}
    for c in _criteria(rows):
        within, regret = [], []
        for group in runs.values():
            within.append(spearman([_oriented(r, c) for r in group],
                                   [r['mIoU'] for r in group]))
            best = max(r['mIoU'] for r in group)
            pick = max(group, key=lambda r: _oriented(r, c))
            regret.append(best - pick['mIoU'])
        out[c] = dict(
            across=spearman([_oriented(r, c) for r in rows],
                            [r['mIoU'] for r in rows]),
            across_domain=[spearman([_oriented(r, c) for r in g],
                                    [r['mIoU'] for r in g])
                           for g in domains.values()],
            within=within, regret=regret,
            hits=sum(x <= PICK_TOLERANCE for x in regret))
    return out


def _fmt(x: float) -> str:
    return 'nan' if x != x else f'{x:+.2f}'


def selection_tables(rows: List[dict], run_key: str = 'work_dir',
                     domain_key: Optional[str] = None) -> str:
    """The markdown table of :func:`selection_stats` (best ``across``
    first)."""
    stats = selection_stats(rows, run_key, domain_key)
    n_runs = len({r[run_key] for r in rows})
    head = ('| criterion | Spearman, all checkpoints | Spearman per '
            f'{domain_key or "set"} | Spearman within runs (mean / min) | '
            f'pick within {PICK_TOLERANCE} mIoU of the run\'s best | mIoU '
            'lost by the pick (mean / max) |')
    lines = [head, '|---|---|---|---|---|---|']
    for c, s in sorted(stats.items(), key=lambda kv: -_nan_low(
            kv[1]['across'])):
        within = [w for w in s['within'] if w == w]
        w = (f'{statistics.fmean(within):+.2f} / {min(within):+.2f}'
             if within else 'nan')
        naive = ' (naive)' if c in ('entropy', 'confidence') else ''
        lines.append(
            f'| {c}{naive} | {_fmt(s["across"])} | '
            f'{" ".join(_fmt(x) for x in s["across_domain"])} | {w} | '
            f'{s["hits"]} of {n_runs} | '
            f'{statistics.fmean(s["regret"]):.2f} / '
            f'{max(s["regret"]):.2f} |')
    return '\n'.join(lines)


def _nan_low(x: float) -> float:
    return -2.0 if x != x else x


def format_rows(rows: List[dict], select: str) -> str:
    """One line per checkpoint, best ``select`` first."""
    crit = _criteria(rows)
    cols = ['run', 'iter'] + crit + (['mIoU'] if all(
        'mIoU' in r for r in rows) else [])
    order = sorted(rows, key=lambda r: -_oriented(r, select))
    names = [osp.basename(osp.normpath(r['work_dir'])) for r in order]
    width = max([len('run')] + [len(n) for n in names]) + 1
    lines = [f'{"run":<{width}}{"iter":>7}' + ''.join(
        f'{c:>14}' for c in cols[2:])]
    for name, r in zip(names, order):
        lines.append(f'{name:<{width}}{r["iter"]:>7}' + ''.join(
            f'{r[c]:>14.4f}' for c in cols[2:]))
    return '\n'.join(lines)


def write_rows(rows: List[dict], prefix: str) -> None:
    from mmseg_uda.utils.io import atomic_write_json
    atomic_write_json(prefix + '.json', rows)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(prefix + '.csv', 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Rank checkpoints by label-free criteria on target '
        'images (docs/model_selection.md).')
    p.add_argument('work_dirs', nargs='+')
    p.add_argument('--config', help='config of the runs (default: the one '
                   'in each work dir)')
    p.add_argument('--data-root', help='target data root of the test '
                   'split (default: the config\'s)')
    p.add_argument('--source-stats', help='source sample_class_stats.json '
                   'or its folder (adds class_balance and the collapse '
                   'count)')
    p.add_argument('--select', default=None, help='the ranking criterion '
                   '(default: mmseg_uda.evaluation.label_free.'
                   'DEFAULT_CRITERION)')
    p.add_argument('--no-labels', action='store_true',
                   help='do not read target labels even if they exist')
    p.add_argument('--device', default=None)
    p.add_argument('--out', default=None, help='output prefix (default: '
                   '<first work dir>/rank_checkpoints)')
    return p.parse_args(argv)


def main(argv=None, out=None) -> List[dict]:
    out = out or sys.stdout
    args = parse_args(argv)
    from mmseg_uda.evaluation.label_free import DEFAULT_CRITERION
    args.select = args.select or DEFAULT_CRITERION
    rows = []
    for work_dir in args.work_dirs:
        rows += evaluate_work_dir(
            work_dir, args.config, args.data_root, args.source_stats,
            False if args.no_labels else None, args.select, args.device)
    print(format_rows(rows, args.select), file=out)
    best = max(rows, key=lambda r: _oriented(r, args.select))
    print(f'\nkeep: {best["checkpoint"]} (best {args.select})', file=out)
    if all('mIoU' in r for r in rows):
        print('\nwith the target labels (Spearman with mIoU, higher is '
              'better):', file=out)
        print(selection_tables(rows), file=out)
    prefix = args.out or osp.join(args.work_dirs[0], 'rank_checkpoints')
    write_rows(rows, prefix)
    print(f'\nrows: {prefix}.json, {prefix}.csv', file=out)
    return rows


if __name__ == '__main__':
    main()
