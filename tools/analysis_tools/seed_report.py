"""Mean ± std over runs that differ only in the seed: per class and mIoU,
with the classes that collapsed in some seed flagged.

    python tools/analysis_tools/seed_report.py WORK_DIR [WORK_DIR ...] \\
        [--collapse-ratio 0.25] [--min-iou 5] [--json report.json]

Each work dir is read as the training loop and ``tools/test.py`` leave it:
the per-class IoU table that mmseg's ``IoUMetric`` logs ("per class
results") in the newest ``<timestamp>/<timestamp>.log`` holding one (the
last evaluation: the final validation, or a later ``tools/test.py`` run
with ``--work-dir`` on it), and, when present, the run's
``<timestamp>/health.json`` (``SelfTrainingHealthHook``: last confident
share and collapse alarms).

A class is flagged as collapsed in a seed when its IoU there is below
``--collapse-ratio`` times its mean IoU over the other seeds, and that
mean is at least ``--min-iou`` (the class works elsewhere): the
single-class failures that dominate reproduction reports of UDA methods.
"""
import argparse
import glob
import json
import math
import os.path as osp
import re
import statistics
import sys
from typing import Dict, List, Optional

_ROW = re.compile(r'^\|\s*(.+?)\s*\|\s*([-\d.]+|nan)\s*\|')


def per_class_iou(log_path: str) -> Optional[Dict[str, float]]:
    """The last "per class results" table of an mmengine log: class -> IoU
    (nan for a class neither labelled nor predicted)."""
    with open(log_path, errors='replace') as f:
        lines = f.read().splitlines()
    starts = [i for i, line in enumerate(lines)
              if line.endswith('per class results:')]
    if not starts:
        return None
    table = {}
    for line in lines[starts[-1] + 1:]:
        if line.startswith('+') or not line.strip() or 'mmengine' in line:
            if table and line.startswith('+'):
                continue
            if table and 'mmengine' in line:
                break
            continue
        m = _ROW.match(line)
        if m and m.group(1) != 'Class':
            table[m.group(1)] = float(m.group(2))
        elif table:
            break
    return table or None


def read_run(work_dir: str) -> dict:
    """Per-class IoU of the latest evaluation of ``work_dir`` and its last
    health entry; raises FileNotFoundError naming the work dir."""
    logs = sorted(glob.glob(osp.join(work_dir, '*', '*.log')),
                  key=lambda p: osp.basename(osp.dirname(p)))
    for log in reversed(logs):
        iou = per_class_iou(log)
        if iou:
            break
    else:
        raise FileNotFoundError(
            f'{work_dir}: no per-class IoU table in '
            f'{len(logs)} log file(s) (<timestamp>/<timestamp>.log); '
            'validate or run tools/test.py with --work-dir on it first')
    health = None
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'health.json'))):
        with open(path) as f:
            entries = json.load(f)
        health = entries[-1] if entries else health
    return dict(work_dir=work_dir, log=log, iou=iou, health=health)


def _miou(iou: Dict[str, float]) -> float:
    values = [v for v in iou.values() if not math.isnan(v)]
    return statistics.fmean(values) if values else float('nan')


def report(runs: List[dict], collapse_ratio: float = 0.25,
           min_iou: float = 5.0) -> dict:
    """Per class: values, mean, std (sample; nan for one run) and the runs
    where it collapsed; the same for mIoU."""
    classes = list(runs[0]['iou'])
    for run in runs[1:]:
        if list(run['iou']) != classes:
            raise ValueError(f'{run["work_dir"]}: other classes than '
                             f'{runs[0]["work_dir"]}')
    rows = {}
    for c in classes + ['mIoU']:
        values = [_miou(r['iou']) if c == 'mIoU' else r['iou'][c]
                  for r in runs]
        valid = [v for v in values if not math.isnan(v)]
        collapsed = []
        if c != 'mIoU':
            for i, v in enumerate(values):
                others = [w for j, w in enumerate(values)
                          if j != i and not math.isnan(w)]
                if others and not math.isnan(v):
                    ref = statistics.fmean(others)
                    if ref >= min_iou and v < collapse_ratio * ref:
                        collapsed.append(i)
        rows[c] = dict(
            values=values,
            mean=statistics.fmean(valid) if valid else float('nan'),
            std=statistics.stdev(valid) if len(valid) > 1 else float('nan'),
            collapsed=collapsed)
    return rows


def format_report(runs: List[dict], rows: dict) -> str:
    names = [osp.basename(osp.normpath(r['work_dir'])) for r in runs]
    width = max(15, *(len(c) + 1 for c in rows))
    lines = [f'{len(runs)} runs: ' + ', '.join(
        f'[{i}] {n}' for i, n in enumerate(names)), '',
        f'{"class":<{width}}{"mean ± std":>16}{"min":>8}{"max":>8}  '
        'per run']
    for c, r in rows.items():
        if c == 'mIoU':
            lines.append('-' * len(lines[-1]))
        valid = [v for v in r['values'] if not math.isnan(v)]
        lo = f'{min(valid):8.2f}' if valid else f'{"-":>8}'
        hi = f'{max(valid):8.2f}' if valid else f'{"-":>8}'
        flag = ('  COLLAPSED in ' + ', '.join(f'[{i}]' for i in r['collapsed'])
                if r['collapsed'] else '')
        lines.append(
            f'{c:<{width}}{r["mean"]:8.2f} ± {r["std"]:5.2f}{lo}{hi}  ' +
            ' '.join(f'{v:6.2f}' for v in r['values']) + flag)
    flagged = [c for c, r in rows.items() if r['collapsed']]
    lines.append('')
    lines.append('collapsed classes: ' + (', '.join(flagged) or 'none'))
    for i, run in enumerate(runs):
        h = run['health']
        if h:
            share = h.get('confident_share')
            alarms = [c['name'] for c in h.get('collapsed', [])]
            lines.append(
                f'[{i}] health at iteration {h["iter"]}: confident share '
                f'{"n/a" if share is None else f"{share:.3f}"}, collapse '
                f'alarm: {", ".join(alarms) or "none"}')
    return '\n'.join(lines)


def main(argv=None, out=None) -> dict:
    out = out or sys.stdout
    p = argparse.ArgumentParser(
        description='Mean ± std per class over runs differing in the seed, '
        'collapsed classes flagged.')
    p.add_argument('work_dirs', nargs='+')
    p.add_argument('--collapse-ratio', type=float, default=0.25)
    p.add_argument('--min-iou', type=float, default=5.0)
    p.add_argument('--json', help='write the report here')
    args = p.parse_args(argv)
    runs = [read_run(w) for w in args.work_dirs]
    rows = report(runs, args.collapse_ratio, args.min_iou)
    print(format_report(runs, rows), file=out)
    if args.json:
        from mmseg_uda.utils.io import atomic_write_json
        atomic_write_json(args.json, dict(
            runs=[dict(work_dir=r['work_dir'], log=r['log']) for r in runs],
            classes=rows))
    return rows


if __name__ == '__main__':
    main()
