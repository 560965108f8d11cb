"""Fuzz of dataset folders that change under gd-torch, and of the processes that write them.

Surfaces: malformed ``meta.json`` variants; shards deleted, truncated or replaced before a run
and between the row blocks of a run; ``make-data`` SIGKILLed at random points of a rewrite;
the ``--workers`` launcher SIGKILLed at random points.  Every outcome must be a clean one-line
exit 2 (a GdTorchError in the API) or a correct result: never a traceback, never a folder that
opens as a mix of two datasets, never a rank outliving its launcher or writing after it.
Seeded and bounded (about 30 s).  Run with ``-s`` for the counts.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import workers_run
from cli_run import main_within

import gd_torch.distributed as dist
from gd_torch import GdTorchError
from gd_torch.data import shards as ooc
from gd_torch.data import synthetic

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc, SIGKILL and gloo on 'lo'")

COUNTS: Counter[str] = Counter()
KINDS = ("tried", "clean error", "ok", "other")
SEED = 20
#: the dataset every case starts from: 4 shards of 150 rows
SHAPE = {"n": 600, "d": 4, "dtype": "float64", "seed": 5, "shard_rows": 150}
CHECK = ["check", "--loss", "bce", "--methods", "analytic,tutorial"]
#: the keys of meta.json that say which data the folder holds; the others are notes
WHOLE = ("shards", "complete")
#: bytes per row block in the API cases: many blocks per shard (the reference sums in the same order)
BUDGET = 4096


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    print("\nshard fuzz:", ", ".join(f"{COUNTS[k]} {k}" for k in KINDS))


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return synthetic.make_data(out=tmp_path_factory.mktemp("base") / "d", **SHAPE)


@pytest.fixture(scope="module")
def reference(base) -> dict:
    """What the untouched dataset gives: check's output, the gradient at W = 1."""
    return {"check": _cli([*CHECK, "--dataset", str(base)]), "gradient": _gradient(ooc.open_dataset(base, BUDGET))}


def _cli(argv: list[str]) -> tuple[int | str, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main_within(argv, 60)
        except Exception as exc:  # a traceback: judged "other"
            code = f"{type(exc).__name__}: {exc}"
    return code, out.getvalue(), err.getvalue()


def _gradient(data) -> np.ndarray:
    return dist.gradient(np.ones(data.d), data, loss="bce")


def _copy(base: Path, folder: Path) -> Path:
    shutil.copytree(base, folder)
    return folder


def _judge_cli(result: tuple[int | str, str, str], correct: tuple[int | str, str, str] | None, what: str) -> str:
    # a clean one-line exit 2, or (when the data may still be whole) exactly the reference output
    COUNTS["tried"] += 1
    code, out, err = result
    if code == 2 and out == "" and err.startswith("gd-torch: error: ") and err.count("\n") == 1:
        COUNTS["clean error"] += 1
        return "clean error"
    if correct is not None and result == correct:
        COUNTS["ok"] += 1
        return "ok"
    COUNTS["other"] += 1
    raise AssertionError(f"{what}: exit {code}, stdout {out[:300]!r}, stderr {err[-600:]!r}")


# ---- malformed meta.json ------------------------------------------------------------------------


def _meta_variants(meta: dict, rng: np.random.Generator) -> list[tuple[str, bytes, bool]]:
    # (what, meta.json's bytes, whether the dataset is still the same data)
    shards = meta["shards"]
    fixed = {
        "a list": [meta],
        "null": None,
        "a number": 3,
        "a string": "meta",
        "complete 'false'": meta | {"complete": "false"},
        "complete 'true'": meta | {"complete": "true"},
        "complete 1": meta | {"complete": 1},
        "complete false": meta | {"complete": False},
        "shards null": meta | {"shards": None},
        "shards {}": meta | {"shards": {}},
        "shards []": meta | {"shards": []},
        "shards of strings": meta | {"shards": [s["X"] for s in shards]},
        "a shard without y": meta | {"shards": [{"X": shards[0]["X"]}, *shards[1:]]},
        "a shard named ../": meta | {"shards": [{**shards[0], "X": "../" + shards[0]["X"]}, *shards[1:]]},
        "a shard named /etc/passwd": meta | {"shards": [{**shards[0], "X": "/etc/passwd"}, *shards[1:]]},
        "a shard named sub/": meta | {"shards": [{**shards[0], "X": "sub/X.npy"}, *shards[1:]]},
        "a shard not there": meta | {"shards": [*shards, {"X": "X-00099.npy", "y": "y-00099.npy"}]},
        "a name a number": meta | {"shards": [{**shards[0], "X": 7}, *shards[1:]]},
    }
    variants = [(k, json.dumps(v).encode(), False) for k, v in fixed.items()]
    variants += [
        (f"without {k!r}", json.dumps({kk: v for kk, v in meta.items() if kk != k}).encode(), k not in WHOLE)
        for k in meta
    ]
    variants += [
        ("not JSON", b"{", False),
        ("empty", b"", False),
        ("not UTF-8", b'\xff\xfe{"complete": true}', False),
        ("an extra key", json.dumps(meta | {"note": "mine"}).encode(), True),
        ("deeply nested", b"[" * 100_000 + b"]" * 100_000, False),
    ]
    pool = [None, True, False, 0, -1, 1e308, "", "X-00000.npy", [], {}, [None], {"X": None}]
    for i in range(8):  # a random key given a random value
        key = str(rng.choice(sorted(meta)))
        value = pool[int(rng.integers(len(pool)))]
        same = key not in WHOLE or json.dumps(value) == json.dumps(meta[key])
        variants.append((f"random {i}: {key} = {value!r}", json.dumps(meta | {key: value}).encode(), same))
    return variants


def test_malformed_meta_json(base, reference, tmp_path):
    rng = np.random.default_rng(SEED)
    meta = json.loads((base / "meta.json").read_text())
    for i, (what, text, same) in enumerate(_meta_variants(meta, rng)):
        folder = _copy(base, tmp_path / f"m{i}")
        (folder / "meta.json").write_bytes(text)
        correct = (reference["check"][0], reference["check"][1].replace(str(base), str(folder)), "") if same else None
        _judge_cli(_cli([*CHECK, "--dataset", str(folder)]), correct, f"meta.json {what}")


# ---- shards changed before a run ----------------------------------------------------------------


def _truncate(path: Path, rng) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(rng.integers(0, len(data)))])


def _replace_with(array):
    def change(path: Path, rng) -> None:
        np.save(path.with_name("new.npy"), array, allow_pickle=True)
        path.with_name("new.npy").replace(path)

    return change


#: (what, change(path, rng), whether the result may still be the reference's)
CHANGES = [
    ("deleted", lambda p, rng: p.unlink(), False),
    ("truncated", _truncate, False),
    ("emptied", lambda p, rng: p.write_bytes(b""), False),
    ("random bytes", lambda p, rng: p.write_bytes(rng.bytes(int(rng.integers(1, 400)))), False),
    ("junk appended", lambda p, rng: p.write_bytes(p.read_bytes() + b"junk"), True),
    ("another shape", _replace_with(np.ones((7, 4))), False),
    ("another width", _replace_with(np.ones((150, 3))), False),
    ("float32", _replace_with(np.ones((150, 4), np.float32)), False),
    ("int64", _replace_with(np.ones((150, 4), np.int64)), False),
    ("objects", _replace_with(np.array([None] * 150, dtype=object)), False),
    ("3-d", _replace_with(np.ones((150, 4, 1))), False),
    ("fortran order", _replace_with(np.asfortranarray(np.ones((150, 4)))), False),
    ("NaN", _replace_with(np.full((150, 4), np.nan)), False),
    ("a folder", lambda p, rng: (p.unlink(), p.mkdir()), False),
    ("a dangling link", lambda p, rng: (p.unlink(), p.symlink_to(p.with_name("absent.npy"))), False),
    ("a link to itself", lambda p, rng: (p.unlink(), p.symlink_to(p.name)), False),
]


def test_shards_changed_before_a_run(base, reference, tmp_path):
    rng = np.random.default_rng(SEED + 1)
    names = sorted(p.name for p in base.glob("[Xy]-*.npy"))
    for i, (what, change, maybe_same) in enumerate(CHANGES):
        for j in range(2):  # the change on an X shard and on a y shard
            folder = _copy(base, tmp_path / f"s{i}-{j}")
            name = str(rng.choice([n for n in names if n.startswith("Xy"[j])]))
            change(folder / name, rng)
            correct = (reference["check"][0], reference["check"][1].replace(str(base), str(folder)), "")
            _judge_cli(_cli([*CHECK, "--dataset", str(folder)]), correct if maybe_same else None, f"{name} {what}")


# ---- shards changed during a run ----------------------------------------------------------------


def test_shards_changed_between_the_blocks_of_a_run(base, reference, tmp_path, monkeypatch):
    # the change lands after a random number of blocks: a GdTorchError, or (when every block it
    # touches was already read) exactly the reference gradient
    rng = np.random.default_rng(SEED + 2)
    names = sorted(p.name for p in base.glob("[Xy]-*.npy"))
    original = ooc.Shards._block
    for i in range(24):
        what, change, _ = CHANGES[int(rng.integers(len(CHANGES)))]
        folder = _copy(base, tmp_path / f"r{i}")
        name = str(rng.choice(names))
        at = int(rng.integers(0, 40))
        calls = [0]

        def block(self, *args, change=change, name=name, at=at, folder=folder, calls=calls):
            calls[0] += 1
            if calls[0] == at:
                change(folder / name, rng)
            return original(self, *args)

        monkeypatch.setattr(ooc.Shards, "_block", block)
        COUNTS["tried"] += 1
        try:
            g = _gradient(ooc.open_dataset(folder, BUDGET))
        except GdTorchError as exc:
            assert "\n" not in str(exc)
            COUNTS["clean error"] += 1
            continue
        if not np.array_equal(g, reference["gradient"]):
            COUNTS["other"] += 1
            raise AssertionError(f"{name} {what} after {at} blocks: a gradient of other data, {g}")
        COUNTS["ok"] += 1
    monkeypatch.setattr(ooc.Shards, "_block", original)


# ---- make-data killed at random points ----------------------------------------------------------


def _contents(folder: Path):
    try:
        data = ooc.open_dataset(folder)
    except GdTorchError:
        return None
    X, y = data.take(np.arange(data.n))
    return X.tobytes(), y.tobytes()


def test_make_data_killed_at_random_points(base, tmp_path):
    # the five runs at once, each killed at its own random time after its start: the sleeps overlap
    rng = np.random.default_rng(SEED + 3)
    new = {**SHAPE, "n": 40_000, "seed": 6, "shard_rows": 2_000}
    old, want = _contents(base), _contents(synthetic.make_data(out=tmp_path / "want", **new))
    argv = [sys.executable, "-m", "gd_torch", "make-data", "--quiet", "--n", str(new["n"]), "--d", str(new["d"])]
    argv += ["--dtype", new["dtype"], "--seed", str(new["seed"]), "--shard-rows", str(new["shard_rows"])]
    runs = []
    for i in range(5):
        folder = _copy(base, tmp_path / f"k{i}")
        proc = subprocess.Popen([*argv, "--out", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        runs.append((folder, proc, time.monotonic() + float(rng.uniform(0.3, 2.5))))
    try:
        for _, proc, at in sorted(runs, key=lambda r: r[2]):
            time.sleep(max(0.0, at - time.monotonic()))
            proc.send_signal(signal.SIGKILL)
    finally:
        for _, proc, _ in runs:
            proc.kill()
            proc.communicate(timeout=60)
    for i, (folder, _, _) in enumerate(runs):
        COUNTS["tried"] += 1
        got = _contents(folder)
        if got == old or got == want:
            COUNTS["ok"] += 1
            continue
        COUNTS["other"] += 1
        raise AssertionError(f"make-data killed in run {i}: the folder opens as neither the old nor the new dataset")


# ---- the --workers launcher killed at random points ---------------------------------------------


def test_the_workers_launcher_killed_at_random_points(base, tmp_path):
    # the two launchers at once, each killed at its own random time after its start: the waits
    # (ranks importing torch, meeting, training) overlap
    rng = np.random.default_rng(SEED + 4)
    runs = []
    for i in range(2):
        proc = workers_run.start_training(str(base), tmp_path / f"o{i}", tmp_path / f"logs{i}")
        runs.append(
            {
                "proc": proc,
                "out": tmp_path / f"o{i}",
                "seen": set(),
                "at": time.monotonic() + float(rng.uniform(1.0, 6.0)),
            }
        )
    try:
        for run in sorted(runs, key=lambda r: r["at"]):
            while time.monotonic() < run["at"]:
                for r in runs:
                    r["seen"].update(
                        [*workers_run.followers(r["proc"].pid), *workers_run.ranks_of(r["proc"].pid).values()]
                    )
                time.sleep(0.05)
            run["seen"].update(workers_run.ranks_of(run["proc"].pid).values())
            os.kill(run["proc"].pid, signal.SIGKILL)
        for run in runs:
            proc, seen = run["proc"], run["seen"]
            proc.wait(timeout=30)
            COUNTS["tried"] += 1

            def left(pid=proc.pid, seen=seen) -> list[int]:
                return sorted({*workers_run.followers(pid), *(p for p in seen if workers_run.alive(p))})

            if not workers_run.wait_until(lambda: not left(), 5.0):
                COUNTS["other"] += 1
                raise AssertionError(f"ranks {left()} outlived their launcher")
        time.sleep(0.5)
        for run in runs:
            assert workers_run.written(run["out"]) == [], "written to --out after the launcher died"
            COUNTS["ok"] += 1
    finally:
        for run in runs:
            workers_run.kill_left([run["proc"].pid, *run["seen"], *workers_run.followers(run["proc"].pid)])
