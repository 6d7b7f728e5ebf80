"""Browse the training items of a UDA config as the model gets them: the
augmented source image with its label, the augmented target image (and its
valid pseudo-label mask), side by side, for the first ``--num`` samples of
the config's sample stream (rare class sampling included).

    python tools/analysis_tools/browse_uda_dataset.py CONFIG \\
        [--output-dir work_dirs/browse_uda] [--num 20] [--show]

mmseg's ``tools/analysis_tools/browse_dataset.py`` does the same for plain
datasets; it fails on ``UDADataset`` items (``dict(source=..., target=...)``).
A plain (source-only) training dataset is browsed too, source only. Writes
``<k>_<source image>_<target image>.png`` per sample.
"""
import argparse
import os
import os.path as osp

import numpy as np
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope

import mmseg_uda  # noqa: F401  (registers the plugin)
from mmseg_uda.apis.vis_utils import compose_grid, save_rgb


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('--output-dir', default='work_dirs/browse_uda')
    p.add_argument('--num', type=int, default=20,
                   help='number of samples of the stream to draw')
    p.add_argument('--seed', type=int, default=None,
                   help='seed of the sample stream (default: the config\'s '
                   'randomness.seed, else 0)')
    p.add_argument('--show', action='store_true',
                   help='also show each image in a window')
    p.add_argument('--show-interval', type=float, default=2,
                   help='seconds each shown image stays')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return p.parse_args(argv)


def _rgb(inputs) -> np.ndarray:
    """``(3, H, W)`` BGR tensor as loaded -> ``(H, W, 3)`` RGB uint8."""
    return np.ascontiguousarray(inputs.permute(1, 2, 0).numpy()[..., ::-1])


def _drawn(visualizer, name: str, image: np.ndarray, data_sample):
    """The image with the sample's ground truth drawn by mmseg's
    visualizer (the image alone when the sample has none)."""
    visualizer.add_datasample(
        name, image, data_sample, draw_gt=True, draw_pred=False, show=False)
    return visualizer.get_image()


def draw_item(visualizer, item: dict, rare_class: int = -1) -> np.ndarray:
    """One RGB panel row of a ``UDADataset`` item (or a plain packed
    sample): source | source + label (and the class rare class sampling
    drew) | target | target outside its valid pseudo-label mask darkened.
    The file names are in the output names."""
    classes = visualizer.dataset_meta.get('classes') or ()
    source = item.get('source', item)
    src_img = _rgb(source['inputs'])
    src_sample = source['data_samples']
    name = osp.basename(src_sample.metainfo.get('img_path', 'source'))
    label_title = 'label'
    if rare_class >= 0:
        label_title += f' (RCS: {classes[rare_class]})'
    panels = [src_img, _drawn(visualizer, name, src_img, src_sample)]
    titles = ['source', label_title]
    if 'target' in item:
        target = item['target']
        tgt_img = _rgb(target['inputs'])
        tgt_sample = target['data_samples']
        panels.append(tgt_img)
        titles.append('target')
        if 'valid_pseudo_mask' in tgt_sample:
            mask = tgt_sample.valid_pseudo_mask.data[0].numpy().astype(bool)
            shaded = tgt_img.copy()
            shaded[~mask] = (shaded[~mask] * 0.3).astype(np.uint8)
            panels.append(shaded)
            titles.append('valid pseudo mask')
    return compose_grid([panels], titles)


def iterate_items(dataset, num: int, seed: int):
    """(k, rare class, item) of the first ``num`` samples of the UDA
    sample stream (``UDASampler``'s indices), or of a plain dataset."""
    from mmseg_uda.datasets.samplers.uda_sampler import make_index
    is_uda = hasattr(dataset, 'source') and hasattr(dataset, 'target')
    for k in range(min(num, len(dataset)) if not is_uda else num):
        if is_uda:
            index = make_index(dataset, seed, k)
            yield k, index.rare_class, dataset[index]
        else:
            yield k, -1, dataset[k]


def main(argv=None):
    from mmseg.registry import DATASETS, VISUALIZERS
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    seed = args.seed if args.seed is not None else (
        cfg.get('randomness') or {}).get('seed') or 0
    cfg.visualizer['vis_backends'] = None  # images are written below
    visualizer = VISUALIZERS.build(cfg.visualizer)
    visualizer.dataset_meta = dataset.metainfo
    os.makedirs(args.output_dir, exist_ok=True)
    written = []
    for k, rare_class, item in iterate_items(dataset, args.num, seed):
        rgb = draw_item(visualizer, item, rare_class)
        source = item.get('source', item)['data_samples']
        stems = [osp.splitext(osp.basename(
            item[b]['data_samples'].metainfo.get('img_path', b)))[0]
            for b in ('source', 'target') if b in item]
        if not stems:
            stems = [osp.splitext(osp.basename(
                source.metainfo.get('img_path', 'sample')))[0]]
        out = osp.join(args.output_dir, f'{k:05d}_{"_".join(stems)}.png')
        save_rgb(out, rgb)
        written.append(out)
        if args.show:
            visualizer.show(rgb, win_name='UDA dataset',
                            wait_time=args.show_interval)
    print(f'{len(written)} sample(s) -> {args.output_dir}')
    return written


if __name__ == '__main__':
    main()
