"""Training and test speed of the GTA->Cityscapes configs on one GPU.

One command for a CUDA machine, no downloads:

1. generates a few dozen synthetic images at the real sizes (GTA-style
   source 1914x1052, Cityscapes-style target 2048x1024) with the project's
   generator and converts the source with ``tools/dataset_converters/gta.py``;
2. runs ``tools/train.py`` on the repository's configs (DAFormer, HRDA,
   MIC(HRDA), source-only DAFormer, then DACS, MIC and HRDA on DINOv2
   encoders, configs/vfm/) for a few iterations each, in fp32 and with
   ``--amp`` (bf16 where the GPU has it), ImageNet/DINOv2 weights off
   (``backbone.init_cfg=None``), no validation, one log line per iteration;
3. runs ``tools/test.py`` for HRDA (sliding windows) on 2048x1024 images
   with the HRDA fp32 run's checkpoint;
4. prints one table: steady-state s/iter (median after the warm-up
   iterations), data time, peak GPU memory (max allocated, from the logs),
   and the 40k-iteration estimate; the numbers are also written to
   ``<work-dir>/gpu_speed.json``.

On one H100/H200-class GPU the defaults take about 6-8 minutes, most of it
process start-up (imports, building MiT-B5 three times, cuDNN autotuning);
``--time-limit`` skips the runs that would not fit. The DINOv2 runs come
last (they need mmpretrain: ``pip install -e ".[vfm]"``); measure them
with the MiT-B5 DAFormer as the baseline in one call with
``--only DAFormer 'DAFormer DINOv2-B' 'DAFormer DINOv2-L' 'HRDA DINOv2-B'``.

``--cpu-smoke`` runs the same path on the CPU with everything shrunk (the
tiny quick-start configs, small images, one iteration per config, fp32
only) in under two minutes; CI runs it.

    python benchmarks/gpu_speed.py [--work-dir work_dirs/gpu_speed]
        [--iters 30] [--hrda-iters 20] [--warmup 10] [--time-limit 470]
        [--only NAME [NAME ...]]
    python benchmarks/gpu_speed.py --cpu-smoke

Needs mmengine, mmcv(-lite) and mmsegmentation importable (e.g. on
``PYTHONPATH``, see docs/get_started.md); the repository root is put on the
subprocesses' ``PYTHONPATH``.
"""
import argparse
import json
import os
import os.path as osp
import re
import statistics
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

# (name, config, uses DACS (UDA model), HRDA-sized)
GPU_RUNS = [
    ('DAFormer', 'configs/daformer/'
     'daformer_mitb5_1xb2-40k_gta2cityscapes-512x512.py', True, False),
    ('HRDA', 'configs/hrda/'
     'hrda_mitb5_1xb2-40k_gta2cityscapes-1024x1024.py', True, True),
    ('MIC(HRDA)', 'configs/mic/'
     'mic-hrda_mitb5_1xb2-40k_gta2cityscapes-1024x1024.py', True, True),
    ('source-only DAFormer', 'configs/source_only/'
     'daformer_mitb5_1xb2-40k_gta2cityscapes-512x512.py', False, False),
    ('DAFormer DINOv2-B', 'configs/vfm/'
     'daformer_dinov2-b_1xb2-40k_gta2cityscapes-512x512.py', True, False),
    ('DAFormer DINOv2-L', 'configs/vfm/'
     'daformer_dinov2-l_1xb2-40k_gta2cityscapes-512x512.py', True, False),
    ('MIC DINOv2-B', 'configs/vfm/'
     'mic-daformer_dinov2-b_1xb2-40k_gta2cityscapes-512x512.py', True, False),
    ('HRDA DINOv2-B', 'configs/vfm/'
     'hrda_dinov2-b_1xb2-40k_gta2cityscapes-1024x1024.py', True, True),
    ('HRDA DINOv2-L', 'configs/vfm/'
     'hrda_dinov2-l_1xb2-40k_gta2cityscapes-1024x1024.py', True, True),
]
# The pretrained weights of a ViTFeaturePyramid are its ViT's init_cfg.
VIT_INIT_OFF = ['model.segmentor.backbone.vit.init_cfg=None']
RUN_OPTIONS = {name: VIT_INIT_OFF for name, config, _, _ in GPU_RUNS
               if '/vfm/' in config}
SMOKE_RUNS = [
    ('DAFormer', 'configs/quickstart/'
     'daformer_mit-tiny_1xb2-1k_synthetic-128x128.py', True, False),
    ('HRDA', 'configs/quickstart/'
     'hrda_mit-tiny_1xb2-1k_synthetic-256x256.py', True, True),
    ('MIC(DAFormer)', 'configs/mic/'
     'mic-daformer_mit-tiny_1xb2-1k_synthetic-128x128.py', True, False),
    ('source-only DAFormer', 'configs/quickstart/'
     'source-only_mit-tiny_1xb2-1k_synthetic-128x128.py', False, False),
]
# The checkpoint of this run is tested with tools/test.py.
TEST_RUN = 'HRDA'

LOG_LINE = re.compile(
    r'Iter\((?P<mode>train|test)\)\s*\[\s*(?P<iter>\d+)/\s*(?P<total>\d+)\]'
    r'.*?\btime: (?P<time>[\d.]+)\s+data_time: (?P<data>[\d.]+)'
    r'(?:\s+memory: (?P<memory>\d+))?')


def parse_log(text: str, mode: str):
    """``[(iter, time, data_time, memory MB or None), ...]`` of the
    per-iteration lines of ``mode`` in an mmengine log."""
    rows = []
    for m in LOG_LINE.finditer(text):
        if m.group('mode') != mode:
            continue
        mem = m.group('memory')
        rows.append((int(m.group('iter')), float(m.group('time')),
                     float(m.group('data')), int(mem) if mem else None))
    return rows


def summarise(rows, warmup: int) -> dict:
    """Median time / data time after ``warmup`` iterations (all of them if
    there are not more), max memory."""
    steady = [r for r in rows if r[0] > warmup] or rows
    mems = [r[3] for r in rows if r[3] is not None]
    return dict(
        iters=len(rows),
        steady_iters=len(steady),
        time=statistics.median(r[1] for r in steady) if steady else None,
        data_time=statistics.median(r[2] for r in steady) if steady else None,
        memory_mb=max(mems) if mems else None)


def env_with_repo() -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    paths = [ROOT] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep)
                      if p]
    env['PYTHONPATH'] = os.pathsep.join(paths)
    return env


def run(cmd, log_path: str, timeout: float):
    """Run ``cmd`` from the repository root, output to ``log_path``;
    returns ``(returncode or 'timeout', output text, seconds)``."""
    t = time.perf_counter()
    with open(log_path, 'w') as log:
        try:
            proc = subprocess.run(cmd, cwd=ROOT, env=env_with_repo(),
                                  stdout=log, stderr=subprocess.STDOUT,
                                  timeout=max(timeout, 1), check=False)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            code = 'timeout'
    with open(log_path) as f:
        text = f.read()
    return code, text, time.perf_counter() - t


def make_data(data_dir: str, smoke: bool, nproc: int) -> dict:
    from mmseg_uda.datasets.synthetic import generate_synthetic_uda
    if smoke:
        sizes = dict(num_source=6, num_target_train=4, num_target_val=1)
    else:
        sizes = dict(num_source=16, num_target_train=8, num_target_val=3,
                     source_size=(1914, 1052), target_size=(2048, 1024))
    roots = generate_synthetic_uda(data_dir, convert=False, **sizes)
    code, text, _ = run([sys.executable, 'tools/dataset_converters/gta.py',
                         roots['gta'], '--nproc', str(nproc)],
                        osp.join(data_dir, 'convert.log'), timeout=600)
    if code != 0:
        raise SystemExit(f'GTA conversion failed ({code}):\n{text[-3000:]}')
    return roots


def common_options(roots: dict, uda: bool, smoke: bool) -> list:
    from mmseg_uda.datasets.synthetic import synthetic_root_options
    opts = synthetic_root_options(roots, uda) + [
        'default_hooks.logger.interval=1', 'log_processor.window_size=1']
    if not smoke:
        prefix = 'model.segmentor' if uda else 'model'
        opts.append(f'{prefix}.backbone.init_cfg=None')  # no download
        if uda:  # the generated images are few: keep every class sampled
            opts.append(
                'train_dataloader.dataset.rare_class_sampling.min_pixels=200')
    if smoke:
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            opts += [f'{key}.num_workers=0', f'{key}.persistent_workers=False']
    return opts


def train_run(name, config, uda, hrda, amp, args, roots, deadline):
    iters = args.hrda_iters if hrda else args.iters
    tag = re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')
    work_dir = osp.join(args.work_dir, f'{tag}-{"amp" if amp else "fp32"}')
    os.makedirs(work_dir, exist_ok=True)
    keep_ckpt = name == TEST_RUN and not amp
    opts = common_options(roots, uda, args.cpu_smoke) + RUN_OPTIONS.get(
        name, []) + [
        f'train_cfg.max_iters={iters}',
        f'train_cfg.val_begin={iters + 1}',  # no validation
        f'default_hooks.checkpoint.interval={iters if keep_ckpt else 10**9}',
        f'default_hooks.checkpoint.save_last={keep_ckpt}',
    ]
    cmd = [sys.executable, 'tools/train.py', config, '--work-dir', work_dir]
    if amp:
        cmd.append('--amp')
    cmd += ['--cfg-options', *opts]
    code, text, wall = run(cmd, osp.join(work_dir, 'run.log'),
                           timeout=deadline - time.monotonic())
    result = dict(name=name, precision='amp' if amp else 'fp32',
                  config=config, returncode=code, wall_s=round(wall, 1),
                  work_dir=work_dir, **summarise(parse_log(text, 'train'),
                                                 args.warmup))
    if code != 0:
        result['error'] = text[-2000:]
    return result


def test_run(config, ckpt, args, roots, deadline):
    work_dir = osp.join(args.work_dir, 'hrda-test')
    os.makedirs(work_dir, exist_ok=True)
    opts = common_options(roots, True, args.cpu_smoke)
    cmd = [sys.executable, 'tools/test.py', config, ckpt, '--work-dir',
           work_dir, '--cfg-options', *opts]
    code, text, wall = run(cmd, osp.join(work_dir, 'run.log'),
                           timeout=deadline - time.monotonic())
    result = dict(name='HRDA test (slide)', precision='fp32', config=config,
                  returncode=code, wall_s=round(wall, 1), work_dir=work_dir,
                  **summarise(parse_log(text, 'test'), 1))
    if code != 0:
        result['error'] = text[-2000:]
    return result


def report(r: dict) -> None:
    if r.get('skipped'):
        return
    print(f"{r['name']} {r['precision']}: rc {r['returncode']}, "
          f"{fmt(r['time'], '.3f')} s/iter, {r['wall_s']} s wall",
          flush=True)


def test_checkpoint(results):
    """``(checkpoint, config)`` of the fp32 run of ``TEST_RUN`` if it
    finished, else None."""
    for r in results:
        if (r['name'] == TEST_RUN and r['precision'] == 'fp32'
                and r.get('returncode') == 0):
            last = osp.join(r['work_dir'], 'last_checkpoint')
            if osp.exists(last):
                with open(last) as f:
                    return f.read().strip(), r['config']
    return None


def fmt(value, spec):
    width = int(re.match(r'\d*', spec).group() or 0)
    return '-'.rjust(width) if value is None else format(value, spec)


def print_table(results, device: str, test_size: str) -> None:
    print(f'\nmmseg_uda speed on {device} (steady state: median s/iter '
          'after the warm-up iterations; memory: max allocated)')
    head = (f"| {'run':22s} | {'precision':9s} | {'s/iter':>7s} | "
            f"{'data s/iter':>11s} | {'peak GB':>7s} | {'40k iters':>9s} | "
            f"{'iters (steady)':>14s} |")
    print(head)
    print('|' + '|'.join('-' * (len(c)) for c in head.split('|')[1:-1]) +
          '|')
    for r in results:
        if r.get('skipped'):
            print(f"| {r['name']:22s} | {r['precision']:9s} | skipped "
                  f"({r['skipped']}) |")
            continue
        if r['returncode'] != 0:
            print(f"| {r['name']:22s} | {r['precision']:9s} | failed "
                  f"({r['returncode']}), log: {r['work_dir']}/run.log |")
            continue
        test = r['name'].startswith('HRDA test')
        est = '-'
        if r['time'] is not None and not test:
            est = f"{r['time'] * 40000 / 3600:.1f} h"
        mem = (r['memory_mb'] / 1024 if r['memory_mb'] is not None else
               None)
        unit = f' s/img {test_size}' if test else ''
        print(f"| {r['name']:22s} | {r['precision']:9s} | "
              f"{fmt(r['time'], '7.3f')} | {fmt(r['data_time'], '11.4f')} | "
              f"{fmt(mem, '7.1f')} | {est:>9s} | "
              f"{r['iters']:>6d} ({r['steady_iters']:>3d}){unit} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/gpu_speed')
    parser.add_argument('--iters', type=int, default=30,
                        help='iterations of the 512x512 configs')
    parser.add_argument('--hrda-iters', type=int, default=20,
                        help='iterations of the 1024x1024 configs')
    parser.add_argument('--warmup', type=int, default=10,
                        help='first iterations left out of the median')
    parser.add_argument('--amp', choices=['uda', 'all', 'none'],
                        default='uda',
                        help='which configs also run with --amp')
    parser.add_argument('--time-limit', type=float, default=470,
                        help='seconds for everything; runs that would not '
                        'fit are skipped')
    parser.add_argument('--nproc', type=int, default=os.cpu_count() or 1)
    parser.add_argument('--cpu-smoke', action='store_true',
                        help='the same path on the CPU, shrunk (CI)')
    parser.add_argument('--only', nargs='+', metavar='NAME',
                        help='run only these (names of the table, e.g. '
                        '"DAFormer DINOv2-B")')
    parser.add_argument('--jobs', type=int, default=None,
                        help='training runs at a time (--cpu-smoke only; '
                        'default 2 there, 1 on a GPU)')
    args = parser.parse_args()
    start = time.monotonic()
    deadline = start + args.time_limit
    if args.jobs is not None and args.jobs > 1 and not args.cpu_smoke:
        raise SystemExit('--jobs > 1 only with --cpu-smoke (timing runs '
                         'share no device)')
    args.jobs = args.jobs or (2 if args.cpu_smoke else 1)
    if args.cpu_smoke:
        args.iters = args.hrda_iters = 1
        args.warmup = 0
        args.amp = 'none'
        runs = SMOKE_RUNS
        device = 'CPU (smoke test: tiny networks, not a speed measurement)'
        test_size = 'at 256x128'
    else:
        import torch
        if not torch.cuda.is_available():
            raise SystemExit('no CUDA device: use --cpu-smoke on a CPU')
        runs = GPU_RUNS
        device = f'one {torch.cuda.get_device_name(0)}'
        test_size = 'at 2048x1024'
    if args.only:
        unknown = set(args.only) - {r[0] for r in runs}
        if unknown:
            raise SystemExit(f'--only: unknown runs {sorted(unknown)}; '
                             f'choose from {[r[0] for r in runs]}')
        runs = [r for r in runs if r[0] in args.only]
    sys.path.insert(0, ROOT)
    os.makedirs(args.work_dir, exist_ok=True)
    t = time.monotonic()
    roots = make_data(osp.join(args.work_dir, 'data'), args.cpu_smoke,
                      args.nproc)
    print(f'data generated and converted in {time.monotonic() - t:.0f} s: '
          f'{roots}', flush=True)

    # fp32 and AMP of a config back to back, so a run cut by the time limit
    # still leaves complete pairs
    plan = []
    for name, config, uda, hrda in runs:
        plan.append((name, config, uda, hrda, False))
        if args.amp == 'all' or (args.amp == 'uda' and uda):
            plan.append((name, config, uda, hrda, True))
    # the smallest time a run needs (start-up + its iterations)
    min_run_s = 20 if args.cpu_smoke else 60
    results = []
    if args.jobs > 1:
        # --cpu-smoke only: the runs are independent processes (timing
        # runs on a GPU go one at a time)
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(args.jobs) as pool:
            futures = [
                pool.submit(train_run, name, config, uda, hrda, amp, args,
                            roots, deadline)
                for name, config, uda, hrda, amp in plan
            ]
            results = [f.result() for f in futures]
    else:
        for name, config, uda, hrda, amp in plan:
            left = deadline - time.monotonic()
            # keep time for the test run after the checkpoint exists
            reserve = min_run_s if test_checkpoint(results) else 0
            if left - reserve < min_run_s:
                results.append(dict(name=name,
                                    precision='amp' if amp else 'fp32',
                                    skipped='time limit'))
                continue
            results.append(train_run(name, config, uda, hrda, amp, args,
                                     roots, deadline - reserve))
            report(results[-1])
    if args.jobs > 1:
        for r in results:
            report(r)
    test_ckpt, test_config = test_checkpoint(results) or (None, None)
    if test_ckpt is None:
        results.append(dict(name='HRDA test (slide)', precision='fp32',
                            skipped='no HRDA checkpoint'))
    else:
        r = test_run(test_config, test_ckpt, args, roots, deadline)
        results.append(r)
        print(f"HRDA test: rc {r['returncode']}, {fmt(r['time'], '.3f')} "
              f"s/image, {r['wall_s']} s wall", flush=True)
    with open(osp.join(args.work_dir, 'gpu_speed.json'), 'w') as f:
        json.dump(dict(device=device, results=results,
                       seconds=round(time.monotonic() - start, 1)), f,
                  indent=1)
    print_table(results, device, test_size)
    print(f'total {time.monotonic() - start:.0f} s')
    failed = [r for r in results if r.get('returncode') not in (0, None)]
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
