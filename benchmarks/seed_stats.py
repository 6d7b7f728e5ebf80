"""Mean ± std over seeds and gains over matched baselines, shared by the
target-mIoU benchmarks (``uda_gain.py``, ``uda_gain_adversarial.py``), and
their per-run result files (an interrupted benchmark continues where it
stopped)."""
import json
import os.path as osp
import statistics
from typing import Callable, Dict, Optional


def mean_std(values: list) -> tuple:
    """Mean and sample standard deviation (nan for a single value)."""
    std = statistics.stdev(values) if len(values) > 1 else float('nan')
    return statistics.fmean(values), std


def summarise(rows: list, baselines: Dict[str, str]) -> list:
    """Per method (rows: ``dict(method, seed, mIoU, minutes)``): mean ± std
    of the mIoU over the seeds, and the mean ± std of the per-seed
    difference to its matched baseline ``baselines[method]`` (None for a
    method without one)."""
    by = {}
    for row in rows:
        by.setdefault(row['method'], {})[row['seed']] = row['mIoU']
    out = []
    for method, per_seed in by.items():
        mean, std = mean_std(list(per_seed.values()))
        gain = None
        base = by.get(baselines.get(method))
        if base:
            diffs = [v - base[s] for s, v in per_seed.items() if s in base]
            gain = mean_std(diffs) if diffs else None
        out.append(dict(
            method=method, mIoU=mean, std=std, seeds=sorted(per_seed),
            baseline=baselines.get(method), gain=gain,
            minutes=statistics.fmean(
                r['minutes'] for r in rows if r['method'] == method)))
    return out


def markdown_table(summary: list) -> str:
    lines = [
        '| method | target mIoU (mean ± std) | matched baseline | gain '
        '(mean ± std of per-seed differences) | seeds | minutes per run |',
        '|---|---|---|---|---|---|'
    ]
    for r in summary:
        gain = ('–' if r['gain'] is None else
                f"{r['gain'][0]:+.2f} ± {r['gain'][1]:.2f}")
        lines.append(
            f"| {r['method']} | {r['mIoU']:.2f} ± {r['std']:.2f} | "
            f"{r['baseline'] or '–'} | {gain} | {len(r['seeds'])} | "
            f"{r['minutes']:.1f} |")
    return '\n'.join(lines)


def cached_run(out_dir: str, settings: dict,
               train: Callable[[], dict]) -> dict:
    """``train()``'s row, or the one saved in ``out_dir/result.json`` by an
    earlier run with the same ``settings``; the row is saved atomically."""
    done = osp.join(out_dir, 'result.json')
    if osp.exists(done):
        with open(done) as f:
            row: Optional[dict] = json.load(f)
        if row.get('settings') == settings:
            print(f'reused {done}', flush=True)
            return row
    from mmseg_uda.utils.io import atomic_write_json

    row = dict(train(), settings=settings)
    atomic_write_json(done, row)
    return row
