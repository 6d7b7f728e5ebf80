"""Check (and convert) any image folder and label folder for training.

    python tools/dataset_converters/folder.py ROOT --img-dir img \\
        --ann-dir ann --img-suffix .jpg --seg-map-suffix .png \\
        --num-classes 19 [--mapping cityscapes|synthia|ids.json] \\
        [--split train.txt] [--flat] [--nproc 8]

Every sample is checked: an unreadable or blank image, a missing or
unreadable label, a label of another size than its image, label values that
are not class ids ``0..C-1`` or the ignore index (or, with ``--mapping``,
not ids of the mapping) make it a bad sample, listed with the file and the
offending values in the report of the image folder,
``ROOT/bad_samples_<img-dir>[_<split>].json`` (``ROOT/bad_samples.json``
for ``--img-dir`` ROOT itself without a split: one report per folder, so
that checking a ``train`` and a ``val`` folder of one root keeps both);
``FolderSegDataset`` (and every training dataset of the plugin) leaves
those out. The rare class
sampling statistics of the good samples are written to
``ROOT/sample_class_stats.json`` and ``ROOT/samples_with_class.json``.

Labels that already hold class ids are used in place. With ``--mapping``
(a JSON ``{"<label id>": <class id>, ...}`` or a known dataset's table:
``cityscapes``/``gta`` label ids, ``synthia``), the class-id labels are
written next to the originals as ``<name><out-suffix>``, and only rewritten
when their content changes. Without ``--ann-dir`` (an unlabelled target),
only the images are checked and the report written. All files are
written atomically; a re-run gives the same outputs. See
docs/own_data.md.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from mmseg_uda.datasets.checked_dataset import describe_other_files
from mmseg_uda.datasets.dataset_files import (
    CITYSCAPES_CATEGORIES,
    IGNORE_INDEX,
    cityscapes_id_to_category_id,
    cityscapes_id_to_train_id,
    folder_report_name,
)

from converter_utils import (
    CITYSCAPES_KNOWN_IDS,
    SYNTHIA_ID_TO_TRAIN_ID,
    SYNTHIA_KNOWN_IDS,
    check_image,
    check_samples,
    convert_sample,
    print_summary,
    relative_to,
    run_jobs,
    write_conversion_outputs,
)

#: --mapping names: (label id -> class id, known label ids, label channel)
KNOWN_TABLES = {
    'cityscapes': (cityscapes_id_to_train_id, CITYSCAPES_KNOWN_IDS, None),
    'gta': (cityscapes_id_to_train_id, CITYSCAPES_KNOWN_IDS, None),
    'synthia': (lambda: SYNTHIA_ID_TO_TRAIN_ID, SYNTHIA_KNOWN_IDS, 0),
    # the 7 categories (flat, construction, ..., vehicle) of Cityscapes or
    # GTA5 label ids: a common coarse setup (--num-classes 7)
    'cityscapes-categories': (cityscapes_id_to_category_id,
                              CITYSCAPES_KNOWN_IDS, None),
    'gta-categories': (cityscapes_id_to_category_id, CITYSCAPES_KNOWN_IDS,
                       None),
}
#: class names of the --mapping tables whose classes are not the 19
#: Cityscapes classes (printed in the dataset config)
TABLE_CLASSES = {
    'cityscapes-categories': CITYSCAPES_CATEGORIES,
    'gta-categories': CITYSCAPES_CATEGORIES,
}


def load_mapping(spec: str, num_classes: int, ignore_index: int
                 ) -> Tuple[Dict[int, int], Sequence[int], Optional[int]]:
    """``(label id -> class id, known label ids, channel)`` of a known table
    name or a JSON file; raises ``ValueError`` naming a bad entry."""
    if spec in KNOWN_TABLES:
        table, known, channel = KNOWN_TABLES[spec]
        mapping = table()
    else:
        if not osp.isfile(spec):
            raise ValueError(
                f'--mapping {spec!r} is neither a JSON file nor one of '
                f'{sorted(KNOWN_TABLES)}')
        with open(spec) as f:
            raw = json.load(f)
        if not isinstance(raw, dict):
            raise ValueError(f'{spec}: expected {{"<label id>": <class '
                             'id>, ...}}')
        try:
            mapping = {int(k): int(v) for k, v in raw.items()}
        except (TypeError, ValueError) as e:
            raise ValueError(f'{spec}: ids must be integers ({e})') from e
        known, channel = tuple(mapping), None
    bad = {k: v for k, v in mapping.items()
           if not (0 <= v < num_classes or v == ignore_index)}
    if bad:
        raise ValueError(
            f'--mapping {spec}: {bad} map to values that are neither one of '
            f'the {num_classes} classes nor the ignore index {ignore_index}')
    return mapping, known, channel


def list_images(img_dir: str, suffix: str, recursive: bool = True,
                split: Optional[str] = None) -> List[str]:
    """Image paths: the files of ``img_dir`` ending in ``suffix``
    (subfolders too when ``recursive``), or ``img_dir/<name><suffix>`` for
    each line of the ``split`` file; raises ``ValueError`` naming the
    folder, the suffix and the other suffixes seen when there is none."""
    if not osp.isdir(img_dir):
        raise ValueError(f'image folder {img_dir!r} does not exist')
    if split:
        with open(split) as f:
            names = [line.strip() for line in f if line.strip()]
        if not names:
            raise ValueError(f'split file {split!r} lists no sample')
        return [osp.join(img_dir, n + suffix) for n in names]
    paths = []
    for dirpath, _, files in os.walk(img_dir):
        paths += [osp.join(dirpath, f) for f in files if f.endswith(suffix)]
        if not recursive:
            break
    if not paths:
        other = describe_other_files(img_dir, suffix, recursive)
        raise ValueError(
            f'no image ending in {suffix!r} in {img_dir!r} (searched '
            f'{"recursively" if recursive else "flat"}); the folder holds '
            f'{other or "no other file"}: set --img-suffix')
    return sorted(paths)


def _image_job(task) -> dict:
    img, root = task
    _, reason = check_image(img)
    return {'image': relative_to(root)(img), 'label': None, 'file': None,
            'stats': None, 'reason': reason, 'written': False}


def read_class_ids(path: str):
    """A label as mmseg's ``LoadAnnotations`` reads it (Pillow, palette
    indices for palette PNGs); ``ValueError`` for a multi-channel label,
    which training cannot use (e.g. colour-coded classes)."""
    with Image.open(path) as im:
        if len(im.getbands()) > 1:
            raise ValueError(
                f'{len(im.getbands())} channels ({im.mode}): labels must '
                'hold one class id per pixel, not colours')
        return np.array(im)


def _label_job(task) -> dict:
    img, label, out, root, opts = task
    if opts['channel'] is None:  # the known SYNTHIA table reads a channel
        opts = dict(opts, label_reader=read_class_ids)
    return convert_sample(img, label, out, root=root, **opts)


def convert_folder(root: str,
                   img_dir: str = '',
                   ann_dir: Optional[str] = None,
                   img_suffix: str = '.jpg',
                   seg_map_suffix: str = '.png',
                   num_classes: Optional[int] = None,
                   ignore_index: int = IGNORE_INDEX,
                   mapping: Optional[str] = None,
                   out_suffix: str = '_labelTrainIds.png',
                   split: Optional[str] = None,
                   recursive: bool = True,
                   nproc: int = 1) -> dict:
    """Check (and convert) ``root/img_dir`` (+ ``root/ann_dir``); write the
    reports into ``root``; return the summary of
    :func:`write_conversion_outputs` (``total``, ``good``, ``bad``,
    ``written``, ``bad_samples``) plus ``other_files`` (what the suffix
    left out of the image folder) and ``seg_map_suffix`` (of the labels to
    train on)."""
    images = osp.join(root, img_dir)
    if split and not osp.isfile(split) and osp.isfile(osp.join(root, split)):
        split = osp.join(root, split)
    paths = list_images(images, img_suffix, recursive, split)
    other = '' if split else describe_other_files(
        images, img_suffix, recursive, images_only=True)
    report = folder_report_name(img_dir, split)
    if ann_dir is None:
        records = run_jobs(_image_job, [(p, root) for p in paths], nproc)
        summary = write_conversion_outputs(root, records, write_stats=False,
                                           report=report)
        return dict(summary, other_files=other, seg_map_suffix=None)
    if not num_classes:
        raise ValueError('labelled data needs --num-classes')
    labels = osp.join(root, ann_dir)
    if not osp.isdir(labels):
        raise ValueError(f'label folder {labels!r} does not exist')
    opts = dict(mapping=None, known_ids=None, channel=None,
                num_classes=num_classes, ignore_index=ignore_index,
                compare_content=True)
    if mapping:
        opts['mapping'], opts['known_ids'], opts['channel'] = load_mapping(
            mapping, num_classes, ignore_index)
    tasks = []
    for img in paths:
        stem = osp.relpath(img, images)[:-len(img_suffix)]
        label = osp.join(labels, stem + seg_map_suffix)
        out = osp.join(labels, stem + out_suffix) if mapping else None
        tasks.append((img, label, out, root, opts))
    summary = write_conversion_outputs(
        root, check_samples(_label_job, tasks, nproc), report=report)
    return dict(summary, other_files=other,
                seg_map_suffix=out_suffix if mapping else seg_map_suffix)


def dataset_config(args, seg_map_suffix: Optional[str]) -> str:
    """The ``FolderSegDataset`` config of the checked folder."""
    prefix = f"img_path={args.img_dir!r}"
    if args.ann_dir is not None:
        prefix += f", seg_map_path={args.ann_dir!r}"
    lines = [f"dict(type='FolderSegDataset', data_root={args.root!r},",
             f'     data_prefix=dict({prefix}),',
             f'     img_suffix={args.img_suffix!r},']
    if seg_map_suffix:
        lines.append(f'     seg_map_suffix={seg_map_suffix!r},')
    if args.split:
        lines.append(f'     ann_file={args.split!r},')
    if args.flat:
        lines.append('     recursive=False,')
    classes = TABLE_CLASSES.get(args.mapping, '...')
    lines.append(f'     metainfo=dict(classes={classes}), pipeline=...)')
    return '\n'.join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('root', help='dataset root; the reports are written here')
    p.add_argument('--img-dir', default='',
                   help='image folder, relative to ROOT (default: ROOT)')
    p.add_argument('--ann-dir', default=None,
                   help='label folder, relative to ROOT (none: unlabelled '
                   'data, images checked only)')
    p.add_argument('--img-suffix', default='.jpg')
    p.add_argument('--seg-map-suffix', default='.png',
                   help='label name = image name with --img-suffix '
                   'replaced by this')
    p.add_argument('--num-classes', type=int, default=None,
                   help='number of classes C (labels: 0..C-1 and the '
                   'ignore index)')
    p.add_argument('--ignore-index', type=int, default=IGNORE_INDEX)
    p.add_argument('--mapping', default=None,
                   help='label id -> class id: a JSON file or one of '
                   f'{sorted(KNOWN_TABLES)}')
    p.add_argument('--out-suffix', default='_labelTrainIds.png',
                   help='suffix of the labels written with --mapping')
    p.add_argument('--split', default=None,
                   help='file listing the sample names (relative to the '
                   'image folder, without suffix), one a line')
    p.add_argument('--flat', action='store_true',
                   help='only the images directly in the image folder')
    p.add_argument('--nproc', type=int, default=1,
                   help='number of processes')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        summary = convert_folder(
            args.root, args.img_dir, args.ann_dir, args.img_suffix,
            args.seg_map_suffix, args.num_classes, args.ignore_index,
            args.mapping, args.out_suffix, args.split, not args.flat,
            args.nproc)
    except ValueError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print_summary(osp.join(args.root, args.img_dir), summary, args.root)
    if summary['other_files']:
        print(f'  warning: the image folder holds {summary["other_files"]}'
              f', which --img-suffix {args.img_suffix!r} leaves out')
    print('Dataset config:\n' +
          dataset_config(args, summary['seg_map_suffix']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
