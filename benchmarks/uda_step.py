"""Cost of a DACS training step relative to a plain supervised step.

Both use the same segmentor (the tiny-MiT DAFormer of the quick-start, or
MiT-B5 with ``--full``), crop and batch size (B source + B target images for
DACS, B images for the supervised step). Targets (issue 4): DACS time
<= 2.7x and peak memory <= 1.5x the supervised step's (DACS does ~2.6x the
arithmetic: source forward/backward, teacher forward, mixed
forward/backward, plus the frozen ImageNet encoder's forward).

Time: both steps run in one process, interleaved, and the medians are
compared (robust to a noisy machine). Peak memory: each step runs in a
fresh process (see ``peak_memory.py``).

    python benchmarks/uda_step.py [--full] [--crop 256] [--batch 2]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peak_memory import PeakMeter  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build(args):
    import torch
    from mmengine.config import Config
    from mmengine.optim import OptimWrapper
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import mmseg_uda  # noqa: F401
    init_default_scope('mmseg')
    model_base = ('daformer_sepaspp_mitb5.py'
                  if args.full else 'daformer_sepaspp_mit-tiny.py')
    cfg = Config.fromfile(
        os.path.join(ROOT, 'configs/_base_/models', model_base))
    seg = cfg.model
    seg.data_preprocessor.size = (args.crop, args.crop)
    seg.backbone.init_cfg = None
    bn = dict(type='BN', requires_grad=True)
    seg.decode_head.norm_cfg = bn
    seg.decode_head.decoder_params.fusion_cfg.norm_cfg = bn
    uda = Config.fromfile(os.path.join(ROOT, 'configs/_base_/uda/dacs.py'))
    dacs_cfg = dict(uda.uda)
    dacs_cfg['segmentor'] = seg
    torch.manual_seed(0)
    dacs = MODELS.build(dacs_cfg).to(args.device)
    dacs.init_weights()
    dacs.train()
    dacs.teacher.load_state_dict(dacs.student.state_dict())

    def optim(params):
        return OptimWrapper(torch.optim.AdamW(params, lr=6e-5))

    return dacs, optim


def make_batch(args, labelled):
    import torch
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    g = torch.Generator().manual_seed(int(labelled))
    size = args.crop
    inputs, samples = [], []
    for _ in range(args.batch):
        inputs.append(torch.randint(0, 256, (3, size, size), generator=g,
                                    dtype=torch.uint8))
        s = SegDataSample(metainfo=dict(img_shape=(size, size),
                                        ori_shape=(size, size)))
        if labelled:
            # blocky labels with thing classes, like a street scene
            lbl = torch.randint(0, 19, (1, size // 32, size // 32),
                                generator=g)
            lbl = lbl.repeat_interleave(32, 1).repeat_interleave(32, 2)
            s.gt_sem_seg = PixelData(data=lbl)
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def steps(args):
    """(supervised step, DACS step) closures on the same segmentor."""
    import copy
    dacs, optim = build(args)
    student = dacs.student
    sup_optim = optim(list(student.parameters()))
    dacs_optim = optim([p for p in dacs.parameters() if p.requires_grad])
    src, tgt = make_batch(args, True), make_batch(args, False)

    def supervised():
        data = dacs.data_preprocessor(copy.deepcopy(src), True)
        losses = student.loss(data['inputs'], data['data_samples'])
        loss, _ = student.parse_losses(losses)
        sup_optim.update_params(loss)

    def uda():
        dacs.train_step(dict(source=copy.deepcopy(src),
                             target=copy.deepcopy(tgt)), dacs_optim)

    return supervised, uda


def sync(device):
    if device == 'cuda':
        import torch
        torch.cuda.synchronize()


def time_worker(args) -> dict:
    supervised, uda = steps(args)
    for fn in (supervised, uda):  # warm-up
        fn()
    times = {'supervised': [], 'dacs': []}
    for _ in range(args.repeats):
        for name, fn in (('supervised', supervised), ('dacs', uda)):
            sync(args.device)
            t = time.perf_counter()
            fn()
            sync(args.device)
            times[name].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def memory_worker(args) -> dict:
    supervised, uda = steps(args)
    fn = supervised if args.worker == 'memory-supervised' else uda
    fn()  # warm-up: optimizer states and caches exist before measuring
    with PeakMeter(args.device) as meter:
        fn()
    return dict(peak=meter.peak)


def run_worker(name, args) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), '--worker', name,
           '--device', args.device, '--crop', str(args.crop), '--batch',
           str(args.batch), '--repeats', str(args.repeats)]
    if args.full:
        cmd.append('--full')
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='65536')
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    res = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True,
                         text=True, check=False)
    if res.returncode != 0:
        sys.stderr.write(res.stderr[-5000:])
        raise SystemExit(f'worker {name} failed')
    return json.loads(res.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default=None)
    parser.add_argument('--full', action='store_true',
                        help='MiT-B5 + DAFormer head (for a GPU)')
    parser.add_argument('--crop', type=int, default=256)
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--worker', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.device is None:
        import torch
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args.worker == 'time':
        print(json.dumps(time_worker(args)))
        return
    if args.worker:
        print(json.dumps(memory_worker(args)))
        return
    net = 'MiT-B5 + DAFormer head' if args.full else 'tiny MiT + DAFormer head'
    print(f'{net}, crop {args.crop}, batch {args.batch} (+{args.batch} '
          f'target for DACS), device {args.device}')
    t = run_worker('time', args)
    m_sup = run_worker('memory-supervised', args)['peak']
    m_dacs = run_worker('memory-dacs', args)['peak']
    mib = 2.0**20
    print(f"step time: supervised {t['supervised'] * 1e3:.0f} ms, DACS "
          f"{t['dacs'] * 1e3:.0f} ms -> ratio "
          f"{t['dacs'] / t['supervised']:.2f} (target <= 2.7)")
    print(f'peak memory: supervised {m_sup / mib:.0f} MiB, DACS '
          f'{m_dacs / mib:.0f} MiB -> ratio {m_dacs / m_sup:.2f} '
          '(target <= 1.5)')


if __name__ == '__main__':
    main()
