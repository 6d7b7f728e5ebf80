"""What every benchmark-server submission writer shares: PNG writing, the
check of the written predictions against the test split's image list and
the zip archive (docs/submit.md).

Multi-GPU: every rank writes the PNGs of its own images in ``process`` (no
prediction is kept in memory; a result is a name, a size and the image
path), into ``<output_dir>/<archive_name>/`` on a file system that all
ranks share. mmengine gathers the results of all ranks, and rank 0 checks
the folder against them and writes the archive in ``compute_metrics``.
"""
import io
import os
import os.path as osp
import shutil
import zipfile
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.dist import barrier, is_main_process
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from PIL import Image

from mmseg_uda.utils.io import atomic_open, atomic_write

#: How many problems a failed check lists in its message (all are counted).
MAX_LISTED = 20


class SubmissionError(RuntimeError):
    """The predictions do not form the archive the server expects; the
    message names the missing, unexpected or wrong files."""


def prediction_name(img_path: str) -> str:
    """File name of an image's prediction: the image's own name, as PNG
    (``GOPR0356_frame_000321_rgb_anon.png`` stays the same)."""
    return osp.splitext(osp.basename(img_path))[0] + '.png'


def label_map(data_sample: dict) -> np.ndarray:
    """``pred_sem_seg`` of a data sample as an ``(H, W)`` array (mmseg's
    segmentors give ``(1, H, W)``, its ``SegTTAModel`` ``(H, W)``)."""
    pred = data_sample['pred_sem_seg']['data']
    pred = pred.cpu().numpy() if hasattr(pred, 'cpu') else np.asarray(pred)
    return pred.reshape(pred.shape[-2:])


def write_png(path: str, array: np.ndarray) -> None:
    """Write a single-channel ``uint8`` (8-bit grey) or ``uint16`` (16-bit
    grey) PNG atomically (a killed run leaves no half-written file that a
    later check could take for a prediction)."""
    if array.ndim != 2 or array.dtype not in (np.uint8, np.uint16):
        raise ValueError(f'{path}: a 2-D uint8 or uint16 array is written, '
                         f'got {array.dtype} {array.shape}')
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format='PNG')
    atomic_write(path, buf.getvalue())


def read_png(path: str) -> np.ndarray:
    """A PNG as the servers read label files: palette indices for palette
    images, ``uint16`` for 16-bit grey images, channels kept (a colour
    image comes back 3-D)."""
    with Image.open(path) as img:
        mode = img.mode
        array = np.array(img)
    if mode.startswith('I;16'):
        array = array.astype(np.uint16)
    elif mode == 'I':
        # 16-bit grey PNGs open as 32-bit 'I' in some Pillow versions
        if array.size and (array.min() < 0 or array.max() > 65535):
            raise ValueError(f'{path}: values outside uint16')
        array = array.astype(np.uint16)
    return array


def check_predictions(folder: str, expected: Dict[str, tuple]) -> List[str]:
    """Compare ``folder`` with the files the archive must hold.

    Args:
        folder (str): the folder the predictions were written to.
        expected (dict[str, tuple]): relative path (``/``-separated) ->
            ``(shape (H, W), dtype name, allowed values or None)``.

    Returns:
        list[str]: one line per problem (empty: the folder is the archive):
        a missing file, an unexpected one, or a file of the wrong size,
        type or values, each named.
    """
    on_disk = set()
    for root, _, files in os.walk(folder):
        for name in files:
            rel = osp.relpath(osp.join(root, name), folder)
            on_disk.add(rel.replace(os.sep, '/'))
    problems = [f'missing prediction {rel}'
                for rel in sorted(set(expected) - on_disk)]
    problems += [f'unexpected file {rel} (no test image has this name)'
                 for rel in sorted(on_disk - set(expected))]
    for rel in sorted(set(expected) & on_disk):
        shape, dtype, allowed = expected[rel]
        try:
            array = read_png(osp.join(folder, rel))
        except Exception as e:  # noqa: BLE001 (any decoding error)
            problems.append(f'{rel}: unreadable PNG ({e})')
            continue
        if array.ndim != 2:
            problems.append(f'{rel}: {array.shape[-1]} channels, a '
                            'single-channel label map is expected')
        elif array.dtype != np.dtype(dtype):
            problems.append(f'{rel}: {array.dtype}, {dtype} expected')
        elif tuple(array.shape) != tuple(shape):
            problems.append(f'{rel}: {array.shape[1]}x{array.shape[0]} '
                            f'pixels, the image is {shape[1]}x{shape[0]}')
        elif allowed is not None:
            bad = np.setdiff1d(np.unique(array), np.asarray(allowed))
            if bad.size:
                problems.append(f'{rel}: values {bad[:10].tolist()} outside '
                                'the classes of the submission')
    return problems


def write_archive(path: str, folder: str, members: Sequence[str]) -> None:
    """Zip ``members`` (paths relative to ``folder``) into ``path`` with
    those relative paths as names (no parent folder: the servers look the
    files up from the archive's root), atomically, and read the archive
    back to check its listing."""
    members = sorted(members)
    with atomic_open(path, 'wb') as f:
        with zipfile.ZipFile(f, 'w', zipfile.ZIP_DEFLATED) as z:
            for rel in members:
                z.write(osp.join(folder, rel), arcname=rel)
    with zipfile.ZipFile(path) as z:
        if sorted(z.namelist()) != members:
            raise SubmissionError(f'{path}: the archive does not list the '
                                  f'{len(members)} predictions written')


class SubmissionArchiveMixin:
    """The folder, check and archive of a submission metric (with mmengine's
    ``BaseMetric``). A subclass writes its files in ``process`` under
    :attr:`pred_dir` and appends one result per image:
    ``dict(img_path=..., files={relative path: (shape, dtype name, allowed
    values or None)})`` (plain values: results travel between ranks); it sets
    :attr:`expected_images` (the test split's size) and may override
    :meth:`archives` (several archives from one run).
    """

    #: Number of images of the server's test split; None: not checked.
    expected_images: Optional[int] = None

    def _init_pred_dir(self, output_dir: str, archive_name: str) -> None:
        if not output_dir:
            raise ValueError(f'{type(self).__name__}: set output_dir (the '
                             'folder of the archive)')
        self.archive_dir = output_dir
        self.archive_name = archive_name
        self.pred_dir = osp.join(output_dir, archive_name)
        if is_main_process():
            if osp.isdir(self.pred_dir):
                # an earlier run's files would be archived with this run's
                print_log(f'removing the earlier predictions in '
                          f'{self.pred_dir}', logger='current')
                shutil.rmtree(self.pred_dir)
            os.makedirs(self.pred_dir)
        # every rank is building its evaluator: no rank writes before the
        # folder is clean
        barrier()

    def archives(self, results: list) -> Dict[str, List[str]]:
        """Archive path -> the relative paths it holds: one archive of
        everything, ``<output_dir>/<archive_name>.zip``."""
        members = [rel for r in results for rel in r['files']]
        return {osp.join(self.archive_dir, f'{self.archive_name}.zip'):
                members}

    def expected_files(self, results: list) -> Dict[str, tuple]:
        """The files of all results; two images with one prediction name
        (which the server could not tell apart) fail, naming both."""
        expected, owner = {}, {}
        clashes = []
        for r in results:
            for rel, spec in r['files'].items():
                if rel in expected:
                    clashes.append(f'{rel}: predicted for {owner[rel]} and '
                                   f'{r["img_path"]}')
                expected[rel] = tuple(spec)
                owner[rel] = r['img_path']
        if clashes:
            self._fail(clashes, 'test images share a prediction name')
        return expected

    def check_count(self, results: list) -> List[str]:
        """The split's size against :attr:`expected_images`."""
        if self.expected_images is not None and (len(results) !=
                                                 self.expected_images):
            return [f'{len(results)} test images were predicted, the '
                    f'server\'s test split has {self.expected_images} '
                    '(an incomplete download or the wrong split?)']
        return []

    def write_submission(self, results: list) -> Dict[str, float]:
        """Check the written predictions and zip them (rank 0)."""
        problems = self.check_count(results)
        problems += check_predictions(self.pred_dir,
                                      self.expected_files(results))
        if problems:
            self._fail(problems, 'the predictions in '
                       f'{self.pred_dir} are not a valid submission')
        for path, members in self.archives(results).items():
            write_archive(path, self.pred_dir, members)
            print_log(f'{type(self).__name__}: {path} holds '
                      f'{len(members)} files, checked against '
                      f'{len(results)} test images: upload it '
                      '(docs/submit.md)', logger='current')
        return {}

    def _fail(self, problems: List[str], what: str) -> None:
        listed = '\n  '.join(problems[:MAX_LISTED])
        more = (f'\n  ... and {len(problems) - MAX_LISTED} more'
                if len(problems) > MAX_LISTED else '')
        raise SubmissionError(f'{type(self).__name__}: {what} '
                              f'({len(problems)} problems):\n  {listed}'
                              f'{more}')


class SubmissionMetric(SubmissionArchiveMixin, BaseMetric):
    """Base of the submission writers of label-map PNGs (ACDC, Dark
    Zurich): a subclass implements :meth:`write_prediction`.

    Args:
        output_dir (str): folder of the archive(s); the predictions are
            written to ``<output_dir>/<archive_name>/`` (a folder every rank
            can write to) and zipped to ``<output_dir>/<archive_name>.zip``.
            An earlier run's ``<archive_name>/`` folder is removed.
        archive_name (str): name of the archive and its folder.
        expected_images (int, optional): number of images of the server's
            test split: a run over another number fails. None: not checked.
        format_only (bool): must be True (the test splits have no labels;
            evaluate labelled splits with ``IoUMetric``). Defaults to True.
        collect_device (str): mmengine's device for gathering the results.
            Defaults to 'cpu'.
        prefix (str, optional): mmengine's metric prefix. Defaults to None.
    """

    def __init__(self,
                 output_dir: str,
                 archive_name: str,
                 expected_images: Optional[int] = None,
                 format_only: bool = True,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not format_only:
            raise ValueError(
                f'{type(self).__name__} writes a submission of an unlabelled '
                'test split (format_only=True); evaluate a labelled split '
                "with type='IoUMetric'")
        self.format_only = True
        self.expected_images = expected_images
        self._init_pred_dir(output_dir, archive_name)

    def write_prediction(self, data_sample: dict, name: str,
                         pred: np.ndarray) -> Dict[str, tuple]:
        """Write the files of one image under :attr:`pred_dir`; returns
        ``{relative path: (shape, dtype name, allowed values or None)}``."""
        raise NotImplementedError

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        for data_sample in data_samples:
            img_path = data_sample['img_path']
            pred = label_map(data_sample)
            files = self.write_prediction(data_sample,
                                          prediction_name(img_path), pred)
            self.results.append(dict(img_path=img_path, files=files))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        return self.write_submission(results)

    def class_ids(self) -> List[int]:
        """The trainIds a prediction may hold: ``0..num_classes-1``."""
        return list(range(len(self.dataset_meta['classes'])))
