"""Subprocesses of the tests that never outlive a timeout.

``subprocess.run(..., timeout=...)`` kills only the process it started. A
2-process launch is a tree: ``torch.distributed.run`` starts each worker in
a session of its own (``start_new_session=True`` in torch's elastic
``SubprocessHandler``), and ``tools/dist_train.sh`` adds a shell on top, so
on a timeout the workers would stay alive, holding their port and CPU for
the rest of the suite. :func:`run_process_tree` ends the whole tree.
"""
import os
import pickle
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


def _rank_main(fn, rank, world_size, init_file, args, queue):
    import torch.distributed as dist
    dist.init_process_group('gloo', init_method=f'file://{init_file}',
                            rank=rank, world_size=world_size)
    # Plain pickle bytes: the multiprocessing pickler would share tensors
    # through file descriptors that die with this process.
    try:
        out = pickle.dumps((rank, 'ok', fn(rank, *args)))
    except BaseException as e:  # noqa: BLE001 (reported to the parent)
        out = pickle.dumps((rank, 'raised', e))
    finally:
        dist.destroy_process_group()
    queue.put(out)


def run_ranks(fn, *args, world_size: int = 2, timeout: float = 60):
    """Run ``fn(rank, *args)`` in ``world_size`` forked processes joined in a
    gloo process group (CPU); returns ``[(status, value) of rank 0, ...]``
    where ``status`` is ``'ok'`` (``value`` returned) or ``'raised'``
    (``value`` the exception). Forked, not spawned: no interpreter start-up
    per rank (a fraction of a second for the pair); ``fn`` and ``args`` need
    not be picklable, the results must be. Ranks still running at the
    timeout are killed before ``TimeoutError`` is raised."""
    import multiprocessing as mp
    import queue as queue_mod
    import tempfile
    import time

    ctx = mp.get_context('fork')
    results = ctx.Queue()
    with tempfile.TemporaryDirectory() as tmp:
        procs = [ctx.Process(target=_rank_main,
                             args=(fn, rank, world_size,
                                   os.path.join(tmp, 'store'), args,
                                   results))
                 for rank in range(world_size)]
        for p in procs:
            p.start()
        out, deadline = {}, time.monotonic() + timeout
        try:
            while len(out) < world_size:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f'ranks {sorted(set(range(world_size)) - set(out))}'
                        f' did not finish in {timeout} s')
                try:
                    rank, status, value = pickle.loads(
                        results.get(timeout=min(left, 1)))
                except queue_mod.Empty:
                    continue
                out[rank] = (status, value)
        finally:
            for p in procs:
                if p.is_alive():
                    kill_process_tree(p.pid)
                p.join()
    return [out[r] for r in range(world_size)]
