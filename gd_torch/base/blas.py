"""Run a stretch of numpy code with BLAS on one thread, restoring the count after.

Used where a call is too small for BLAS's own threads to pay (each call hands work to
another thread and waits for it: tens of microseconds on an idle machine, a scheduler
tick of several milliseconds on a busy one) and where gd_torch runs its own threads,
one BLAS call per core.  Through threadpoolctl (a scikit-learn dependency); without it
this is a no-op.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait

_lock = threading.RLock()
_libs: list | None = None
_depth = 0
_saved: list = []


def _controllers() -> list:
    global _libs
    if _libs is None:
        try:
            from threadpoolctl import ThreadpoolController

            _libs = [c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
        except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
            _libs = []
    return _libs


def threads() -> int:
    """The BLAS thread count now (the largest over the BLAS libraries loaded; 1 if none is seen)."""
    libs = _controllers()
    return max((c.get_num_threads() for c in libs), default=1)


class single_thread:  # noqa: N801 - used as a context manager, like threadpoolctl's
    """``with single_thread(): ...``: BLAS on one thread inside; nests; other threads wait at the door."""

    def __enter__(self) -> single_thread:
        global _depth, _saved
        _lock.acquire()
        if _depth == 0:
            _saved = [(c, c.get_num_threads()) for c in _controllers()]
            for c, n in _saved:
                if n != 1:
                    c.set_num_threads(1)
        _depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        global _depth
        _depth -= 1
        if _depth == 0:
            for c, n in _saved:
                if n != 1:
                    c.set_num_threads(n)
        _lock.release()


def cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def workers() -> int:
    """Threads gd_torch spreads a large computation over: the cores, at most BLAS's own thread count."""
    return max(1, min(cores(), threads()))


def parallel(fn, jobs: int, n_workers: int) -> list:
    """[fn(0), ..., fn(jobs - 1)] with BLAS on one thread, job j on thread j % n_workers.

    The calling thread does its share; every job has finished when this returns or raises.
    """
    global _pool
    if n_workers <= 1 or jobs <= 1:
        with single_thread():
            return [fn(j) for j in range(jobs)]
    with _pool_lock:
        if _pool is None or _pool._max_workers < n_workers - 1:
            _pool = ThreadPoolExecutor(max_workers=n_workers - 1, thread_name_prefix="gd_torch")
        pool = _pool

    def share(t: int) -> list:
        return [fn(j) for j in range(t, jobs, n_workers)]

    with single_thread():
        futures: list[Future] = [pool.submit(share, t) for t in range(1, n_workers)]
        try:
            mine = share(0)
        finally:  # never leave a thread writing into the caller's buffers after we return
            wait(futures)
        shares = [mine] + [f.result() for f in futures]
    out: list = [None] * jobs
    for t, part in enumerate(shares):
        out[t::n_workers] = part
    return out
