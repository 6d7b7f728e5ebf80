"""The one atomic-write helper (``mmseg_uda/utils/io.py``)."""
import json
import os

import pytest

from mmseg_uda.utils.io import TMP_SUFFIX, atomic_open, atomic_write_json


def test_failed_write_keeps_old_file_and_leaves_no_tmp(tmp_path):
    """Rules out writing in place (a crash mid-write truncates the old
    output) and leaking the temporary file on error."""
    path = tmp_path / 'out.json'
    atomic_write_json(str(path), {'a': 1})
    with pytest.raises(RuntimeError), atomic_open(str(path)) as f:
        f.write(b'{"half": ')
        raise RuntimeError('killed while writing')
    assert json.loads(path.read_text()) == {'a': 1}
    assert os.listdir(tmp_path) == ['out.json']


def test_success_replaces_and_creates_folders(tmp_path):
    """Rules out a temporary file left next to the output (it would end in
    ``.tmp``, the suffix resume and converters skip) or a missing folder
    being an error."""
    path = tmp_path / 'new' / 'dir' / 'x.bin'
    with atomic_open(str(path)) as f:
        f.write(b'abc')
    with atomic_open(str(path)) as f:
        f.write(b'de')
    assert path.read_bytes() == b'de'
    assert not [p for p in os.listdir(path.parent) if p.endswith(TMP_SUFFIX)]
    with pytest.raises(ValueError, match='mode'):
        with atomic_open(str(path), 'rb'):
            pass
