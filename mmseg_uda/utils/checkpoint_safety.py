"""Crash-safe checkpoint files: atomic replacement, validity checks and the
fallback to the newest readable checkpoint of a work dir.

Gap in mmengine 0.10: ``LocalBackend.put`` writes the checkpoint bytes
straight to ``iter_N.pth`` and ``CheckpointHook`` removes the oldest kept
checkpoint *before* writing the new one, so a job killed while saving can
leave a truncated latest file and (with ``max_keep_ckpts=1``) no good one
at all; ``Runner.resume`` then fails on the truncated file. These helpers
are used by :class:`~mmseg_uda.engine.hooks.SafeCheckpointHook` (write to a
temporary name, then :func:`~mmseg_uda.utils.io.atomic_replace`) and by
``UDAIterBasedTrainLoop`` (on ``resume=True``, pick the newest checkpoint
that is a complete file).
"""
import glob
import logging
import os
import os.path as osp
import re
import zipfile
from typing import List, Optional

from mmengine.logging import print_log

from .io import TMP_SUFFIX

LAST_CHECKPOINT_FILE = 'last_checkpoint'

_STEP_RE = re.compile(r'(\d+)\.pth$')


def checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` is not a complete checkpoint, or None if it is.

    ``torch.save`` writes a zip archive; a truncated or overwritten file
    fails the archive's directory or CRC checks. This reads the file once
    but unpickles nothing (cheap next to loading it)."""
    if not osp.isfile(path):
        return 'file does not exist'
    if osp.getsize(path) == 0:
        return 'file is empty'
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        return f'not a complete torch checkpoint ({e})'
    if bad is not None:
        return f'corrupt member {bad!r}'
    return None


def _step(path: str) -> int:
    match = _STEP_RE.search(osp.basename(path))
    return int(match.group(1)) if match else -1


def checkpoint_candidates(work_dir: str) -> List[str]:
    """Checkpoints of ``work_dir`` newest first: the one named in
    ``last_checkpoint``, then ``*_<step>.pth`` files by decreasing step."""
    found: List[str] = []
    last_file = osp.join(work_dir, LAST_CHECKPOINT_FILE)
    if osp.isfile(last_file):
        with open(last_file) as f:
            last = f.read().strip()
        if last:
            found.append(last)
    others = [
        p for p in glob.glob(osp.join(work_dir, '*.pth'))
        if _step(p) >= 0 and not osp.basename(p).startswith('best_')
    ]
    for path in sorted(others, key=_step, reverse=True):
        if all(osp.abspath(path) != osp.abspath(p) for p in found):
            found.append(path)
    return found


def find_resumable_checkpoint(work_dir: str) -> Optional[str]:
    """The newest complete checkpoint of ``work_dir`` (None if none).

    Warns about every newer candidate that is skipped and why, so a
    fallback from a corrupt ``last_checkpoint`` is visible in the log."""
    for path in checkpoint_candidates(work_dir):
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        print_log(
            f'Cannot resume from {path}: {problem}. Falling back to the '
            'previous checkpoint.',
            logger='current',
            level=logging.WARNING)
    return None


def remove_stale_tmp_files(directory: str) -> List[str]:
    """Delete ``*.pth.tmp`` files left by a save that was killed."""
    removed = []
    for path in glob.glob(osp.join(directory, '*' + TMP_SUFFIX)):
        try:
            os.remove(path)
            removed.append(path)
        except OSError:
            pass
    return removed
