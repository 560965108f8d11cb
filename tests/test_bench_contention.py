"""The benchmark's detection of a busy machine: the signals on injected measurements (no machine
assumed idle), the worker's wiring of them, the idle reference, and one real run with busy
processes beside it, which must be flagged."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from cli_run import main_within

from gd_torch import GdTorchError
from gd_torch.bench import contention, harness, machine
from gd_torch.bench.contention import DESCHEDULED_LIMIT, LOAD_MARGIN, SIGNALS, Evidence, judge

TOL = 0.2  # the default --calibration-tolerance
#: one value per Evidence field at its signal's limit
AT_LIMIT = {"change": TOL, "slowdown": TOL, "descheduled": DESCHEDULED_LIMIT, "load_excess": LOAD_MARGIN}
NAMES = dict(zip(AT_LIMIT, (s.name for s in SIGNALS), strict=True))


def test_nothing_measured_is_not_contended():
    assert judge(Evidence(), TOL) == []


@pytest.mark.parametrize("field", list(AT_LIMIT))
def test_each_signal_flags_at_its_limit_and_not_below(field):
    limit = AT_LIMIT[field]
    (why,) = judge(Evidence(**{field: limit}), TOL)
    assert why.startswith(NAMES[field] + ": ")
    assert judge(Evidence(**{field: limit * 0.99}), TOL) == []


def test_a_calibration_that_got_faster_across_the_cell_counts_as_moved():
    (why,) = judge(Evidence(change=-0.25), TOL)
    assert why == "calibration moved: the calibration kernel's time changed by 25% across the cell (limit 20%)"


def test_evidence_from_the_measurements():
    cal = {"before_s": 4e-3, "after_s": 5e-3}
    e = contention.evidence(cal, {"wall_s": 2.0, "cpu_s": 1.0, "waited_s": 0.9}, 5.25, 2e-3, 2)
    assert e == Evidence(change=pytest.approx(0.25), slowdown=pytest.approx(1.0), descheduled=0.45, load_excess=3.25)
    # without a run delay (not Linux): the share of wall time the thread was not on a CPU
    assert contention.evidence(cal, {"wall_s": 2.0, "cpu_s": 1.5, "waited_s": None}, None, None, 2) == Evidence(
        change=pytest.approx(0.25), descheduled=0.25
    )


def test_an_idle_cell_is_not_contended_and_a_busy_one_names_every_signal():
    # idle: the committed run's numbers (load 1.6 on 2 cores from the benchmark's own threads)
    idle = contention.evidence(
        {"before_s": 3.4e-3, "after_s": 3.5e-3}, {"wall_s": 1.0, "cpu_s": 0.99, "waited_s": 0.004}, 1.6, 3.4e-3, 2
    )
    assert judge(idle, TOL) == []
    # three busy processes on 2 cores: measured here, the thread waits 50-75%, the kernel runs 2-5x slower
    busy = contention.evidence(
        {"before_s": 14e-3, "after_s": 15e-3}, {"wall_s": 1.0, "cpu_s": 0.3, "waited_s": 0.7}, 4.9, 3.4e-3, 2
    )
    assert [w.split(":")[0] for w in judge(busy, TOL)] == ["calibration slow", "descheduled", "load"]


def _group(monkeypatch, calibration_s: float, sched: dict, load: float, idle: float | None) -> list[dict]:
    # harness.time_group on one trivial task, with the calibration, thread times and load injected
    monkeypatch.setattr(harness.timing, "calibrate", lambda repeats: calibration_s)
    monkeypatch.setattr(harness.timing, "load_average", lambda: load)
    monkeypatch.setattr(harness.contention, "since", lambda start: sched)
    rows: list[dict] = []
    monkeypatch.setattr(harness, "emit", rows.append)
    plan = {"calibration_tolerance": TOL, "calibration_repeats": 9, "retries": 0, "min_run_time": 1e-4}
    plan |= {"idle_calibration_s": idle, "cores": 2}
    task = {
        "kind": "gradient",
        "method": "analytic",
        "library": "numpy",
        "device": "cpu",
        "n": 1,
        "d": 1,
        "dtype": "float64",
    }
    harness.time_group([harness.Prepared(task, {"f": lambda: None})], plan, harness.timing.no_sync)
    return rows


def test_the_worker_marks_a_cell_from_the_level_of_load_not_only_its_change(monkeypatch):
    sched = {"wall_s": 1.0, "cpu_s": 0.45, "waited_s": 0.5}
    (row,) = _group(monkeypatch, 4e-3, sched, 4.8, idle=4e-3)  # the kernel's time does not move
    assert row["contended"] is True
    assert [w.split(":")[0] for w in row["contended_by"]] == ["descheduled", "load"]
    assert row["descheduled"] == 0.5 and row["sched"] == sched and row["loadavg_1m"] == 4.8
    (row,) = _group(monkeypatch, 9e-3, {"wall_s": 1.0, "cpu_s": 1.0, "waited_s": 0.0}, 1.0, idle=4e-3)
    assert [w.split(":")[0] for w in row["contended_by"]] == ["calibration slow"]
    (row,) = _group(monkeypatch, 4e-3, {"wall_s": 1.0, "cpu_s": 0.99, "waited_s": 0.01}, 1.0, idle=4e-3)
    assert row["contended"] is False and row["contended_by"] == []


def _committed() -> dict:
    return json.loads(machine.COMMITTED.read_text())


def test_the_idle_reference_is_the_committed_runs_calibration_on_the_same_machine(monkeypatch):
    ref = _committed()
    same = {**ref["machine"]}
    monkeypatch.setattr(machine, "machine", lambda: same)
    got = machine.idle_reference(None, ref["config"]["threads"])
    assert got["file"] == str(machine.COMMITTED) and got["why_not"] is None
    levels = sorted(
        min(r["calibration"]["before_s"], r["calibration"]["after_s"])
        for r in ref["rows"]
        if r.get("calibration") and not r["contended"]
    )
    assert got["calibration_s"] == pytest.approx(levels[len(levels) // 2], rel=0.2)
    assert 1e-3 < got["calibration_s"] < 1e-2  # the kernel is ~4 ms idle on the committed machine
    other = machine.idle_reference(None, ref["config"]["threads"] + 1)
    assert other["calibration_s"] is None and "threads" in other["why_not"]
    monkeypatch.setattr(machine, "machine", lambda: same | {"cpu": "another CPU"})
    assert "CPU" in machine.idle_reference(None, ref["config"]["threads"])["why_not"]


def test_a_missing_reference_named_on_the_command_line_is_refused(tmp_path, capsys):
    argv = ["bench", "--quick", "--reference", str(tmp_path / "none.json"), "--out", str(tmp_path / "o")]
    assert main_within(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--reference must be an existing benchmark result" in err


@pytest.mark.parametrize("calibration", [{"before_s": "a"}, {"before_s": 0.004}, {"before_s": 0.004, "after_s": -1}])
def test_a_malformed_calibration_on_a_row_not_ok_is_refused_naming_reference(tmp_path, capsys, calibration):
    # contention.run_level reads the calibration of every row, whatever its status: each is checked
    m = machine.machine()
    row = {"kind": "gradient", "method": "analytic", "device": "cpu", "n": 250, "d": 3, "dtype": "float64"}
    row |= {"status": "skipped", "reason": "x", "calibration": calibration}
    ref = tmp_path / "ref.json"
    ref.write_text(json.dumps({"machine": m, "config": {"threads": 2}, "rows": [row]}))
    with pytest.raises(GdTorchError, match=rf"^--reference {ref}: rows\[0\]\.calibration\.(before|after)_s"):
        machine.idle_reference(str(ref), 2)
    argv = ["bench", "--quick", "--threads", "2", "--reference", str(ref), "--out", str(tmp_path / "o")]
    assert main_within(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--reference {ref}: rows[0].calibration." in err, err


#: one cell of the numpy worker (the floor and analytic): the signals are judged by the harness that
#: every worker shares, so a second worker (torch's import: many seconds beside busy processes) adds none
BUSY_RUN = ["--quick", "--n", "1e4", "--d", "3", "--dtype", "float64", "--no-train"]
BUSY_RUN += ["--methods", "analytic", "--min-run-time", "0.02"]


@pytest.mark.slow  # about 5 s here: three busy processes beside a real run (default calibration: the kernel's real level)
def test_a_run_beside_three_busy_processes_is_flagged(tmp_path, capsys):
    busy = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(3)]
    try:
        time.sleep(1.0)  # let them take the cores
        rc = main_within(["bench", *BUSY_RUN, "--out", str(tmp_path)], seconds=120)
    finally:
        for p in busy:  # our own children, by their handles
            p.kill()
            p.wait()
    assert rc == 0  # no earlier results to keep: written, every row marked
    result = json.loads((tmp_path / "quick.json").read_text())
    timed = [r for r in result["rows"] if r["status"] == "ok"]
    assert timed and all(r["contended"] for r in timed)
    level = ("descheduled", "load", "calibration slow")  # the level of load, not a change of it
    assert all(any(w.split(":")[0] in level for w in r["contended_by"]) for r in timed)
    assert result["publishable"] is False and result["contended_rows"] == len(timed)
    err = capsys.readouterr().err.strip().splitlines()
    assert f"{len(timed)} of {len(timed)} timed row(s) were timed on a busy machine" in err[-1]
