"""Start K ranks on this machine, as ``torchrun --standalone --nproc-per-node K`` does.

For users who do not know torchrun (``gd-torch train --workers K``) and for the tests.  The
launcher hosts the TCPStore the ranks meet at (on 127.0.0.1, a port the system picks), gives
each rank torchrun's environment variables, and watches them: once one rank exits with an
error, the others get ``grace`` seconds to stop on their own (they report what happened,
see gd_torch.distributed.comm), then are terminated.  A rank killed by a signal is published
to the store (``gd_torch/exit/<rank>``), so that the survivors name the signal.  Nothing
outside 127.0.0.1 is used.

The ranks die with their launcher: on Linux each is started with ``prctl(PR_SET_PDEATHSIG,
SIGKILL)`` set between fork and exec (so even a rank still importing torch goes with it);
each also calls :func:`follow_launcher` when it joins (elsewhere: a thread watching
``os.getppid()``) and :func:`exit_if_orphaned` before it writes files, so a launcher killed
by SIGKILL leaves no rank running and nothing written after it.
"""

from __future__ import annotations

import ctypes
import datetime
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..base import validate as _validate

#: seconds the surviving ranks get to stop on their own once one rank failed
GRACE = 10.0
_POLL = 0.05
#: the environment variable naming the launcher's pid to its ranks
LAUNCHER = "GD_TORCH_LAUNCHER"
#: Linux prctl option: the signal a process gets when its parent dies
_PR_SET_PDEATHSIG = 1
#: the store key where the launcher publishes a rank killed by a signal
EXIT_KEY = "gd_torch/exit/{rank}"


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
    env[LAUNCHER] = str(os.getpid())
    return env


def follow_launcher() -> None:
    """Make this rank die with the launcher that started it (a no-op without LAUNCHER in the
    environment, as under torchrun): SIGKILL on the parent's death where the kernel offers it
    (Linux prctl), else a daemon thread that ends the process once its parent changes; a rank
    whose launcher is already gone ends at once."""
    launcher = os.environ.get(LAUNCHER)
    if launcher is None:
        return
    if not _death_signal(signal.SIGKILL):
        threading.Thread(target=_watch_parent, name="gd_torch-launcher", daemon=True).start()
    exit_if_orphaned()


def exit_if_orphaned() -> None:
    """End this rank at once, writing nothing more, when the launcher that started it is gone."""
    launcher = os.environ.get(LAUNCHER)
    if launcher is not None and os.getppid() != int(launcher):
        os._exit(2)


def _prctl() -> Any:
    # libc's prctl, or None where there is none (not Linux)
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _death_signal(sig: int) -> bool:
    # prctl(PR_SET_PDEATHSIG, sig): this process gets ``sig`` when its parent dies; False where unavailable
    prctl = _prctl()
    return prctl is not None and prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0


def _dying_with_me() -> Any:
    # for Popen's preexec_fn (run in the child between fork and exec): SIGKILL when this process
    # dies, and an exit if it died already; None where there is no prctl.  The libc function is
    # looked up here, in the parent, so that the child only calls it.
    prctl = _prctl()
    if prctl is None:
        return None
    parent, kill = os.getpid(), int(signal.SIGKILL)

    def child() -> None:
        prctl(_PR_SET_PDEATHSIG, kill, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(2)

    return child


def _watch_parent() -> None:
    while True:
        exit_if_orphaned()
        time.sleep(_POLL * 4)


def launch(
    argv: Sequence[str],
    world: int,
    *,
    grace: float = GRACE,
    env: Mapping[str, str] | None = None,
    stdout: Any = None,
    stderr: Any = None,
    limit: float | None = None,
    signal_status: int | None = None,
) -> int:
    """Run ``python argv...`` as ranks 0..world-1 on this machine; return the exit status.

    0 when every rank exits 0; otherwise the first failing rank's status (128 + N for a rank
    killed by signal N, or ``signal_status`` when given), or 124 when ``limit`` seconds passed
    first (every rank is then stopped).  stdout and stderr are the ranks' own (inherited unless
    given).  With ``signal_status``, when every rank that ended was killed by a signal (none
    was left to report it), the launcher prints the one line naming the first on stderr.
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
                subprocess.Popen(  # noqa: S603
                    [sys.executable, *argv], env=child_env, stdout=stdout, stderr=stderr, preexec_fn=_dying_with_me()
                )
            )
        first, who = _watch(procs, grace, None if limit is None else time.monotonic() + limit, store)
        if signal_status is None or who is None or procs[who].returncode >= 0:
            return first
        codes = [p.poll() for p in procs]
        if all(c is None or c < 0 for c in codes):  # no rank outlived the signal to say so
            print(
                f"gd-torch: error: rank {who} was killed by {signal_name(-codes[who])}; no rank was left to report more",
                file=sys.stderr,
                flush=True,
            )
        return signal_status
    finally:
        _stop(procs)
        del store


def signal_name(number: int) -> str:
    """'SIGKILL' for 9; 'signal N' for a number without a name here."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _status(code: int) -> int:
    return 128 - code if code < 0 else code


def _watch(procs: list[subprocess.Popen], grace: float, end: float | None, store: Any = None) -> tuple[int, int | None]:
    # wait for every rank; after the first failure, wait at most `grace` more seconds; a rank
    # killed by a signal is published to the store for the survivors' message.  The status and
    # the first failing rank (None: none failed, or the limit passed)
    deadline = None
    first, who = 0, None
    published: set[int] = set()
    while True:
        if end is not None and time.monotonic() > end:
            return 124, None
        codes = [p.poll() for p in procs]
        for r, c in enumerate(codes):
            if c is not None and c < 0 and r not in published and store is not None:
                published.add(r)
                store.set(EXIT_KEY.format(rank=r), signal_name(-c))
            if c not in (None, 0) and who is None:
                first, who = _status(c), r
                deadline = time.monotonic() + grace
        if all(c is not None for c in codes):
            return first, who
        if deadline is not None and time.monotonic() > deadline:
            return first, who
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
