"""Fuzz surface "malformed bench results": a valid result and rows file, mutated in many ways
(wrong types, missing keys, NaN / inf / negative / zero / huge numbers, deep nesting, huge
files, not JSON, not UTF-8), read by ``gd-torch bench --assemble`` and ``--compare``.

Every outcome must be a clean error (exit 2, nothing on stdout, one line ``gd-torch: error:``
naming the file on stderr, no temporary left behind) or a success (--assemble: exit 0;
--compare: exit 0, or 1 when rows moved or the run was kept aside).  The base files are written
by the benchmark itself (--assemble of a rows file of one tiny cell, so that a --compare that
succeeds re-times only 10 x 2 float64, for the base's min_run_time of 1 ms a row).  Run with ``-s`` for the counts.
"""

from __future__ import annotations

import copy
import json
import math
import random
from collections import Counter
from pathlib import Path

import pytest
from cli_run import main_within

from gd_torch.bench.schema import MAX_BYTES, MAX_DEPTH

COUNTS: Counter[str] = Counter()
SEED = 20261207
#: how many random mutations each surface tries (a --compare that succeeds starts a worker and
#: re-times a cell: ~1 s; an --assemble that succeeds draws the PNG: ~0.2 s); the whole-file cases
#: below reach the same reader without one
N_ASSEMBLE, N_COMPARE = 100, 12

CELL = {"device": "cpu", "n": 10, "d": 2, "dtype": "float64", "library": "numpy"}
TIMED = {"q25_s": 9e-7, "q75_s": 1.1e-6, "iqr_s": 2e-7, "min_s": 8e-7, "blocks": 5, "number_per_block": 100}
CALIBRATION = {"before_s": 4e-3, "after_s": 4.1e-3, "change": 0.025, "tolerance": 0.2, "attempts": 1}
BASE_RECORDS = [
    {"kind": "config", "threads": 2, "device": "cpu", "min_run_time": 0.001, "budget_s": 0.01, "calibration_tolerance": 0.2,
     "retries": 0, "seed": 0, "machine": {"cpu": "fuzz", "cores": 2, "memory_GiB": 1.0, "loadavg_at_start": 0.5}},
    {"kind": "meta", "library": "numpy", "numpy": "2", "threadpools": [
        {"user_api": "blas", "internal_api": "openblas", "version": "0", "architecture": "X", "num_threads": 2}]},
    {"kind": "gradient", "method": "floor", "status": "ok", "median_s": 1e-6, "bandwidth_GBps": 0.16, "matmul_s": 1e-6,
     **CELL, **TIMED, "calibration": CALIBRATION, "contended": False, "contended_by": [], "loadavg_1m": 0.5},
    {"kind": "gradient", "method": "analytic", "status": "ok", "median_s": 1e-5,
     **CELL, **TIMED, "calibration": CALIBRATION, "contended": False, "contended_by": [], "loadavg_1m": 0.5},
    {"kind": "gradient", "method": "numeric:richardson", "status": "skipped", "reason": "over the budget", **CELL},
    {"kind": "train", "method": "analytic", "status": "ok", "median_s": 1e-3, "us_per_epoch": 10.0, "epochs": 100,
     **CELL, **TIMED, "n": 250, "d": 3, "calibration": CALIBRATION, "contended": False},
    {"kind": "end", "library": "numpy", "torch_loaded": False},
    {"kind": "finished", "finished": "2026-12-07T00:00:00Z", "interrupted": False},
]  # fmt: skip


def _deep(levels: int) -> list:
    v: list = []
    for _ in range(levels):
        v = [v]
    return v


#: values put in place of a field: wrong types, the edges of numbers, nesting, size
VALUES = [None, True, False, 0, -0.0, -1, 1, 2.5, 2**70, 1e-320, 1e308, -1e308, math.nan, math.inf, -math.inf]
VALUES += ["", "x", "float16", "1e-3", [], [1, "a"], {}, {"a": 1}, _deep(MAX_DEPTH + 8), "\u00e9" * 50, "y" * 200_000]


def _paths(value, prefix=()) -> list[tuple]:
    # every key path of a JSON value, containers included
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(data, rng: random.Random):
    """One random change of ``data`` (a copy): set a field to a bad value, delete it, add an
    unknown one, or replace a whole record; (description, mutated)."""
    data = copy.deepcopy(data)
    path = rng.choice(_paths(data))
    parent = data
    for k in path[:-1]:
        parent = parent[k]
    key = path[-1]
    op = rng.choice(["set", "set", "set", "delete", "add"])
    value = rng.choice(VALUES)
    if op == "delete":
        del parent[key]
    elif op == "add" and isinstance(parent, dict):
        parent[f"unknown_{rng.randrange(99)}"] = value
    else:
        parent[key] = value
    return f"{op} {'.'.join(map(str, path))} = {str(value)[:40]}", data


def _dump(data) -> str:
    return json.dumps(data)  # NaN and inf as the NaN / Infinity tokens that json.loads accepts


def _whole_files(valid: str) -> list[tuple[str, bytes]]:
    """Whole files that are broken, or huge: (name, bytes); ``valid``: one JSON object's text."""
    return [
        ("empty", b""),
        ("not JSON", b"rows: none\n"),
        ("top-level list", b"[1, 2, 3]\n"),
        ("top-level number", b"7\n"),
        ("not UTF-8", b"\xff\xfe\x00\x81" * 10),
        ("truncated", valid[: len(valid) // 2].encode()),
        ("nested 100000 deep", b"[" * 100_000 + b"]" * 100_000),
        ("object nested 100000 deep", b'{"a":' * 100_000 + b"1" + b"}" * 100_000),
        ("over the size limit", valid.encode() + b" " * (MAX_BYTES + 1)),
        ("huge but under the limit", valid[:-1].encode() + b', "padding": "' + b"p" * (8 << 20) + b'"}\n'),
    ]


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    kinds = ("tried", "clean error", "ok", "other")
    print("\nBench results fuzz:", ", ".join(f"{COUNTS[k]} {k}" for k in kinds))


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> dict:
    """The valid rows file and the result the benchmark writes from it."""
    folder = tmp_path_factory.mktemp("base")
    rows = folder / "base.jsonl"
    rows.write_text("".join(json.dumps(r) + "\n" for r in BASE_RECORDS))
    assert main_within(["bench", "--assemble", str(rows)]) == 0
    return {"records": BASE_RECORDS, "result": json.loads((folder / "base.json").read_text())}


def _outcome(argv: list[str], path: Path, ok_codes: tuple[int, ...], capsys) -> str:
    """'clean error', 'ok', or 'other: why'."""
    try:
        code = main_within(argv, seconds=120)
    except BaseException as exc:  # a traceback in the making
        return f"other: {type(exc).__name__}: {exc}"[:300]
    out, err = capsys.readouterr()
    partial = [p.name for p in path.parent.rglob("*") if ".partial" in p.name]
    if partial:
        return f"other: temporaries left behind: {partial}"
    if code == 2:
        one_line = err.startswith("gd-torch: error: ") and err.count("\n") == 1 and path.name in err
        return "clean error" if one_line and out == "" else f"other: exit 2 but stderr {err[:300]!r}"
    if code in ok_codes:
        return "ok"
    return f"other: exit {code}, stderr {err[-300:]!r}"


def _tally(results: list[tuple[str, str]]) -> None:
    for _, outcome in results:
        COUNTS["tried"] += 1
        COUNTS[outcome if outcome in ("clean error", "ok") else "other"] += 1
    bad = [f"{what}: {outcome}" for what, outcome in results if outcome not in ("clean error", "ok")]
    assert not bad, f"{len(bad)} of {len(results)} not clean:\n" + "\n".join(bad[:10])


def _case_file(folder, name: str, content: bytes):
    # one case's file, alone in a fresh folder (its outputs land beside it or under it)
    folder.mkdir()
    path = folder / name
    path.write_bytes(content)
    return path


def test_assemble_on_mutated_rows_files_is_a_clean_error_or_a_result(base, tmp_path, capsys):
    rng = random.Random(SEED)
    cases = [_mutate(base["records"], rng) for _ in range(N_ASSEMBLE)]
    lines = [(what, "".join(_dump(r) + "\n" for r in recs).encode()) for what, recs in cases]
    lines += [(f"rows file {name}", content) for name, content in _whole_files(_dump(base["records"][0]))]
    lines.append(("a line nested 100000 deep", b"[" * 100_000 + b"]" * 100_000 + b"\n"))
    results = []
    for i, (what, content) in enumerate(lines):
        path = _case_file(tmp_path / f"a{i}", "mutated.jsonl", content)
        results.append((what, _outcome(["bench", "--assemble", str(path)], path, (0,), capsys)))
    _tally(results)
    assert {o for _, o in results} == {"clean error", "ok"}  # both kinds occur: the mutations reach the checks


def test_compare_on_mutated_results_is_a_clean_error_or_a_run(base, tmp_path, capsys):
    rng = random.Random(SEED + 1)
    cases = [(what, _dump(d).encode()) for what, d in (_mutate(base["result"], rng) for _ in range(N_COMPARE))]
    cases += [(f"result {name}", content) for name, content in _whole_files(_dump(base["result"]))]
    results = []
    for i, (what, content) in enumerate(cases):
        folder = tmp_path / f"c{i}"
        path = _case_file(folder, "mutated.json", content)
        argv = ["bench", "--compare", str(path), "--sample", "1", "--no-train", "--calibration-repeats", "1"]
        argv += ["--out", str(folder / "out")]
        results.append((what, _outcome(argv, path, (0, 1), capsys)))
    _tally(results)
    assert "clean error" in {o for _, o in results}


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("median_s", 0, "rows[1].median_s must be a positive finite number or null; got 0"),
        ("median_s", -1e-3, "rows[1].median_s must be a positive finite number or null; got -0.001"),
        ("median_s", "1e-3", "rows[1].median_s must be a positive finite number or null; got '1e-3'"),
        ("median_s", math.nan, "rows[1].median_s must be a positive finite number or null; got nan"),
        ("dtype", "float16", "rows[1].dtype must be one of 'float64', 'float32'; got 'float16'"),
        ("n", 2.5, "rows[1].n must be a positive integer; got 2.5"),
    ],
)
def test_each_named_finding_is_one_line_naming_the_file_and_the_field(base, tmp_path, capsys, field, value, message):
    data = copy.deepcopy(base["result"])
    data["rows"][1][field] = value
    path = tmp_path / "bad.json"
    path.write_text(_dump(data))
    assert main_within(["bench", "--compare", str(path), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == f"gd-torch: error: --compare {path}: {message}\n"


def test_rows_that_are_not_a_list_and_deep_nesting_are_named(base, tmp_path, capsys):
    for mutate, message in (
        (lambda d: d.update(rows={"a": 1}), "rows must be a list; got {'a': 1}"),
        (lambda d: d["rows"][0].update(x=_deep(MAX_DEPTH + 1)), f"values must be nested at most {MAX_DEPTH} deep"),
    ):
        data = copy.deepcopy(base["result"])
        mutate(data)
        path = tmp_path / "bad.json"
        path.write_text(_dump(data))
        assert main_within(["bench", "--compare", str(path), "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"gd-torch: error: --compare {path}: {message}") and err.count("\n") == 1
