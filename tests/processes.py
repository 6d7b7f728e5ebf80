"""Subprocesses of the tests that never outlive a timeout.

``subprocess.run(..., timeout=...)`` kills only the process it started. A
2-process launch is a tree: ``torch.distributed.run`` starts each worker in
a session of its own (``start_new_session=True`` in torch's elastic
``SubprocessHandler``), and ``tools/dist_train.sh`` adds a shell on top, so
on a timeout the workers would stay alive, holding their port and CPU for
the rest of the suite. :func:`run_process_tree` ends the whole tree.
"""
import os
import signal
import subprocess


def child_pids(pid: int) -> list:
    """The direct children of ``pid`` (Linux ``/proc``; [] once it is
    gone)."""
    out = []
    try:
        tasks = os.listdir(f'/proc/{pid}/task')
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f'/proc/{pid}/task/{tid}/children') as f:
                out.extend(int(p) for p in f.read().split())
        except OSError:
            pass
    return out


def kill_process_tree(pid: int) -> list:
    """SIGKILL ``pid`` and all its descendants, whatever their session or
    process group; returns the pids signalled. Each process is stopped
    (SIGSTOP) before its children are listed, so none can start another
    one unseen."""
    seen, stack = [], [pid]
    while stack:
        p = stack.pop()
        try:
            os.kill(p, signal.SIGSTOP)
        except ProcessLookupError:
            continue
        seen.append(p)
        stack.extend(child_pids(p))
    for p in seen:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return seen


def run_process_tree(cmd, timeout: float, **kwargs):
    """``subprocess.run(cmd, timeout=timeout, **kwargs)`` (``capture_output``
    and ``text`` accepted), except that on a timeout (or an interrupt) the
    process and every descendant are killed before ``TimeoutExpired`` is
    raised."""
    if kwargs.pop('capture_output', False):
        kwargs.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with subprocess.Popen(cmd, **kwargs) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except BaseException:
            kill_process_tree(proc.pid)
            proc.communicate()
            raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
