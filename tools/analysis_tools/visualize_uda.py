"""Render the prediction, the EMA teacher's pseudo-label and confidence
(UDA checkpoints) and, for HRDA, the scale attention of a checkpoint on
given images, as PNGs.

    python tools/analysis_tools/visualize_uda.py CONFIG CHECKPOINT \\
        [IMG_OR_DIR ...] [--out-dir work_dirs/visualize_uda]

Without IMG_OR_DIR, the images of the config's validation set are used.
An image of the validation set is drawn with its ground truth when the set
has labels (``<stem>_gt.png`` and a panel column).

Per image ``<stem>``: ``<stem>_pred.png``, ``<stem>_pseudo_label.png``
(pixels below the pseudo-label threshold darkened),
``<stem>_confidence.png`` (teacher max softmax, dark 0 .. bright 1),
``<stem>_attention.png`` (HRDA: weight of the detail prediction) and
``<stem>_panel.png`` (all side by side); ``summary.json`` lists the files
and DACS's pseudo-label weight of each image.

An image that cannot be read (as the config's test pipeline decodes it) is
named on stderr and skipped, the others are drawn; ``summary.json`` lists
it with its ``error``, and the command exits with status 1 at the end.
"""
import argparse
import json
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction
from mmengine.runner import load_checkpoint

import mmseg_uda  # noqa: F401  (registers the plugin)
from mmseg_uda.apis.vis_utils import (
    CITYSCAPES_CLASSES,
    CITYSCAPES_PALETTE,
    save_rgb,
)
from mmseg_uda.apis.visualize import (
    analyse_image,
    list_images,
    render,
    test_pipeline,
    val_samples,
)
from mmseg_uda.datasets.data_checks import load_label, pipeline_loaders
from mmseg_uda.datasets.transforms import read_image


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument(
        'images', nargs='*',
        help='image files or folders (default: the validation set)')
    p.add_argument('--out-dir', default='work_dirs/visualize_uda')
    p.add_argument('--max-images', type=int, default=None)
    p.add_argument('--device', default='cpu')
    p.add_argument(
        '--predict-on', choices=['student', 'teacher'], default=None,
        help='UDA models: the network of the prediction (default: the '
        "config's uda predict_on)")
    p.add_argument(
        '--threshold', type=float, default=None,
        help="pseudo-label confidence threshold (default: the model's)")
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return p.parse_args(argv)


def main(argv=None):
    from mmseg.apis import init_model
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.predict_on and 'segmentor' in cfg.model:
        cfg.model.predict_on = args.predict_on
    model = init_model(cfg, None, device=args.device)
    # mmseg's init_model guesses missing class names from
    # `model.decode_head`, which a UDA model does not have: load here.
    ckpt = load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.dataset_meta = ckpt.get('meta', {}).get('dataset_meta') or dict(
        classes=CITYSCAPES_CLASSES, palette=CITYSCAPES_PALETTE.tolist())
    pipeline = test_pipeline(model.cfg)
    os.makedirs(args.out_dir, exist_ok=True)
    if args.images:
        paths = list_images(args.images, args.max_images)
        try:
            val = val_samples(cfg)
        except (OSError, ValueError):  # no usable val set: no ground truth
            val = {}
    else:
        val = val_samples(cfg)
        paths = sorted(val)[:args.max_images]
    summary = []
    image_loader, _ = pipeline_loaders(pipeline)
    for path in paths:
        stem = osp.splitext(osp.basename(path))[0]
        try:
            read_image(path, image_loader)
        except OSError as e:
            print(f'skipping {path}: {e}', file=sys.stderr)
            summary.append(dict(image=path, error=str(e)))
            continue
        result = analyse_image(model, pipeline, path, args.threshold)
        info = val.get(osp.normpath(path), {})
        if info.get('seg_map_path'):
            result['gt'] = load_label(info)
        entry = dict(image=path, files={})
        for kind, rgb in render(result,
                                dataset_meta=model.dataset_meta).items():
            out = osp.join(args.out_dir, f'{stem}_{kind}.png')
            save_rgb(out, rgb)
            entry['files'][kind] = out
        if 'pseudo_weight' in result:
            entry['pseudo_weight'] = round(result['pseudo_weight'], 4)
            entry['threshold'] = result['threshold']
        summary.append(entry)
        print(f'{path}: ' + ', '.join(sorted(entry['files'])))
    with open(osp.join(args.out_dir, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    skipped = [e['image'] for e in summary if 'error' in e]
    print(f'{len(summary) - len(skipped)} image(s) -> {args.out_dir}')
    if skipped:
        print(f'{len(skipped)} image(s) could not be read and were skipped: '
              + ', '.join(skipped), file=sys.stderr)
    return summary


if __name__ == '__main__':
    sys.exit(1 if any('error' in e for e in main()) else 0)
