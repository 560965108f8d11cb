"""``gd-torch train --workers 2`` as a process of its own, and its ranks seen through /proc (Linux):
for the tests that kill the launcher or a rank and look at what is left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from gd_torch.base.files import STAGING

#: seconds to wait for the ranks to start training (K processes importing torch on busy cores)
START = 180.0


def start_training(dataset: str, out: Path, logs: Path, *flags: str) -> subprocess.Popen:
    """A long training on two ranks (it would run for many minutes), its output in ``logs``."""
    argv = [sys.executable, "-m", "gd_torch", "train", "--dataset", dataset, "--workers", "2", "--alpha", "0.01"]
    argv += ["--epochs", "100000000", "--quiet", "--timeout", "30", "--out", str(out), *flags]
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / "stdout", "wb") as o, open(logs / "stderr", "wb") as e:
        return subprocess.Popen(argv, stdout=o, stderr=e, env={**os.environ, "GLOO_SOCKET_IFNAME": "lo"})


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, dead but not reaped, does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def ranks_of(launcher: int) -> dict[int, int]:
    """rank -> pid of the launcher's children (their RANK variable)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid != launcher:
                continue
            env = dict(v.split("=", 1) for v in (entry / "environ").read_text().split("\0") if "=" in v)
        except (OSError, IndexError, ValueError):
            continue
        if "RANK" in env:
            found[int(env["RANK"])] = int(entry.name)
    return found


def wait_for_training(proc: subprocess.Popen, out: Path) -> dict[int, int]:
    """The two ranks' pids once rank 0 opened --out (its staging folder is there: every rank is
    past its start and the training runs); fails if the launcher ends first."""
    end = time.monotonic() + START
    while time.monotonic() < end:
        assert proc.poll() is None, f"the launcher ended with {proc.returncode} before training"
        ranks = ranks_of(proc.pid)
        staged = out.is_dir() and any(STAGING.match(p.name) for p in out.iterdir())
        if len(ranks) == 2 and staged:
            return ranks
        time.sleep(0.1)
    raise AssertionError("the ranks did not start training in time")


def wait_until(condition, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def kill_left(pids) -> None:
    """SIGKILL the given processes (ones this test started) that still run."""
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def written(out: Path) -> list[str]:
    """The files in --out other than a killed run's staging folder."""
    return sorted(p.name for p in out.iterdir() if not STAGING.match(p.name)) if out.is_dir() else []


def followers(launcher: int) -> list[int]:
    """The live processes started by gd_torch's launcher ``launcher`` (its pid in their
    GD_TORCH_LAUNCHER variable), wherever they were reparented."""
    from gd_torch.distributed.launch import LAUNCHER

    mark = f"{LAUNCHER}={launcher}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if mark in env and alive(int(entry.name)):
            found.append(int(entry.name))
    return found
