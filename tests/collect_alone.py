"""Collect each test file alone, as ``pytest --collect-only FILE`` in a fresh
interpreter would: a file that only imports after another test module (or
its side effects, e.g. a registered stand-in) fails here.

Cheap: pytest and the root ``tests/conftest.py`` (which imports the plugin
first, installing its mmcv-lite shim, as every ``pytest FILE`` does) are
imported once, then each file is collected in a forked child (two at a
time). Exit status 1 if any file fails, with its output. Run by
``tests/test_isolation.py``; by hand::

    PYTHONPATH=$PWD python tests/collect_alone.py [FILE ...]
    PYTHONPATH=$PWD python tests/collect_alone.py --suite-and FILE ...
"""
import glob
import os
import os.path as osp
import sys
import tempfile

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_files():
    """Every test module of the suite (``tests/**/test_*.py``)."""
    return sorted(glob.glob(osp.join(REPO, 'tests', '**', 'test_*.py'),
                            recursive=True))


def _preload():
    # What pytest imports before any test file of the suite: the root
    # conftest (and pytest). A child then collects its file in exactly the
    # state ``pytest FILE`` has at that point, without paying the common
    # imports again; it imports the test module, the conftest files of its
    # folder and whatever they import afresh.
    import pytest  # noqa: F401

    import tests.conftest  # noqa: F401


def _collect_in_child(path, log):
    pid = os.fork()
    if pid:
        return pid
    code = 3
    try:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        import pytest
        code = pytest.main(['--collect-only', '-q', '-p', 'no:cacheprovider',
                            path])
    finally:
        os._exit(int(code))


def collect_alone(paths, jobs=2):
    """``{path: output}`` of the files whose collection failed."""
    os.chdir(REPO)
    if REPO not in sys.path:
        sys.path.insert(0, REPO)
    _preload()
    failed, running = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        pending = list(paths)
        while pending or running:
            while pending and len(running) < jobs:
                path = pending.pop(0)
                log = osp.join(tmp, f'{len(pending)}.log')
                running[_collect_in_child(path, log)] = (path, log)
            pid, status = os.wait()
            path, log = running.pop(pid)
            if os.waitstatus_to_exitcode(status) != 0:
                with open(log) as f:
                    failed[path] = f.read()[-3000:]
    return failed


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ['--suite-and']:  # the suite plus the files given
        args = test_files() + args[1:]
    paths = args or test_files()
    failed = collect_alone([osp.abspath(p) for p in paths])
    for path, out in failed.items():
        print(f'=== {osp.relpath(path, REPO)} fails when collected alone:\n'
              f'{out}')
    print(f'{len(paths) - len(failed)}/{len(paths)} test files collect '
          'alone')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
