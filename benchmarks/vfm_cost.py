"""Cost of a DACS step with a DINOv2 encoder versus MiT-B5, on the CPU.

For each encoder, the DACS config of the model zoo with its full network
(every block, every channel; DAFormer head), at a shrunk crop, in a fresh
process:

- ``params``: parameters of the trained network (the student);
- ``ops``: top-level aten ops of one DACS step (source, pseudo-label,
  mixed; AdamW step), counted with ``torch.profiler`` as
  ``benchmarks/step_ops.py`` does: on a GPU each is one or a few kernel
  launches, independent of the image size;
- ``peak``: growth of the resident set during the step (activations,
  gradients, temporaries; the weights and optimizer state of the warm-up
  step are already there), measured as ``benchmarks/peak_memory.py``
  describes (``MALLOC_MMAP_THRESHOLD_`` set, fresh process);
- ``s/step``: wall time of the profiled step (CPU, one thread: a proxy
  only; GPU numbers come from ``benchmarks/gpu_speed.py``).

Encoders: ``mitb5`` (configs/daformer/daformer-nofd_mitb5_..., the
feature distance off like the DINOv2 configs), ``dinov2-b`` and
``dinov2-l`` (configs/vfm/daformer_dinov2-{b,l}_...). ImageNet/DINOv2
weights are not loaded (the cost does not depend on them).

    python benchmarks/vfm_cost.py [--crop 112] [--batch 2]
        [--encoders mitb5,dinov2-b,dinov2-l] [--json out.json]
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

CONFIGS = {
    'mitb5': 'configs/daformer/'
    'daformer-nofd_mitb5_1xb2-40k_gta2cityscapes-512x512.py',
    'dinov2-b': 'configs/vfm/daformer_dinov2-b_1xb2-40k_gta2cityscapes-'
    '512x512.py',
    'dinov2-l': 'configs/vfm/daformer_dinov2-l_1xb2-40k_gta2cityscapes-'
    '512x512.py',
}


def build_step(name: str, crop: int, batch: int):
    """The UDA model of ``name``'s config at ``crop`` and a closure running
    one DACS step on fixed batches."""
    import copy

    import torch
    from mmengine.config import Config
    from mmseg.registry import MODELS
    from step_ops import _optim_wrapper, make_batch

    cfg = Config.fromfile(os.path.join(ROOT, CONFIGS[name]))
    seg = cfg.model.segmentor
    backbone = seg.backbone.get('vit', seg.backbone)
    backbone.init_cfg = None  # nothing to download; cost is the same
    bn = dict(type='BN', requires_grad=True)  # SyncBN needs a process group
    seg.decode_head.norm_cfg = bn
    seg.decode_head.decoder_params.fusion_cfg.norm_cfg = bn
    seg.data_preprocessor.size = (crop, crop)
    # DAFormer's ignore rows are for 512 crops; scale them with the crop
    cfg.model.pseudo_weight_ignore_top = max(15 * crop // 512, 1)
    cfg.model.pseudo_weight_ignore_bottom = max(120 * crop // 512, 1)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    model.teacher.load_state_dict(model.student.state_dict())
    optim = _optim_wrapper(model, fused=True)
    src = make_batch(batch, crop, True, False)
    tgt = make_batch(batch, crop, False, False)

    def step():
        return model.train_step(
            dict(source=copy.deepcopy(src), target=copy.deepcopy(tgt)),
            optim)

    params = sum(p.numel() for p in model.student.parameters())
    return step, params


def worker(name: str, crop: int, batch: int) -> dict:
    # mmseg_uda first: it installs the mmcv-lite shim
    import mmseg_uda  # noqa: F401, I001
    import torch
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope
    from peak_memory import PeakMeter
    from step_ops import count_ops
    from torch.profiler import ProfilerActivity, profile

    init_default_scope('mmseg')
    MMLogger.get_instance('mmengine', log_level='ERROR')
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', '1') or 1))
    step, params = build_step(name, crop, batch)
    step()  # warm-up: optimizer state, lazy buffers
    with PeakMeter('cpu') as meter:
        step()
    t = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    seconds = time.perf_counter() - t
    ops, _, syncs = count_ops(prof.events())
    return dict(params=params, ops=ops, syncs=sum(syncs.values()),
                peak=meter.peak, seconds=seconds)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--crop', type=int, default=112)
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--encoders', default='mitb5,dinov2-b,dinov2-l')
    parser.add_argument('--json', help='also write the numbers here')
    parser.add_argument('--worker', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.crop, args.batch)))
        return

    results = {}
    for name in args.encoders.split(','):
        if name not in CONFIGS:
            raise SystemExit(f'unknown encoder {name!r}; one of '
                             f'{sorted(CONFIGS)}')
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='65536')
        env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
        proc = subprocess.run(
            [sys.executable, os.path.abspath(__file__), '--worker', name,
             '--crop', str(args.crop), '--batch', str(args.batch)],
            env=env, cwd=ROOT, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr[-3000:])
            raise SystemExit(f'{name} failed')
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        r = results[name]
        print(f"{name}: {r['params'] / 1e6:.1f} M params, {r['ops']} ops, "
              f"peak {r['peak'] / 2**20:.0f} MiB, {r['seconds']:.1f} s",
              flush=True)

    ref = results.get('mitb5')
    print(f'\nDACS step (DAFormer head), crop {args.crop}, batch '
          f'{args.batch}, CPU, one thread')
    print('| encoder | params (M) | top-level ops | host syncs | '
          'peak step memory (MiB) | s/step | ops / MiT-B5 | '
          'memory / MiT-B5 |')
    print('|---|---|---|---|---|---|---|---|')
    for name, r in results.items():
        ops_ratio = f"{r['ops'] / ref['ops']:.2f}" if ref else '-'
        mem_ratio = f"{r['peak'] / ref['peak']:.2f}" if ref else '-'
        print(f"| {name} | {r['params'] / 1e6:.1f} | {r['ops']} | "
              f"{r['syncs']} | {r['peak'] / 2**20:.0f} | "
              f"{r['seconds']:.1f} | {ops_ratio} | {mem_ratio} |")
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(crop=args.crop, batch=args.batch,
                           results=results), f, indent=1)


if __name__ == '__main__':
    main()
