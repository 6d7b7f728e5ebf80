"""Atomic file writes: the one helper every writer of the plugin uses
(checkpoints, ``last_checkpoint``, converted labels, statistics and
bad-sample reports, converted reference checkpoints).

A file is written to a temporary name in the destination folder, flushed to
disk and renamed onto the destination (``os.replace``, atomic on POSIX):
readers see the old file or the complete new one, never a half-written one,
and a killed writer leaves only a ``*.tmp`` file behind, which no reader
takes for the output.
"""
import json
import os
import os.path as osp
import tempfile
from contextlib import contextmanager
from typing import Iterator, Union

#: Suffix of a file being written; never taken for a finished output.
TMP_SUFFIX = '.tmp'


def fsync_file(path: str) -> None:
    """Flush ``path``'s data to disk (best effort on exotic filesystems)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_replace(tmp_path: str, final_path: str) -> None:
    """``fsync`` ``tmp_path`` and rename it to ``final_path``, then flush the
    directory entry (for a file written by someone else, e.g. mmengine's
    ``Runner.save_checkpoint``)."""
    fsync_file(tmp_path)
    os.replace(tmp_path, final_path)
    if os.name == 'posix':
        fsync_file(osp.dirname(osp.abspath(final_path)))


@contextmanager
def atomic_open(path: str, mode: str = 'wb') -> Iterator:
    """Open a temporary file next to ``path`` for writing; when the block
    ends without an exception it replaces ``path`` atomically, otherwise it
    is removed and ``path`` is left as it was."""
    if 'w' not in mode:
        raise ValueError(f'atomic_open writes; got mode {mode!r}')
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=directory, prefix=osp.basename(path) + '.', suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        atomic_replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write(path: str, data: Union[bytes, str]) -> None:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` atomically."""
    if isinstance(data, str):
        data = data.encode('utf-8')
    with atomic_open(path, 'wb') as f:
        f.write(data)


def atomic_write_json(path: str, obj) -> None:
    """``obj`` as indented JSON, written atomically."""
    atomic_write(path, json.dumps(obj, indent=2))


__all__ = [
    'TMP_SUFFIX', 'atomic_open', 'atomic_replace', 'atomic_write',
    'atomic_write_json', 'fsync_file'
]
