"""Every command refuses an allocation it cannot make before making it: one huge value per flag
that sizes an allocation, each answered by exit 2 and one line naming the flag, quickly.

The memory available is fixed at 4 GiB and the free disk at 8 GiB (``gd_torch.base.memory`` reads
them), so the cases do not depend on the machine; the process's peak resident memory may not
grow by more than 512 MiB over the table (no giant allocation tried and failed), and each case
has 60 s.
"""

from __future__ import annotations

import collections
import resource
import time

import numpy as np
import pytest
from cli_run import main_within

from gd_torch.base import memory as _memory

BIG = "1000000000"
HUGE = "1000000000000"

#: (command line, the flag its one line must name)
CASES = [
    (["train", "--epochs", BIG, "--no-plots"], "--epochs"),  # the weight history, (epochs + 1) x D
    (["train", "--n-samples", HUGE], "--n-samples"),
    (["train", "--n-features", BIG], "--n-features"),
    (["train", "--workers", "100000", "--epochs", "1"], "--workers"),  # a Python process with torch each
    (["check", "--n-samples", HUGE], "--n-samples"),
    (["check", "--n-features", BIG], "--n-features"),
    (["sweep", "--seeds", BIG, "--no-plots"], "--seeds"),  # range(seeds) was listed: MemoryError
    (["sweep", "--epochs", BIG, "--seeds", "1", "--alphas", "0.1", "--no-plots"], "--epochs"),
    (["sweep", "--n-samples", HUGE], "--n-samples"),
    (["landscape", "--epochs", BIG], "--epochs"),
    (["landscape", "--n-samples", HUGE], "--n-samples"),
    (["landscape", "--resolution", "100000"], "--resolution"),
    (["steps", "--coordinate", BIG], "--coordinate"),
    (["explain", "--hidden", BIG], "--hidden"),  # W1 (D x H) and the N x H arrays of the ledger
    (["explain", "--hidden", "100000", "--n-features", "100000"], "--hidden"),
    (["explain", "--n-features", BIG], "--n-features"),
    (["make-data", "--n", HUGE, "--d", "3", "--out", "ds"], "--n"),  # 12 TB on disk
    (["make-data", "--n", "100", "--d", BIG, "--out", "ds"], "--d"),  # one chunk row of 1e9 floats
    (["make-data", "--n", BIG, "--d", "2", "--shard-rows", "1", "--out", "ds"], "--shard-rows"),
    (["bench", "--n", HUGE, "--no-train"], "--n"),
    (["bench", "--d", BIG, "--no-train"], "--d"),
]

Usage = collections.namedtuple("Usage", "total used free")


@pytest.fixture(scope="module")
def peak():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    yield
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown < 512, f"peak resident memory grew by {grown:.0f} MiB over the table"


@pytest.mark.parametrize(("argv", "flag"), CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_a_huge_value_is_refused_in_one_line_naming_the_flag(peak, tmp_path, monkeypatch, capsys, argv, flag):
    monkeypatch.setattr(_memory, "available_bytes", lambda: 4 << 30)
    monkeypatch.setattr(_memory.shutil, "disk_usage", lambda path: Usage(16 << 30, 8 << 30, 8 << 30))
    monkeypatch.chdir(tmp_path)

    start = time.monotonic()
    code = main_within(argv)
    out, err = capsys.readouterr()
    assert (code, out) == (2, ""), err
    assert err.startswith("gd-torch: error: ") and err.count("\n") == 1, err
    assert flag in err, err
    assert time.monotonic() - start < 30
    assert list(tmp_path.iterdir()) == [], "files left behind"


def test_fit_refuses_epochs_whose_history_cannot_fit_naming_epochs(monkeypatch):
    import gd_torch

    X, y = gd_torch.tutorial_data(20)
    monkeypatch.setattr(_memory, "available_bytes", lambda: 1 << 20)
    # (epochs + 1) x (3 weights + loss) x 1.5 + accuracy: 56 bytes an epoch, 1 MiB holds 18724
    with pytest.raises(gd_torch.GdTorchError, match=r"^epochs must be at most 18723 here: the history of 3 float64"):
        gd_torch.fit(X, y, epochs=10**6)
    assert gd_torch.fit(X, y, epochs=18723, tol=1e9).epochs_run == 0  # at the limit: accepted (stops at once)


def test_the_history_grows_by_doubling_up_to_epochs_plus_one_rows():
    import gd_torch

    X, y = gd_torch.tutorial_data(20)
    r = gd_torch.fit(X, y, epochs=40)
    assert r.weights_history.shape == (41, 3) and r.weights_history.base.shape == (41, 3)  # 16, then 41


@pytest.mark.parametrize("rows", [2, 17, 33, 63, 65, 129, 513, 1000, 1024, 4097])
def test_the_history_never_holds_more_than_one_and_a_half_times_its_final_size(rows):
    # what _fit_args estimates: the old rows beside the new array at a growth, <= 1.5 x final
    import tracemalloc

    from gd_torch.train.loop import _History

    d = 1000
    tracemalloc.start()
    try:
        h = _History(np.zeros(d), rows)
        for k in range(rows - 1):
            h.next_row(k)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert h.weights.shape[0] == rows
    assert peak <= 1.5 * rows * (d + 1) * 8 + (64 << 10), (rows, peak / (rows * (d + 1) * 8))


def test_the_address_space_limit_counts_as_available_memory(monkeypatch):
    # under ulimit -v the room left is the limit less what the process maps now
    monkeypatch.setattr(resource, "getrlimit", lambda which: (8 << 30, 8 << 30))
    mapped = int(_memory.STATM.read_text().split()[0]) * resource.getpagesize()
    room = _memory._rlimit_room()
    assert room is not None and abs(room - ((8 << 30) - mapped)) < 64 << 20
    assert _memory.available_bytes() <= room
