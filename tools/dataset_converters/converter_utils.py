"""Label conversion, sample checks and rare class statistics shared by the
dataset converters in ``tools/dataset_converters/`` (they import it as a
sibling module; tests load it by path). A conversion job looks at one
(image, label) pair, checks it, converts the label to Cityscapes trainIds
(written atomically next to the original label), and returns the pixel
count of each trainId. Bad samples (unreadable or blank image, image/label
size mismatch, unknown label values) are never converted: they are listed in
``bad_samples.json`` and left out of the statistics. The files written into
the dataset root are described in :mod:`mmseg_uda.datasets.dataset_files`.
"""
import math
import multiprocessing
import os
import os.path as osp
import sys
import time
from typing import Callable, Dict, Iterable, List, Optional, Sequence, TextIO

import cv2
import numpy as np
from PIL import Image

from mmseg_uda.datasets.dataset_files import (
    BAD_SAMPLES_FILE,
    IGNORE_INDEX,
    NUM_CLASSES,
    cityscapes_id_to_train_id,
    class_pixel_counts,
    convert_ids,
    write_class_stats,
)
from mmseg_uda.datasets.transforms.loading import read_image
from mmseg_uda.utils.io import atomic_open, atomic_write_json

#: Valid Cityscapes label ids (0..33); any other value in a GTA label is
#: unknown and makes the sample bad.
CITYSCAPES_KNOWN_IDS = tuple(range(34))

#: SYNTHIA RAND-CITYSCAPES class id -> Cityscapes trainId (16 classes; no
#: terrain, truck, train appear in the data even though the ids exist).
SYNTHIA_ID_TO_TRAIN_ID = {
    3: 0, 4: 1, 2: 2, 21: 3, 5: 4, 7: 5, 15: 6, 9: 7, 6: 8, 16: 9, 1: 10,
    10: 11, 17: 12, 8: 13, 18: 14, 19: 15, 20: 16, 12: 17, 11: 18
}
#: SYNTHIA class ids 0..22 (void .. lanemarking) are known.
SYNTHIA_KNOWN_IDS = tuple(range(23))


# ---------------------------------------------------------------- label I/O
def atomic_write_png(path: str, array: np.ndarray) -> None:
    """Write a PNG atomically: readers never see a half-written file, an
    interrupted run leaves no broken output."""
    ok, buf = cv2.imencode('.png', array)
    if not ok:
        raise OSError(f'could not encode {path}')
    with atomic_open(path) as f:
        f.write(buf.tobytes())


def read_label_ids(path: str, channel: Optional[int] = None) -> np.ndarray:
    """Read a label map holding class ids.

    Palette PNGs (GTA5) are read as indices with Pillow (OpenCV would turn
    them into colours). ``channel`` selects one channel of a multi-channel
    label in RGB order (SYNTHIA: class id in the R channel, 16 bit),
    which is read unchanged with OpenCV.
    """
    if channel is None:
        with Image.open(path) as im:
            if im.mode in ('P', 'L', 'I', 'I;16', 'I;16B', '1'):
                arr = np.array(im)
                if arr.ndim == 2:
                    return arr
            # Fall through for colour labels.
    arr = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise OSError(f'cannot decode label file {path}')
    if arr.ndim == 3:
        rgb_index = [2, 1, 0, 3][channel or 0]  # OpenCV reads BGR(A)
        arr = arr[..., rgb_index]
    return arr


def is_up_to_date(out_path: str, *inputs: str) -> bool:
    if not osp.isfile(out_path):
        return False
    out_mtime = os.stat(out_path).st_mtime
    return all(os.stat(p).st_mtime <= out_mtime for p in inputs)


# ------------------------------------------------------------ sample checks
def check_image(img_path: str):
    """Return (shape (H, W), reason or None) of an image file, decoded as
    the training pipelines decode it (``read_image``: mmcv's
    ``LoadImageFromFile``; ``cv2.imread`` returns a truncated JPEG's
    partial image where mmcv's decoding refuses it)."""
    try:
        img = read_image(img_path)
    except OSError:
        return None, 'unreadable image'
    if int(img.max()) == int(img.min()):
        return img.shape[:2], 'blank image (all pixels equal)'
    return img.shape[:2], None


def _same_png(path: str, array: np.ndarray) -> bool:
    """Whether ``path`` is a PNG holding exactly ``array``."""
    if not osp.isfile(path):
        return False
    old = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    return (old is not None and old.shape == array.shape
            and old.dtype == array.dtype and np.array_equal(old, array))


def convert_sample(img_path: str,
                   label_path: str,
                   out_path: Optional[str],
                   mapping: Optional[Dict[int, int]],
                   known_ids: Optional[Sequence[int]],
                   channel: Optional[int] = None,
                   root: str = '',
                   label_reader: Optional[Callable] = None,
                   num_classes: int = NUM_CLASSES,
                   ignore_index: int = IGNORE_INDEX,
                   compare_content: bool = False) -> dict:
    """Check one sample, write its trainId label and count its classes.

    ``known_ids``: the label values allowed before ``mapping`` (None: any);
    after the mapping (none: the label as read) every value must be a class
    id ``0..num_classes-1`` or ``ignore_index``. ``out_path`` None checks
    the label in place (no output). An existing output is kept when it is
    newer than its inputs (``compare_content``: when it holds the same
    labels, so that a changed mapping rewrites it).

    Returns ``dict(image, label, file, stats, reason, written)``: ``reason``
    is None for a good sample; ``file`` is the label to train on (the output,
    or the label itself) relative to ``root``; ``written`` says whether the
    output was (re)written (False if it was up to date: conversions are
    idempotent).
    """
    rel = relative_to(root)
    record = {
        'image': rel(img_path), 'label': rel(label_path),
        'file': rel(out_path or label_path), 'stats': None, 'reason': None,
        'written': False
    }
    img_shape, reason = check_image(img_path)
    if reason is None:
        try:
            if label_reader is not None:
                ids = label_reader(label_path)
            else:
                ids = read_label_ids(label_path, channel)
        except Exception as e:  # noqa: BLE001 (reported, not raised)
            ids, reason = None, f'unreadable label ({e})'
    if reason is None and ids.shape[:2] != tuple(img_shape):
        reason = (f'size mismatch: image {tuple(img_shape)[::-1]} (WxH) vs '
                  f'label {tuple(ids.shape[:2])[::-1]}')
    if reason is None and known_ids is not None:
        unknown = np.setdiff1d(np.unique(ids), np.asarray(known_ids))
        if unknown.size:
            reason = f'unknown label values {unknown.tolist()[:10]}'
    if reason is None:
        train_ids = ids if mapping is None else convert_ids(ids, mapping)
        values = np.unique(train_ids)
        outside = values[(values >= num_classes) & (values != ignore_index)]
        if outside.size:
            reason = (f'label values {outside.tolist()[:10]} outside the '
                      f'{num_classes} classes and the ignore index '
                      f'{ignore_index}')
    if reason is not None:
        record['reason'] = reason
        return record
    if out_path is not None:
        if compare_content:
            up_to_date = _same_png(out_path, train_ids)
        else:
            up_to_date = is_up_to_date(out_path, img_path, label_path)
        if not up_to_date:
            atomic_write_png(out_path, train_ids)
            record['written'] = True
    record['stats'] = class_pixel_counts(train_ids, num_classes)
    return record


def relative_to(root: str):
    """``path -> path relative to root`` (POSIX separators)."""

    def rel(path: str) -> str:
        if not root:
            return path
        return osp.relpath(path, root).replace(os.sep, '/')

    return rel


# --------------------------------------------------------------- statistics
def write_conversion_outputs(out_dir: str,
                             records: List[dict],
                             write_stats: bool = True,
                             report: str = BAD_SAMPLES_FILE) -> dict:
    """Write the statistics and the bad-sample report (``report``, in
    ``out_dir``); return a summary."""
    bad = [
        {'image': r['image'], 'label': r['label'], 'reason': r['reason']}
        for r in records if r['reason'] is not None
    ]
    if write_stats:
        write_class_stats(out_dir, records)
    atomic_write_json(osp.join(out_dir, report), bad)
    return {
        'report': report,
        'total': len(records),
        'good': len(records) - len(bad),
        'bad': len(bad),
        'written': sum(r['written'] for r in records),
        'bad_samples': bad}


def _progress_lines(results: Iterable, total: int, out: TextIO) -> list:
    """The items of ``results`` as a list, printing a plain line
    ``N/total samples done (T s)`` at every tenth of ``total``."""
    step = max(1, math.ceil(total / 10))
    done: list = []
    start = time.time()
    for result in results:
        done.append(result)
        if len(done) % step == 0 or len(done) == total:
            print(f'{len(done)}/{total} samples done '
                  f'({time.time() - start:.0f} s)', file=out, flush=True)
    return done


def run_jobs(func: Callable, tasks: list, nproc: int = 1,
             out: Optional[TextIO] = None) -> list:
    """Run ``func`` over ``tasks`` in ``nproc`` processes (order kept),
    showing the progress on ``out`` (default: stdout): mmengine's progress
    bar on a terminal, otherwise a plain line at every tenth of the tasks
    (the bar redraws itself with carriage returns, which a log file or a
    cluster's job output keeps as one line per update)."""
    from mmengine.utils import track_parallel_progress, track_progress
    if not tasks:
        return []
    out = out or sys.stdout
    if getattr(out, 'isatty', lambda: False)():
        if nproc > 1:
            return track_parallel_progress(func, tasks, nproc, file=out)
        return track_progress(func, tasks, file=out)
    if nproc > 1:
        with multiprocessing.Pool(nproc) as pool:
            return _progress_lines(pool.imap(func, tasks), len(tasks), out)
    return _progress_lines(map(func, tasks), len(tasks), out)


def print_summary(name: str, summary: dict, out_dir: str) -> None:
    print(f'{name}: {summary["good"]}/{summary["total"]} samples converted '
          f'({summary["written"]} written, the others up to date), '
          f'{summary["bad"]} bad')
    for b in summary['bad_samples'][:20]:
        print(f'  bad sample {b["image"]}: {b["reason"]}')
    if summary['bad']:
        print(f'  full list: {osp.join(out_dir, summary["report"])} (these '
              'samples are excluded from the statistics and from training)')


# ------------------------------------------------------ dataset converters
def _list_files(directory: str, suffix: str, exclude_suffix: str = None):
    if not osp.isdir(directory):
        raise FileNotFoundError(f'directory not found: {directory}')
    out = []
    for dirpath, _, files in os.walk(directory):
        for f in files:
            if f.endswith(suffix) and not (exclude_suffix
                                           and f.endswith(exclude_suffix)):
                out.append(osp.join(dirpath, f))
    return sorted(out)


def _gta_job(task):
    img, label, out, root = task
    return convert_sample(img, label, out, cityscapes_id_to_train_id(),
                          CITYSCAPES_KNOWN_IDS, root=root)


def _synthia_job(task):
    img, label, out, root = task
    return convert_sample(img, label, out, SYNTHIA_ID_TO_TRAIN_ID,
                          SYNTHIA_KNOWN_IDS, channel=0, root=root)


def _read_cityscapes_json(path: str) -> np.ndarray:
    from cityscapesscripts.helpers.annotation import Annotation
    from cityscapesscripts.preparation.json2labelImg import createLabelImage
    annotation = Annotation()
    annotation.fromJsonFile(path)
    return np.array(createLabelImage(annotation, 'trainIds'))


def _cityscapes_job(task):
    img, label, out, root = task
    identity = {c: c for c in range(NUM_CLASSES)}
    return convert_sample(img, label, out, identity, None, root=root,
                          label_reader=_read_cityscapes_json)


def _missing_label(img, label, out, root, *_):
    rel = relative_to(root)
    return {
        'image': rel(img), 'label': rel(label), 'file': rel(out or label),
        'stats': None, 'reason': 'label file missing', 'written': False
    }


def check_samples(job, tasks, nproc: int = 1) -> List[dict]:
    """Run ``job`` on the tasks whose label exists; records sorted by
    image, a missing label being a bad sample."""
    present = [t for t in tasks if osp.isfile(t[1])]
    records = run_jobs(job, present, nproc)
    records += [_missing_label(*t) for t in tasks if not osp.isfile(t[1])]
    records.sort(key=lambda r: r['image'])
    return records


def _run(job, tasks, root, nproc, write_stats=True):
    return write_conversion_outputs(root, check_samples(job, tasks, nproc),
                                    write_stats)


def _png_pair_tasks(root: str, img_dir: str, lbl_dir: str) -> list:
    """``(image, label, trainId output, root)`` for every ``img_dir/X.png``
    with its label ``lbl_dir/X.png`` (GTA5, SYNTHIA layouts)."""
    tasks = []
    for img in _list_files(img_dir, '.png'):
        name = osp.relpath(img, img_dir)[:-len('.png')]
        tasks.append((img, osp.join(lbl_dir, name + '.png'),
                      osp.join(lbl_dir, name + '_labelTrainIds.png'), root))
    return tasks


def convert_gta(root: str, nproc: int = 1) -> dict:
    """GTA5: ``images/NNNNN.png`` + ``labels/NNNNN.png`` (Cityscapes label
    ids, palette PNG) -> ``labels/NNNNN_labelTrainIds.png`` + statistics."""
    img_dir, lbl_dir = osp.join(root, 'images'), osp.join(root, 'labels')
    if not osp.isdir(lbl_dir):
        raise FileNotFoundError(f'GTA5 label directory not found: {lbl_dir}')
    tasks = _png_pair_tasks(root, img_dir, lbl_dir)
    return _run(_gta_job, tasks, root, nproc)


def convert_synthia(root: str, nproc: int = 1) -> dict:
    """SYNTHIA RAND-CITYSCAPES: ``RGB/NNNNNNN.png`` + ``GT/LABELS/NNNNNNN.png``
    (16 bit, id in the R channel) -> ``GT/LABELS/NNNNNNN_labelTrainIds.png``
    + statistics."""
    img_dir = osp.join(root, 'RGB')
    lbl_dir = osp.join(root, 'GT', 'LABELS')
    if not osp.isdir(lbl_dir):
        raise FileNotFoundError(
            f'SYNTHIA label directory not found: {lbl_dir}')
    tasks = _png_pair_tasks(root, img_dir, lbl_dir)
    return _run(_synthia_job, tasks, root, nproc)


def convert_cityscapes(root: str,
                       nproc: int = 1,
                       splits: Sequence[str] = ('train', 'val'),
                       stats_split: str = 'train') -> dict:
    """Cityscapes: ``gtFine/<split>/<city>/*_gtFine_polygons.json`` ->
    ``*_gtFine_labelTrainIds.png`` (cityscapesscripts' official drawing);
    the statistics are written for ``stats_split`` (the training split used
    when Cityscapes is the source domain)."""
    summaries = {}
    for split in splits:
        img_dir = osp.join(root, 'leftImg8bit', split)
        lbl_dir = osp.join(root, 'gtFine', split)
        tasks = []
        for img in _list_files(img_dir, '_leftImg8bit.png'):
            stem = osp.relpath(img, img_dir)[:-len('_leftImg8bit.png')]
            lbl = osp.join(lbl_dir, stem + '_gtFine_')
            tasks.append((img, lbl + 'polygons.json',
                          lbl + 'labelTrainIds.png', root))
        summaries[split] = check_samples(_cityscapes_job, tasks, nproc)
    all_records = [r for recs in summaries.values() for r in recs]
    bad = write_conversion_outputs(root, all_records, write_stats=False)
    if stats_split in summaries:
        write_class_stats(root, summaries[stats_split])
    return bad


#: What every converter writes besides the labels (its command help ends
#: with it).
OUTPUTS_HELP = (
    'Also writes sample_class_stats.json and samples_with_class.json (RCS)\n'
    'and bad_samples.json (samples excluded: unreadable/blank image,\n'
    'image/label size mismatch, unknown label values) into the dataset\n'
    'root. Idempotent (up-to-date outputs are not rewritten) and atomic\n'
    '(temporary file + rename). See docs/dataset_prepare.md.')


def converter_main(doc: str, name: str, convert: Callable,
                   root_help: str, argv=None) -> int:
    """Command line of a dataset converter: ``ROOT [--nproc N]``, convert,
    print the summary (``doc``: the script's docstring, for the help)."""
    import argparse
    parser = argparse.ArgumentParser(
        description=doc,
        epilog=OUTPUTS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('root', help=root_help)
    parser.add_argument(
        '--nproc', type=int, default=1, help='number of processes')
    args = parser.parse_args(argv)
    summary = convert(args.root, nproc=args.nproc)
    print_summary(name, summary, args.root)
    return 0
