"""Peak memory of HRDA versus single-scale training and window inference.

Prints, in one run:

1. the peak memory of one HRDA training step (forward + backward) on a
   1024x1024 crop, as a ratio to a single-scale step of the same network
   (encoder + DAFormer head) on the full 1024x1024 crop (HRDA's claim:
   <= 0.6x);
2. the peak memory of HRDA inference (sliding 1024x1024 windows, stride
   512, ``batch_size`` windows per forward) on a 2048x1024 image, as a ratio
   to the inference of one 1024x1024 window (target <= 1.3x); for contrast
   also with all windows in one batch, as the reference does.

How memory is measured (each measurement in a fresh subprocess):

* CUDA: ``torch.cuda.max_memory_allocated()`` minus the memory allocated
  before the step (model weights and inputs are excluded, activations,
  gradients and temporaries included).
* CPU: the growth of the process's resident set during the step: the
  kernel's high-water mark ``VmHWM`` is reset (``/proc/self/clear_refs``)
  right before the step and compared with ``VmRSS`` before it. glibc is run
  with a fixed ``MALLOC_MMAP_THRESHOLD_`` (64 KiB) so that every tensor
  buffer is its own mapping and is returned to the kernel when freed: the
  resident set then follows the live allocations (tensors, and also the
  scratch buffers of the kernels), not a cache. One warm-up step on a small
  input runs first, so one-time library initialisation is not counted.

By default the network is scaled down so that it runs on 2 CPU cores in a
few minutes (a 1-layer MiT with ``--mit-dims`` and a DAFormer head with
``--head-dims`` channels; ``--full`` uses the real MiT-B5 + DAFormer head,
meant for a GPU). Every activation scales with the pixel count, so the ratios
carry over; the small encoder makes the HRDA ratio conservative, because the
extra LR scale-attention head weighs more next to a small encoder.

Usage::

    python benchmarks/hrda_memory.py [--full] [--batch 1] [--device cpu]
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peak_memory import PeakMeter  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = os.path.join(ROOT, 'configs', '_base_', 'models')


def build_model(kind: str, args):
    # mmseg_uda first: it installs the mmcv-lite shim
    import mmseg_uda  # noqa: F401, I001
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    init_default_scope('mmseg')
    name = ('hrda_daformer_sepaspp_mitb5'
            if kind == 'hrda' else 'daformer_sepaspp_mitb5')
    cfg = Config.fromfile(os.path.join(BASE, f'{name}.py'))
    bn = dict(type='BN', requires_grad=True)
    model = cfg.model
    model.backbone.init_cfg = None
    model.decode_head.norm_cfg = bn
    model.decode_head.decoder_params.fusion_cfg.norm_cfg = bn
    if not args.full:
        d = args.mit_dims
        model.backbone.update(embed_dims=d, num_layers=[1, 1, 1, 1])
        model.decode_head.update(
            in_channels=[d, 2 * d, 5 * d, 8 * d], channels=args.head_dims)
        model.decode_head.decoder_params.embed_dims = args.head_dims
        if kind == 'hrda':
            model.decode_head.attention_embed_dim = args.head_dims
    if kind == 'hrda':
        # one window per forward (the bounded-memory setting measured here)
        # unless told; the configs' pixel budget batches 3 windows
        model.test_cfg.max_batch_pixels = None
        model.test_cfg.batch_size = (1 if args.window_batch is None else
                                     args.window_batch or None)
    return MODELS.build(model)


def worker(args) -> dict:
    import torch
    torch.manual_seed(0)
    kind, task = args.worker.split('-', 1)
    model = build_model(kind, args).to(args.device)
    b = args.batch

    def train_batch(size):
        from mmengine.structures import PixelData
        from mmseg.structures import SegDataSample
        x = torch.randn(b, 3, size, size, device=args.device)
        samples = []
        for _ in range(b):
            s = SegDataSample(
                metainfo=dict(img_shape=(size, size), ori_shape=(size, size)))
            s.gt_sem_seg = PixelData(data=torch.randint(
                0, 19, (1, size, size), device=args.device))
            samples.append(s)
        return x, samples

    def train_step(x, samples):
        losses = model.loss(x, samples)
        sum(v for k, v in losses.items() if 'loss' in k).backward()

    if task == 'train':
        model.train()
        train_step(*train_batch(512))  # warm-up (HR crop = whole input)
        model.zero_grad(set_to_none=True)
        data = train_batch(1024)
        with PeakMeter(args.device) as meter:
            train_step(*data)
    else:
        model.eval()
        h, w = (1024, 2048) if task == 'infer2048' else (1024, 1024)
        meta = dict(img_shape=(h, w), ori_shape=(h, w))
        with torch.no_grad():
            warm = torch.randn(1, 3, 512, 512, device=args.device)
            model.inference(warm, [dict(img_shape=(512, 512),
                                        ori_shape=(512, 512))])
            x = torch.randn(b, 3, h, w, device=args.device)
            with PeakMeter(args.device) as meter:
                out = model.inference(x, [meta] * b)
                del out
    return dict(peak=meter.peak)


def run_worker(name: str, args, window_batch=None) -> int:
    cmd = [
        sys.executable, os.path.abspath(__file__), '--worker', name,
        '--device', args.device, '--batch', str(args.batch), '--mit-dims',
        str(args.mit_dims), '--head-dims', str(args.head_dims)
    ]
    if args.full:
        cmd.append('--full')
    if window_batch is not None:
        cmd += ['--window-batch', str(window_batch)]
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='65536')
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    res = subprocess.run(
        cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        sys.stderr.write(res.stderr)
        raise SystemExit(f'worker {name} failed')
    return json.loads(res.stdout.strip().splitlines()[-1])['peak']


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default=None)
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--full', action='store_true',
                        help='real MiT-B5 + DAFormer head (GPU)')
    parser.add_argument('--mit-dims', type=int, default=16)
    parser.add_argument('--head-dims', type=int, default=64)
    parser.add_argument('--worker', help=argparse.SUPPRESS)
    parser.add_argument('--window-batch', type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.device is None:
        import torch
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args.worker:
        print(json.dumps(worker(args)))
        return

    mib = 2.0**20
    net = ('MiT-B5 + DAFormer head' if args.full else
           f'1-layer MiT (dims {args.mit_dims}) + DAFormer head '
           f'(dims {args.head_dims})')
    method = ('torch.cuda.max_memory_allocated' if args.device == 'cuda'
              else 'resident-set high-water mark (VmHWM), fresh process')
    print(f'network: {net}; batch {args.batch}; device {args.device}; '
          f'memory: {method}')
    single = run_worker('single-train', args)
    hrda = run_worker('hrda-train', args)
    print(f'train step, 1024x1024 crop: single-scale {single / mib:.0f} MiB, '
          f'HRDA {hrda / mib:.0f} MiB -> ratio {hrda / single:.2f} '
          '(target <= 0.6)')
    window = run_worker('hrda-infer1024', args)
    image = run_worker('hrda-infer2048', args)
    print(f'inference: one 1024x1024 window {window / mib:.0f} MiB, '
          f'2048x1024 image {image / mib:.0f} MiB -> ratio '
          f'{image / window:.2f} (target <= 1.3; test_cfg batch_size 1)')
    all_at_once = run_worker('hrda-infer2048', args, window_batch=0)
    print(f'  for contrast, all windows in one batch (reference): '
          f'{all_at_once / mib:.0f} MiB -> ratio {all_at_once / window:.2f}')


if __name__ == '__main__':
    main()
