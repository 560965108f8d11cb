"""Ranks and their collective operations, on torch.distributed (gloo on CPU, nccl on CUDA).

A :class:`Comm` is this process's place among K ranks: its rank, its contiguous share of
the rows, and the all-reduce of numpy arrays.  With one rank (no torchrun, no launcher)
the same object works without torch.distributed: an all-reduce returns its input.

Failures are collective, so that every rank stops with one story:

* an expected error on one rank (a GdTorchError while computing its partial sum, e.g. a
  non-finite z) travels inside the next all-reduce as a flag; every rank raises, and only
  the rank that failed reports it (``RankFailure.report``);
* a rank that dies or hangs makes the others' all-reduce fail (at once for a closed
  connection, after ``timeout`` seconds for silence).  Each rank publishes a heartbeat
  with what it is doing to the launcher's store (when that changes, and every BEAT
  seconds); the survivors read
  them to name the rank that died (no heartbeat since) or hung (alive, doing something
  else), and the lowest surviving rank reports it in one line (with the signal that killed
  it, when gd_torch.distributed.launch published one).
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .._errors import GdTorchError, TrainingDiverged
from ..base.validate import Number

#: seconds between heartbeats; a rank silent for HEARTBEAT_MISSES beats counts as dead
BEAT = 0.1
HEARTBEAT_MISSES = 10
#: seconds between two heartbeats at least (a change of ``doing`` is published after this)
PUBLISH = 0.005
#: seconds a collective waits for the others before it fails (the CLI's --timeout)
DEFAULT_TIMEOUT = 60.0
#: the timeouts accepted, seconds: at least the heartbeat's verdict (HEARTBEAT_MISSES beats),
#: at most what torch.distributed's millisecond timeouts hold
TIMEOUT_RANGE = (1.0, 1e6)
TIMEOUT_ACCEPTED = "a number of seconds from 1 to 1e6"
#: what init's timeout accepts (gd-torch's --timeout parses with this constraint)
INIT_PARAMS = {"timeout": Number(minimum=TIMEOUT_RANGE[0], maximum=TIMEOUT_RANGE[1], text=TIMEOUT_ACCEPTED)}


class RankFailure(GdTorchError):
    """A collective failed.  ``report`` is True on the one rank that should print the message."""

    def __init__(
        self, message: str, *, report: bool, rank: int | None, param: str | None = None, where: str = ""
    ) -> None:
        super().__init__(message, param=param, where=where)
        self.report = report
        self.rank = rank


def rows(n: int, rank: int, world: int) -> tuple[int, int]:
    """The contiguous rows [start, stop) of rank ``rank`` among ``world``: sizes differ by at most one."""
    return n * rank // world, n * (rank + 1) // world


class Comm:
    """One process's rank among ``world``, its all-reduce and its heartbeat (see the module docstring)."""

    def __init__(
        self, rank: int = 0, world: int = 1, timeout: float = DEFAULT_TIMEOUT, device: str = "cpu", group: Any = None
    ) -> None:
        self.rank, self.world, self.timeout, self.device = rank, world, timeout, device
        #: the torch.distributed process group of the collectives (None: the default group, which
        #: :meth:`close` then leaves; a group of its own is destroyed by close)
        self.group = group
        self._changed = threading.Event()
        #: what this rank is doing now, in words ("computing the loss in epoch 3")
        self.doing = "starting"
        #: where the caller is ("epoch 3, step 2"), added to ``doing`` and to messages
        self.context = ""
        self._beat: Any = None
        #: the launcher's store itself (unprefixed), where it publishes ranks killed by a signal
        self._exits: Any = None
        self._stop = threading.Event()

    # ---- collectives --------------------------------------------------------------------

    def reduce(self, what: str, compute: Callable[[], np.ndarray], like: np.ndarray) -> np.ndarray:
        """sum over ranks of ``compute()`` (an array shaped and typed as ``like``).

        A GdTorchError raised by ``compute`` on any rank is raised on every rank after the
        all-reduce (see the module docstring); ``what`` names the operation in messages.
        """
        what = f"{what} in {self.context}" if self.context else what
        self.doing = f"computing {what}"
        try:
            part, error = np.asarray(compute(), dtype=like.dtype).reshape(like.shape), None
        except GdTorchError as exc:
            part, error = np.zeros_like(like), exc
        if self.world == 1:
            if error is not None:
                raise error
            return part
        flags = np.zeros(self.world, dtype=np.float64)
        flags[self.rank] = error is not None
        total, flags = self.all_reduce([part, flags], what)
        failed = np.flatnonzero(flags)
        if failed.size:
            first = int(failed[0])
            if error is not None:
                # the error's parameter kept, so that the command line still names its flag
                where = f"rank {self.rank}: {error.where}" if error.where else f"rank {self.rank}"
                raise RankFailure(
                    f"rank {self.rank}: {error}",
                    report=first == self.rank,
                    rank=self.rank,
                    param=error.param,
                    where=where,
                ) from None
            raise RankFailure(f"rank {first} failed while computing {what}", report=False, rank=first)
        return total

    def all_reduce(self, arrays: list[np.ndarray], what: str, op: str = "sum") -> list[np.ndarray]:
        """The element-wise sum (op 'sum'), 'max' or 'min' of each array over the ranks, in one
        collective per dtype; complex arrays travel as their real and imaginary parts."""
        if self.world == 1:
            return [np.array(a) for a in arrays]
        import torch
        import torch.distributed as dist

        ops = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN}
        real = [a.view(a.real.dtype) if np.iscomplexobj(a) else a for a in map(np.ascontiguousarray, arrays)]
        out = []
        flat = np.concatenate([r.ravel().astype(np.float64) for r in real]) if len(real) > 1 else None
        # one collective: the pieces in float64 when they are several, else in their own dtype
        buf = torch.from_numpy(flat if flat is not None else real[0].ravel().copy()).to(self.device)
        self._collective(lambda: dist.all_reduce(buf, op=ops[op], group=self.group), what)
        summed = buf.cpu().numpy()
        at = 0
        for a, r in zip(arrays, real, strict=True):
            piece = summed[at : at + r.size].astype(r.dtype).reshape(r.shape)
            out.append(piece.view(a.dtype) if np.iscomplexobj(a) else piece)
            at += r.size
        return out

    def all_gather(self, array: np.ndarray, what: str) -> np.ndarray:
        """Every rank's ``array`` (same shape and dtype on all), stacked: shape (world, *array.shape)."""
        if self.world == 1:
            return np.array(array)[None]
        import torch
        import torch.distributed as dist

        mine = torch.from_numpy(np.ascontiguousarray(array).copy()).to(self.device)
        parts = [torch.empty_like(mine) for _ in range(self.world)]
        self._collective(lambda: dist.all_gather(parts, mine, group=self.group), what)
        return np.stack([p.cpu().numpy() for p in parts])

    def _collective(self, op: Callable[[], Any], what: str) -> None:
        if self.context and self.context not in what:
            what = f"{what} in {self.context}"
        self.doing = f"all-reducing {what}"
        started = time.monotonic()
        try:
            op()
        except RuntimeError as exc:  # gloo and nccl raise RuntimeError (DistBackendError) on a lost peer
            raise self._failure(str(exc), what, time.monotonic() - started) from None
        self.doing = f"continuing after {what}"

    # ---- heartbeat and diagnosis --------------------------------------------------------

    @property
    def doing(self) -> str:
        return self._doing

    @doing.setter
    def doing(self, text: str) -> None:
        self._doing = text
        self._changed.set()  # the heartbeat publishes it now, not at the next beat

    def start_heartbeat(self, store: Any) -> None:
        """Publish ``doing`` to ``store`` (a torch.distributed Store) when it changes (at most
        every PUBLISH seconds) and every BEAT seconds."""
        self._beat = store

        def beat() -> None:
            count = 0
            while not self._stop.is_set():
                count += 1
                self._changed.clear()
                try:
                    store.set(f"hb/{self.rank}", f"{count}|{self.doing}")
                except Exception:  # the store's host is gone: nothing left to tell
                    return
                time.sleep(PUBLISH)
                self._changed.wait(BEAT)

        threading.Thread(target=beat, name="gd_torch-heartbeat", daemon=True).start()

    def _heartbeats(self) -> dict[int, tuple[str, str]]:
        # rank -> (beat count, doing) for every other rank that has published one
        out = {}
        for r in range(self.world):
            if r != self.rank and self._beat.check([f"hb/{r}"]):
                count, _, doing = self._beat.get(f"hb/{r}").decode().partition("|")
                out[r] = (count, doing)
        return out

    def _failure(self, detail: str, what: str, waited: float) -> RankFailure:
        cause = "no answer" if "timed out" in detail.lower() else "a lost connection"
        mine = f"rank {self.rank} stopped waiting for {what} after {waited:.1f} s ({cause}; timeout {self.timeout:g} s)"
        try:
            return self._diagnose(mine)
        except Exception:  # no store (one rank, or its host is gone): say what this rank knows
            return RankFailure(f"a rank died or hung; {mine}", report=self.rank == 0, rank=None)

    def _diagnose(self, mine: str) -> RankFailure:
        # a rank whose heartbeat stands still over HEARTBEAT_MISSES beats died; one still beating
        # but not in a collective hung; survivors that gave up before us are neither
        self._beat.set(f"gave-up/{self.rank}", "1")
        before = self._heartbeats()
        time.sleep(BEAT * HEARTBEAT_MISSES)
        after = self._heartbeats()
        gave_up = {r for r in range(self.world) if r != self.rank and self._beat.check([f"gave-up/{r}"])}
        others = [r for r in range(self.world) if r != self.rank and r not in gave_up]
        dead = [r for r in others if before.get(r) is None or before.get(r) == after.get(r)]
        hung = [r for r in others if r not in dead and not after[r][1].startswith("all-reducing")]
        # the first survivor to get here reports; the others stop quietly
        report = self._beat.add("reported", 1) == 1
        if dead:
            last = f"while {before[dead[0]][1]}" if dead[0] in before else "before its first heartbeat"
            return RankFailure(
                f"rank {dead[0]} died {last}{self._killed_by(dead[0])}; {mine}", report=report, rank=dead[0]
            )
        if hung:
            return RankFailure(f"rank {hung[0]} hung while {after[hung[0]][1]}; {mine}", report=report, rank=hung[0])
        return RankFailure(f"a rank died or hung; {mine}", report=report, rank=None)

    def _killed_by(self, rank: int) -> str:
        # " (killed by SIGKILL)" when the launcher published the signal that ended ``rank``
        from .launch import EXIT_KEY

        key = EXIT_KEY.format(rank=rank)
        if self._exits is None or not self._exits.check([key]):
            return ""
        return f" (killed by {self._exits.get(key).decode()})"

    def claim_report(self) -> bool:
        """True on the one rank that should print a failure seen outside a collective (the first
        to ask, through the store), so that an error every rank raises is printed once."""
        if self.world == 1 or self._beat is None:
            return True
        try:
            return self._beat.add("reported", 1) == 1
        except Exception:  # the store's host is gone: this rank says what it knows
            return True

    def close(self) -> None:
        """Stop the heartbeat and leave the process group."""
        self._stop.set()
        self._changed.set()
        if self.world > 1:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group(self.group)


def exit_after_failure(code: int) -> None:
    """End this rank at once with ``code`` after a rank failure, its lines flushed: leaving the
    process group normally (destroying it, or the interpreter's own teardown) can abort the
    process (SIGABRT, exit 134) or hang when a peer is dead or hung."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def init(timeout: float = DEFAULT_TIMEOUT, device: str = "cpu") -> Comm:
    """This process's Comm, from torchrun's environment (RANK, WORLD_SIZE, MASTER_ADDR,
    MASTER_PORT); one rank when they are absent.  Backend gloo on the CPU, nccl for 'cuda'."""
    from ..base import validate as _validate
    from .launch import follow_launcher

    follow_launcher()  # a rank of gd_torch's launcher dies with it
    timeout = _validate.params(INIT_PARAMS, timeout=timeout)["timeout"]
    if device != "cpu":  # refuse an absent CUDA device here, in one line
        from ..gradients import _device

        _device.resolve(device)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Comm(0, 1, float(timeout), device)
    import datetime

    import torch.distributed as dist

    rank = int(os.environ["RANK"])
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl":
        import torch

        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        torch.cuda.set_device(device)
    wait = datetime.timedelta(seconds=timeout)
    group = None
    if dist.is_initialized():  # the program already joined the ranks: a group of its own, with this timeout
        group = dist.new_group(backend=backend, timeout=wait)
    else:
        dist.init_process_group(backend, timeout=wait)
    comm = Comm(rank, world, float(timeout), device, group)
    store = dist.TCPStore(
        os.environ["MASTER_ADDR"],
        int(os.environ["MASTER_PORT"]),
        is_master=False,
        timeout=datetime.timedelta(seconds=5),
    )
    comm._exits = store
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")  # torchrun's restarts share its store
    # each Comm of this process its own keys (every rank makes its Comms in the same order)
    comm.start_heartbeat(dist.PrefixStore(f"gd_torch/{attempt}/{next(_SERIAL)}", store))
    return comm


#: numbers the Comms :func:`init` makes in this process, in order (they name their heartbeat keys)
_SERIAL = itertools.count(1)


def failure_line(exc: BaseException, rank: int = 0) -> str | None:
    """The one line rank ``rank`` prints for ``exc``, or None on the ranks that should stop
    quietly: for a failure they all saw (a RankFailure), every rank but the one it names as the
    reporter; for a divergence (the same all-reduced losses on every rank), every rank but 0."""
    if isinstance(exc, RankFailure) and not exc.report:
        return None
    if isinstance(exc, TrainingDiverged) and rank != 0:
        return None
    return f"gd-torch: error: {exc}"
