"""Start K ranks on this machine, as ``torchrun --standalone --nproc-per-node K`` does.

For users who do not know torchrun (``gd-torch train --workers K``) and for the tests.  The
launcher hosts the TCPStore the ranks meet at (on 127.0.0.1, a port the system picks), gives
each rank torchrun's environment variables, and watches them: once one rank exits with an
error, the others get ``grace`` seconds to stop on their own (they report what happened,
see gd_torch.distributed.comm), then are terminated.  Nothing outside 127.0.0.1 is used.
"""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from .. import _validate

#: seconds the surviving ranks get to stop on their own once one rank failed
GRACE = 10.0
_POLL = 0.05


def environment(rank: int, world: int, port: int, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """torchrun's variables for ``rank`` of ``world`` on this machine, meeting at 127.0.0.1:port.

    GLOO_SOCKET_IFNAME defaults to the loopback interface, and OMP_NUM_THREADS to the cores
    shared out between the ranks (as torchrun sets it to 1), unless already set.
    """
    env = dict(os.environ if base is None else base)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    env.setdefault("OMP_NUM_THREADS", str(max(1, cores // world)))
    env.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        GROUP_RANK="0",
        WORLD_SIZE=str(world),
        LOCAL_WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        TORCHELASTIC_USE_AGENT_STORE="True",  # the store is ours: every rank connects as a client
    )
    return env


def launch(
    argv: Sequence[str],
    world: int,
    *,
    grace: float = GRACE,
    env: Mapping[str, str] | None = None,
    stdout: Any = None,
    stderr: Any = None,
    limit: float | None = None,
) -> int:
    """Run ``python argv...`` as ranks 0..world-1 on this machine; return the exit status.

    0 when every rank exits 0; otherwise the first failing rank's status (128 + N for a rank
    killed by signal N), or 124 when ``limit`` seconds passed first (every rank is then
    stopped).  stdout and stderr are the ranks' own (inherited unless given).
    """
    world = _validate.integer(
        "workers", world, minimum=1, accepted="a positive integer (ranks to start on this machine)"
    )
    import torch.distributed as dist

    store = dist.TCPStore(
        "127.0.0.1", 0, world, is_master=True, wait_for_workers=False, timeout=datetime.timedelta(seconds=30)
    )
    procs: list[subprocess.Popen] = []
    try:
        for r in range(world):
            child_env = environment(r, world, store.port, env)
            procs.append(
                subprocess.Popen([sys.executable, *argv], env=child_env, stdout=stdout, stderr=stderr)  # noqa: S603
            )
        return _watch(procs, grace, None if limit is None else time.monotonic() + limit)
    finally:
        _stop(procs)
        del store


def _status(code: int) -> int:
    return 128 - code if code < 0 else code


def _watch(procs: list[subprocess.Popen], grace: float, end: float | None) -> int:
    # wait for every rank; after the first failure, wait at most `grace` more seconds
    deadline = None
    first = 0
    while True:
        if end is not None and time.monotonic() > end:
            return 124
        codes = [p.poll() for p in procs]
        for c in codes:
            if c not in (None, 0) and first == 0:
                first = _status(c)
                deadline = time.monotonic() + grace
        if all(c is not None for c in codes):
            return first
        if deadline is not None and time.monotonic() > deadline:
            return first
        time.sleep(_POLL)


def _stop(procs: list[subprocess.Popen]) -> None:
    # SIGTERM to the ranks still running, then SIGKILL to those that ignore it
    alive = [p for p in procs if p.poll() is None]
    for p in alive:
        p.send_signal(signal.SIGTERM)
    end = time.monotonic() + 3.0
    for p in alive:
        try:
            p.wait(timeout=max(0.0, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
