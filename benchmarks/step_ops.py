"""Kernel launches and host syncs of a training step, counted on CPU.

A CPU proxy of GPU speed that CI can keep: each top-level aten op of a step
is one (or a few) kernel launches on a GPU, and ``aten::_local_scalar_dense``
(``.item()``, ``bool(tensor)``, ``tolist``), ``nonzero`` (boolean
indexing), ``unique`` and friends stop the host until the GPU has caught up.
With the full MiT-B5 at a small crop the op counts are those of the real
configs (they do not depend on the image size), so a step that launches
3.7x the kernels of a supervised step for ~2.6x its arithmetic leaves a GPU
idle.

Steps, each profiled once after a warm-up step with ``torch.profiler``:

- ``supervised``: DAFormer (MiT-B5 + DAFormer head), one source batch;
- ``dacs``: DAFormer's DACS step (``configs/_base_/uda/dacs.py``);
- ``hrda-supervised``: the HRDA segmentor on one source batch;
- ``hrda``: DACS with HRDA (``configs/_base_/uda/dacs_hrda.py``);
- ``mic-hrda``: the same plus MIC (``configs/_base_/uda/mic.py``).

The optimizer is the configs' AdamW (``adamw_warmup_poly_40k.py``) with
the implementation a CUDA run uses (``fused=True``; on CPU torch has a fused
AdamW too), so the counts are those a GPU would see. The DACS steps carry
``torch.profiler.record_function`` ranges (``uda.*``) and each op is
charged to its innermost range: that is the breakdown printed.

    python benchmarks/step_ops.py [--crop 128] [--batch 2] [--steps dacs,hrda]
        [--json out.json]

Targets (issue 14): DACS <= 2.8x the supervised step's top-level ops and no
sync op inside a step (logging reads the detached losses afterwards, outside
the step).
"""
import argparse
import collections
import copy
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# Ops that wait for the device (on a GPU) before the host can go on.
SYNC_OPS = ('aten::_local_scalar_dense', 'aten::item', 'aten::nonzero',
            'aten::nonzero_static', 'aten::unique', 'aten::_unique',
            'aten::_unique2', 'aten::unique_dim', 'aten::unique_consecutive',
            'aten::masked_select', 'aten::repeat_interleave',
            'aten::bincount', 'aten::histc', 'aten::equal', 'aten::is_nonzero')


def _model_cfg(kind: str, crop: int):
    from mmengine.config import Config
    base = ('hrda_daformer_sepaspp_mitb5.py'
            if kind.startswith('hrda') or kind.startswith('mic')
            else 'daformer_sepaspp_mitb5.py')
    cfg = Config.fromfile(os.path.join(ROOT, 'configs/_base_/models', base))
    seg = cfg.model
    seg.backbone.init_cfg = None
    bn = dict(type='BN', requires_grad=True)  # SyncBN needs a process group
    head = seg.decode_head
    head.norm_cfg = bn
    head.decoder_params.fusion_cfg.norm_cfg = bn
    size = crop
    if base.startswith('hrda'):
        # HRDA input = 2x crop; context = crop, detail = crop at full res
        size = 2 * crop
        seg.hr_crop_size = (crop, crop)
        seg.test_cfg.crop_size = (size, size)
        seg.test_cfg.stride = (crop, crop)
    seg.data_preprocessor.size = (size, size)
    return seg, size


def _uda_cfg(kind: str, seg, size: int):
    from mmengine.config import Config
    name = 'dacs.py' if kind == 'dacs' else 'dacs_hrda.py'
    uda = dict(Config.fromfile(
        os.path.join(ROOT, 'configs/_base_/uda', name)).uda)
    uda['segmentor'] = seg
    if kind == 'mic-hrda':
        mic = Config.fromfile(os.path.join(ROOT, 'configs/_base_/uda/mic.py'))
        mic = copy.deepcopy(mic.mic)
        mic['mask_generator']['block_size'] = max(size // 16, 1)  # 64 @ 1024
        uda['mic'] = mic
    if kind == 'dacs':
        # DAFormer's ignore rows are for 512 crops; scale them with the crop
        uda['pseudo_weight_ignore_top'] = max(15 * size // 512, 1)
        uda['pseudo_weight_ignore_bottom'] = max(120 * size // 512, 1)
    return uda


def _optim_wrapper(model, fused: bool):
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    cfg = Config.fromfile(os.path.join(
        ROOT, 'configs/_base_/schedules/adamw_warmup_poly_40k.py'))
    ow = copy.deepcopy(cfg.optim_wrapper)
    # what 'auto' gives on CUDA, or torch's CUDA default (foreach)
    ow.optimizer['fused'] = True if fused else None
    ow.optimizer['foreach'] = None if fused else True
    return build_optim_wrapper(model, ow)


def make_batch(batch: int, size: int, labelled: bool, valid_mask: bool):
    import torch
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    g = torch.Generator().manual_seed(int(labelled))
    inputs, samples = [], []
    for _ in range(batch):
        inputs.append(torch.randint(0, 256, (3, size, size), generator=g,
                                    dtype=torch.uint8))
        s = SegDataSample(metainfo=dict(img_shape=(size, size),
                                        ori_shape=(size, size)))
        if labelled:
            # blocky labels with thing classes, like a street scene
            cell = max(size // 8, 1)
            lbl = torch.randint(0, 19, (1, size // cell, size // cell),
                                generator=g)
            lbl = lbl.repeat_interleave(cell, 1).repeat_interleave(cell, 2)
            s.gt_sem_seg = PixelData(data=lbl)
        elif valid_mask:
            m = torch.ones(1, size, size, dtype=torch.uint8)
            m[:, :size // 32] = 0
            s.valid_pseudo_mask = PixelData(data=m)
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def build_step(kind: str, args):
    """A closure running one training step of ``kind``."""
    import torch
    from mmseg.registry import MODELS
    from torch.profiler import record_function
    seg_cfg, size = _model_cfg(kind, args.crop)
    torch.manual_seed(0)
    hrda = kind != 'supervised' and kind != 'dacs'
    src = make_batch(args.batch, size, True, False)
    tgt = make_batch(args.batch, size, False, hrda)
    if kind.endswith('supervised'):
        from mmseg_uda.models.data_preprocessors import UDADataPreProcessor
        model = MODELS.build(seg_cfg)
        model.init_weights()
        model.train()
        optim = _optim_wrapper(model, args.fused_adamw)
        pre = UDADataPreProcessor(data_preprocessor=seg_cfg.data_preprocessor)

        def step():
            with record_function('uda.preprocess'):
                data = pre(dict(source=copy.deepcopy(src)), True)['source']
            with record_function('uda.source'):
                losses = model.loss(data['inputs'], data['data_samples'])
                loss, logs = model.parse_losses(losses)
                optim.backward(loss)
            with record_function('uda.optimizer'):
                optim.step()
                optim.zero_grad()
            return logs
        return step

    model = MODELS.build(_uda_cfg(kind, seg_cfg, size))
    model.init_weights()
    model.train()
    model.teacher.load_state_dict(model.student.state_dict())
    optim = _optim_wrapper(model, args.fused_adamw)

    def step():
        return model.train_step(
            dict(source=copy.deepcopy(src), target=copy.deepcopy(tgt)),
            optim)
    return step


def count_ops(events):
    """Top-level aten ops (no aten op above them), their innermost
    ``uda.*`` range, and the sync ops (outermost ones, at any depth)."""
    total = 0
    by_range = collections.Counter()
    syncs = collections.Counter()
    for ev in events:
        if not ev.name.startswith('aten::'):
            continue
        parent, top, where, in_fused = ev.cpu_parent, True, None, False
        while parent is not None:
            # nested in another sync op (item -> _local_scalar_dense): one
            # sync; in the CPU fused AdamW kernel, which reads each step
            # count on the host (the CUDA kernel reads it on the device)
            if (parent.name.startswith('aten::_fused_adam')
                    or parent.name in SYNC_OPS):
                in_fused = True
            if parent.name.startswith('aten::') and top:
                top = False
            if not top and in_fused:
                break
            if where is None and parent.name.startswith('uda.'):
                where = parent.name[4:]
            parent = parent.cpu_parent
        if ev.name in SYNC_OPS and not in_fused:
            syncs[ev.name] += 1
        if top:
            total += 1
            by_range[where or 'other'] += 1
    return total, by_range, syncs


def profile_step(kind: str, args) -> dict:
    from torch.profiler import ProfilerActivity, profile
    step = build_step(kind, args)
    step()  # warm-up: optimizer state, lazy buffers
    t = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    seconds = time.perf_counter() - t
    total, by_range, syncs = count_ops(prof.events())
    return dict(ops=total, by_range=dict(by_range), syncs=dict(syncs),
                seconds=seconds)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--crop', type=int, default=128,
                        help='DAFormer crop; HRDA input is 2x, detail crop 1x')
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--steps',
                        default='supervised,dacs,hrda-supervised,hrda,'
                        'mic-hrda')
    parser.add_argument('--no-fused-adamw', dest='fused_adamw',
                        action='store_false',
                        help='foreach AdamW (the configs without '
                        'optim_wrapper.optimizer.fused)')
    parser.add_argument('--json', help='also write the counts here')
    args = parser.parse_args()

    import torch
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope

    import mmseg_uda  # noqa: F401
    init_default_scope('mmseg')
    # no per-parameter optimizer lines
    MMLogger.get_instance('mmengine', log_level='ERROR')
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', '1') or 1))

    results = {}
    for kind in args.steps.split(','):
        results[kind] = profile_step(kind, args)
        r = results[kind]
        print(f"{kind:16s} {r['ops']:6d} top-level aten ops, syncs "
              f"{sum(r['syncs'].values())} {r['syncs'] or ''} "
              f"({r['seconds']:.1f} s profiled)", flush=True)

    print(f'\nMiT-B5, crop {args.crop} (HRDA input {2 * args.crop}), batch '
          f'{args.batch}, AdamW fused={args.fused_adamw}')
    print(f"{'step':16s} {'ops':>6s} {'ratio':>6s} {'syncs':>6s}  breakdown")
    ref = {'dacs': 'supervised', 'hrda': 'hrda-supervised',
           'mic-hrda': 'hrda-supervised'}
    for kind, r in results.items():
        base = results.get(ref.get(kind, kind))
        ratio = f"{r['ops'] / base['ops']:.2f}" if base else '-'
        parts = ', '.join(f'{k} {v}' for k, v in sorted(
            r['by_range'].items(), key=lambda kv: -kv[1]))
        print(f"{kind:16s} {r['ops']:6d} {ratio:>6s} "
              f"{sum(r['syncs'].values()):6d}  {parts}")
    if 'dacs' in results and 'supervised' in results:
        ratio = results['dacs']['ops'] / results['supervised']['ops']
        print(f'DACS / supervised top-level ops: {ratio:.2f} '
              '(target <= 2.8)')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(crop=args.crop, batch=args.batch,
                           fused_adamw=args.fused_adamw, results=results),
                      f, indent=1)


if __name__ == '__main__':
    main()
