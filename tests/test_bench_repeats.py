"""Benchmark rows timed in several worker processes (--repeats): the median across processes, the
spread, contention, failures; old rows files without repeats assemble as before; a quick run."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import pytest

from gd_torch import GdTorchError
from gd_torch.bench import options
from gd_torch.bench.assemble import assemble
from gd_torch.bench.compare import moved_rows, report
from gd_torch.bench.markdown import markdown, train_table
from gd_torch.bench.repeats import merge_repeats, merged
from gd_torch.bench.report import Row, Rows
from gd_torch.cli.app import main

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results"


def _row(median: float, repeat: int | None = 0, status: str = "ok", method: str = "analytic", **fields) -> Row:
    d = {"kind": "gradient", "method": method, "device": "cpu", "n": 250, "d": 3, "dtype": "float64", "status": status}
    if status == "ok":
        d |= {"median_s": median, "iqr_s": median / 10, "min_s": median * 0.9}
    if repeat is not None:
        d["repeat"] = repeat
    return Row.from_dict(d | fields)


def test_three_processes_give_the_middle_one_with_the_spread():
    rows = [_row(3e-6, 0, iqr_s=1.0), _row(1e-6, 1, iqr_s=2.0), _row(2e-6, 2, iqr_s=3.0)]
    r = merged(rows)
    assert r.median_s == 2e-6 and r.get("iqr_s") == 3.0  # the middle process's own fields
    assert r.get("repeats") == 3 and r.get("repeat_medians_s") == [3e-6, 1e-6, 2e-6]
    assert r.get("spread") == pytest.approx(3.0) and r.get("repeat") is None and not r.contended


def test_two_processes_give_their_mean_and_a_training_row_its_time_per_epoch():
    rows = [_row(1e-3, 0, kind="train", epochs=100), _row(3e-3, 1, kind="train", epochs=100)]
    r = merged(rows)
    assert r.median_s == pytest.approx(2e-3) and r.get("us_per_epoch") == pytest.approx(20.0)
    assert r.get("min_s") == pytest.approx(0.9e-3)  # the lower middle's fields


def test_the_median_is_contended_only_when_half_the_processes_were():
    one = [_row(1e-6, 0, contended=True, contended_by=["load: 3"]), _row(1e-6, 1), _row(1e-6, 2)]
    assert not merged(one).contended and merged(one).get("contended_by") == []
    two = [*one[:1], _row(2e-6, 1, contended=True, contended_by=["descheduled: 0.2"]), one[2]]
    assert merged(two).contended and merged(two).get("contended_by") == ["descheduled: 0.2", "load: 3"]


def test_failed_processes_are_counted_and_a_row_no_process_finished_stays_failed():
    r = merged([_row(0, 0, status="error", reason="died"), _row(2e-6, 1), _row(4e-6, 2)])
    assert r.ok and r.median_s == pytest.approx(3e-6) and r.get("repeats") == 2 and r.get("repeats_failed") == 1
    r = merged([_row(0, 0, status="error", reason="died"), _row(0, 1, status="error", reason="died again")])
    assert r.status == "error" and r.reason == "died" and r.get("repeats") == 0


def test_rows_without_repeat_are_kept_as_they_are_in_their_order():
    plain = [_row(1e-6, None), _row(2e-6, None, method="floor")]
    assert merge_repeats(plain) == plain
    tagged = [_row(5e-6, 0, method="floor"), _row(1e-6, 0), _row(7e-6, 1, method="floor"), _row(3e-6, 1)]
    out = merge_repeats(tagged)
    assert [r.method for r in out] == ["floor", "analytic"]
    assert [r.median_s for r in out] == pytest.approx([6e-6, 2e-6])


def test_assemble_merges_a_rows_file_and_the_floor_ratio_uses_the_medians(tmp_path):
    lines = [{"kind": "config", "threads": 1, "repeats": 2}]
    for rep, (floor, grad) in enumerate([(1e-6, 4e-6), (3e-6, 8e-6)]):
        lines += [
            _row(floor, rep, method="floor", bandwidth_GBps=1.0).to_dict(),
            _row(grad, rep).to_dict(),
        ]
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    result = assemble(path, check=True)
    (grad,) = [r for r in result.rows if r.method == "analytic"]
    assert grad.median_s == pytest.approx(6e-6) and grad.get("ratio_to_floor") == pytest.approx(3.0)
    assert "median over 2 worker processes" in markdown(result)
    # --compare compares medians with medians
    before = Rows([_row(3e-6, None)])
    (moved,) = moved_rows(before, result.rows)
    assert moved.ratio == pytest.approx(2.0) and moved.spread == pytest.approx(2.0)
    table = report("c.json", [moved], [])
    assert "| now / committed | spread now |" in table and "| 3 us | 6 us | 2 **off** | 2x |" in table
    assert "spread" not in report("c.json", [dataclasses.replace(moved, spread=None)], [])


def test_the_committed_run_without_repeats_assembles_as_it_was_written():
    result = assemble(RESULTS / "cpu.jsonl", check=True)
    committed = json.loads((RESULTS / "cpu.json").read_text())
    assert [r.to_dict() for r in result.rows] == committed["rows"]
    assert "worker processes" not in markdown(result)


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    options.add_arguments(p)
    return p.parse_args(list(argv))


def test_repeats_default_to_three_for_a_full_run_one_for_quick_and_are_checked():
    assert options.config(_args()).repeats == 3
    assert options.config(_args("--quick")).repeats == 1
    assert options.config(_args("--quick", "--repeats", "2")).repeats == 2
    for bad in ("0", str(options.MAX_REPEATS + 1)):
        with pytest.raises(GdTorchError, match=r"^--repeats must be an integer from 1 to"):
            options.config(_args("--repeats", bad))


def test_a_quick_run_with_two_processes_reports_their_median(tmp_path):
    argv = ["bench", "--quick", "--no-train", "--methods", "floor", "--n", "10", "--d", "2", "--dtype", "float64"]
    argv += ["--min-run-time", "0.001", "--calibration-repeats", "1", "--retries", "0", "--repeats", "2"]
    assert main([*argv, "--out", str(tmp_path), "--force"]) in (0, 1)  # 1: this machine is busy
    records = [json.loads(x) for x in (tmp_path / "quick.jsonl").read_text().splitlines()]
    assert sorted(r["repeat"] for r in records if r.get("kind") == "gradient") == [0, 1]
    (row,) = json.loads((tmp_path / "quick.json").read_text())["rows"]
    assert row["repeats"] == 2 and len(row["repeat_medians_s"]) == 2
    assert row["median_s"] == pytest.approx(sum(row["repeat_medians_s"]) / 2)
    assert row["spread"] == pytest.approx(max(row["repeat_medians_s"]) / min(row["repeat_medians_s"]))


def test_a_training_row_s_ratio_to_its_bare_loop_is_the_median_of_each_process_s_own():
    def train(method, median, rep):
        return _row(median, rep, method=method, kind="train", epochs=100, iqr_s=0.0)

    # process 1 ran everything 3x slower: the ratio of medians (2.5 / 1.5) moves, each process's (2) does not
    rows = [train("analytic", 2.0, 0), train("analytic/bare-loop", 1.0, 0)]
    rows += [train("analytic", 6.0, 1), train("analytic/bare-loop", 3.0, 1)]
    rows += [train("analytic", 2.2, 2), train("analytic/bare-loop", 1.1, 2)]
    fit, bare = merge_repeats(rows)
    assert fit.get("ratio_to_bare") == pytest.approx(2.0) and bare.get("ratio_to_bare") is None
    assert "| analytic | cpu | 2.2e+04 | 0 | 2 | 3x |  |" in train_table(Rows([fit, bare]))


@pytest.mark.parametrize("method", ["analytic", "tutorial"])  # one row (analytic) is timed: the loop is the same
def test_the_parts_loop_is_fit_s_own_arithmetic_bit_for_bit_and_comes_with_fit_s_row(method):
    from gd_torch import fit
    from gd_torch.bench.harness import ALPHA, EPOCHS, train_data
    from gd_torch.bench.worker_numpy import parts_loop

    X, y, W0 = train_data(0)
    r = fit(X, y, method=method, alpha=ALPHA, epochs=EPOCHS, seed=0)
    assert parts_loop(method, X, y, W0).tobytes() == r.weights.tobytes()
    if method == "analytic":
        methods = options.config(_args("--quick", "--methods", method)).methods
        assert {f"{method}/bare-loop", f"{method}/parts-loop"} <= set(methods)
