"""Smoke test of the benchmark (structure of --quick's output, bad input, interrupted and contended
runs, --compare; never a time) and the fast paths it times (same results as the plain formulas)."""

from __future__ import annotations

import dataclasses
import json
import sys

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info

from gd_torch import GdTorchError, gradient, gradient_function
from gd_torch.bench import plan as bench_plan
from gd_torch.bench.options import Config
from gd_torch.cli.app import main
from gd_torch.gradients import METHODS as REGISTRY
from gd_torch.gradients import _fd_eval, analytic
from gd_torch.model.forward import delta, loss_from_z, resolve

#: the numpy and torch-eager rows (the other frameworks: test_frameworks_side_by_side)
METHODS = (
    "floor",
    "analytic",
    "autograd",
    "tutorial",
    "numeric:central",
    "numeric:forward",
    "numeric:richardson",
    "numeric:complex",
    "numeric:central/loop",
    "formula-torch",
)
GRID = ["--n", "250,2000", "--d", "3,8"]
#: the shortest timing that still runs every step (MIN_BLOCKS blocks a row, one calibration run
#: after its warm-up): these tests read the rows' structure, never a time
SHORT = ["--min-run-time", "0.001", "--calibration-repeats", "1"]
TARGETS = {"analytic", "fit(method='tutorial')", "fit(method='analytic')", "fit(method='autograd')"}


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    argv = ["--quick", *GRID, "--methods", ",".join(METHODS), *SHORT, "--retries", "0"]
    rc = main(["bench", *argv, "--out", str(out)])
    return rc, out


def test_quick_writes_json_markdown_plots_and_rows(quick, capsys):
    rc, out = quick
    assert rc == 0
    assert {p.name for p in out.iterdir()} == {"quick.jsonl", "quick.json", "quick.md", "quick-time-vs-n.png"}
    result = json.loads((out / "quick.json").read_text())
    assert result["complete"] is True
    m = result["machine"]
    for key in ("cpu", "cores", "numpy", "torch", "blas", "torch_threads"):
        assert m[key], key
    assert m["blas"][0]["internal_api"] and m["blas"][0]["architecture"] is not None
    assert m["numpy_worker_loaded_torch"] is False  # each library in its own process
    assert result["config"]["threads"] >= 1
    grad = [r for r in result["rows"] if r["kind"] == "gradient"]
    cells = {(r["n"], r["d"], r["dtype"]) for r in grad}
    assert cells == {(n, d, dt) for n in (250, 2000) for d in (3, 8) for dt in ("float64", "float32")}
    for cell in cells:
        methods = {r["method"] for r in grad if (r["n"], r["d"], r["dtype"]) == cell}
        assert methods == set(METHODS), cell
    for r in grad:
        assert r["status"] in ("ok", "skipped"), r
        if r["status"] == "ok":
            assert 0 < r["q25_s"] <= r["median_s"] <= r["q75_s"]
            assert r["blocks"] >= 5
            assert r["ratio_to_floor"] == pytest.approx(r["median_s"] / r["floor_s"])
        else:
            assert "budget" in r["reason"] or "GiB" in r["reason"]
    floors = [r for r in grad if r["method"] == "floor"]
    assert all(r["status"] == "ok" and r["bandwidth_GBps"] > 0 for r in floors)
    assert all(r["best_op"] in r["ops_s"] and r["matmul_s"] == r["ops_s"]["X @ W"] for r in floors)
    train = {r["method"]: r for r in result["rows"] if r["kind"] == "train"}
    assert set(train) >= {
        "tutorial/bare-loop",
        "analytic/bare-loop",
        "autograd/bare-loop",
        "analytic",
        "autograd",
        "tutorial",
        "formula-torch",
        "numeric:central",
    }
    assert all(r["us_per_epoch"] > 0 and r["epochs"] == 100 for r in train.values())
    assert {t["target"].split(" ")[0] for t in result["targets"]} == TARGETS
    assert all(t["verdict"] in ("met", "not met", "not measured") for t in result["targets"])
    assert {t["target"].split(" ")[0]: t["verdict"] for t in result["targets"]}[
        "analytic"
    ] == "not measured"  # no 1e6 x 64 here
    md = (out / "quick.md").read_text()
    assert "| N | D | dtype |" in md and "x its bare loop" in md and "Targets" in md


def test_rows_carry_calibration_load_and_peak_memory_and_one_cell_is_timed_together(quick):
    _, out = quick
    rows = [r for r in json.loads((out / "quick.json").read_text())["rows"] if r["status"] == "ok"]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        c = r["calibration"]
        assert c["before_s"] > 0 and c["after_s"] > 0 and c["attempts"] == 1 and c["tolerance"] == 0.2
        assert c["change"] == pytest.approx(c["after_s"] / c["before_s"] - 1)
        assert r["contended"] == bool(r["contended_by"])  # any signal of a busy machine (test_bench_contention)
        moved = any(why.startswith("calibration moved:") for why in r["contended_by"])
        assert moved == (abs(c["change"]) >= 0.2)
        assert 0 <= r["descheduled"] <= 1 and r["sched"]["wall_s"] > 0
        assert r["loadavg_1m"] >= 0
        assert r["peak_rss_bytes"] > 0 and r["peak_traced_bytes"] >= 0
        groups.setdefault((r["kind"], r["library"], r["n"], r["d"], r["dtype"]), []).append(r)
    for key, group in groups.items():  # interleaved: one calibration pair around the whole group
        assert len({json.dumps(r["calibration"], sort_keys=True) for r in group}) == 1, key
    assert any(len(g) > 1 for g in groups.values())


def test_interrupted_run_keeps_its_rows(quick, tmp_path):
    _, out = quick
    lines = (out / "quick.jsonl").read_text().splitlines()
    rows_before = [json.loads(x) for x in lines[:12] if json.loads(x).get("kind") in ("gradient", "train")]
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:12]) + "\n" + lines[12][: len(lines[12]) // 2])  # killed mid-line
    assert main(["bench", "--assemble", str(cut)]) == 0
    result = json.loads((tmp_path / "cut.json").read_text())
    assert result["complete"] is False
    assert len(result["rows"]) == len(rows_before) > 0
    assert "Incomplete run" in (tmp_path / "cut.md").read_text()


def test_assemble_writes_into_out_when_given_and_leaves_the_rows_folder_alone(quick, tmp_path):
    # --out was ignored: --assemble rewrote the .json/.md beside the rows file (the committed results)
    _, out = quick
    rows = tmp_path / "rows" / "quick.jsonl"
    rows.parent.mkdir()
    rows.write_bytes((out / "quick.jsonl").read_bytes())
    assert main(["bench", "--assemble", str(rows), "--out", str(tmp_path / "elsewhere")]) == 0
    assert [p.name for p in rows.parent.iterdir()] == ["quick.jsonl"]
    assert {"quick.json", "quick.md"} <= {p.name for p in (tmp_path / "elsewhere").iterdir()}


#: one cell, one row, one worker, the shortest timing: a whole run's code path, cheaply
TINY = ["--quick", "--no-train", "--methods", "floor", "--n", "10", "--d", "2", "--dtype", "float64", *SHORT]


def test_a_contended_run_does_not_replace_earlier_results_unless_forced(tmp_path, capsys):
    (tmp_path / "quick.json").write_text('{"earlier": "results"}\n')
    first = (tmp_path / "quick.json").read_bytes()
    # tolerance 0: every cell counts as contended, whatever the machine does
    assert main(["bench", *TINY, "--calibration-tolerance", "0", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.splitlines()[-1]  # after the progress lines
    assert "were not replaced" in err and "--force" in err
    assert (tmp_path / "quick.json").read_bytes() == first
    aside = json.loads((tmp_path / "quick-contended.json").read_text())
    assert aside["contended_rows"] == 1 and all(r["contended"] for r in aside["rows"])
    assert all(r["calibration"]["attempts"] == 2 for r in aside["rows"])  # retried once, then marked
    assert "marked *" in (tmp_path / "quick-contended.md").read_text()
    assert main(["bench", *TINY, "--calibration-tolerance", "0", "--force", "--out", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "quick.json").read_text())["contended_rows"] == 1
    assert not [p for p in tmp_path.iterdir() if ".partial" in p.name]


def test_compare_lists_rows_off_by_more_than_one_and_a_half(quick, tmp_path, capsys):
    _, out = quick
    committed = json.loads((out / "quick.json").read_text())
    keep = [r for r in committed["rows"] if r["kind"] == "gradient" and r["method"] in ("floor", "analytic")]
    slow = next(r for r in keep if (r["method"], r["n"], r["d"], r["dtype"]) == ("analytic", 2000, 8, "float64"))
    # committed at a million seconds a call: >= 1e5 times any re-timing under 10 s, whatever the load
    # (a million times the quick run's own time was not: a re-timing 10x slower than it broke the check)
    slow["median_s"] = 1e6
    path = tmp_path / "committed.json"
    path.write_text(json.dumps(committed | {"rows": keep}))
    argv = ["--compare", str(path), "--sample", "2", "--quick", *SHORT]
    assert main(["bench", *argv, "--out", str(tmp_path / "c")]) == 1
    result = json.loads((tmp_path / "c" / "compare.json").read_text())
    assert [t["verdict"] for t in result["targets"]] == ["not met"]
    assert result["targets"][0]["value"] >= 1e5
    md = (tmp_path / "c" / "compare.md").read_text()
    assert "off by more than 1.5x" in md and "**off**" in md
    cells = {(r["n"], r["d"], r["dtype"]) for r in result["rows"]}
    assert cells == {(250, 3, "float32"), (2000, 8, "float64")}  # the smallest X and the largest


def test_compare_refuses_a_file_that_is_not_a_result(capsys, tmp_path):
    other = tmp_path / "notes.json"
    other.write_text("{}")
    assert main(["bench", "--compare", str(other), "--out", str(tmp_path / "c")]) == 2
    assert f"--compare {other}: machine is missing (an object is required)" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--methods", "analytic,magic"], "--methods must be one of"),
        (["--n", "1e4,ten"], "--n: must be positive integers"),
        (["--d", "0"], "--d: must be positive integers"),
        (["--dtype", "float16"], "--dtype must be float64 or float32"),
        (["--device", "tpu"], "--device must be 'cpu' or 'cuda'"),
        (["--seed", "-1"], "--seed must be a non-negative integer; got -1"),
        (["--threads", "0"], "--threads must be a positive integer; got 0"),
        (["--retries", "1000000000"], "--retries must be an integer from 0 to 10; got 1000000000"),
        (["--calibration-repeats", "0"], "--calibration-repeats must be a positive integer; got 0"),
        (["--calibration-tolerance", "-0.1"], "--calibration-tolerance: must be a number >= 0"),
        (
            ["--tag", "../escaped", "--quick", "--no-train", "--methods", "floor", "--n", "10", "--d", "2"],
            "--tag must be a file name stem without a folder",
        ),
        (["--n", "100000000", "--d", "512"], "X alone is 381.47 GiB"),
        (["--assemble", "no/such/file.jsonl"], "--assemble must be an existing"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path):
    assert main(["bench", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())  # refused before running anything


def test_assemble_refuses_a_file_that_is_not_jsonl(capsys, tmp_path):
    other = tmp_path / "notes.txt"
    other.write_text("not rows\n")
    assert main(["bench", "--assemble", str(other)]) == 2
    err = capsys.readouterr().err
    assert "--assemble must be an existing .jsonl rows file" in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # no notes.json / notes.md beside it


def test_a_crashed_worker_makes_the_run_exit_1(capsys, tmp_path, monkeypatch):
    crash = tmp_path / "crash.sh"  # stands in for the python that runs each worker
    crash.write_text("#!/bin/sh\ncat > /dev/null\necho 'worker blew up' >&2\nexit 3\n")
    crash.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(crash))
    assert main(["bench", *TINY, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "row(s) failed: gd_torch.bench.worker_numpy exited with 3: worker blew up" in err
    rows = [json.loads(x) for x in (tmp_path / "quick.jsonl").read_text().splitlines()]
    assert [r["status"] for r in rows if r.get("kind") == "gradient"] == ["error"]


def test_unwritable_out_is_one_line_and_exit_2(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["bench", "--quick", "--out", str(blocker / "results")]) == 2
    err = capsys.readouterr().err
    assert f"--out folder {str(blocker / 'results')!r} cannot be written" in err and err.count("\n") == 1


def test_default_out_is_a_fresh_folder_here_and_every_path_is_printed(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["bench", *TINY]) in (0, 1)
    (folder,) = tmp_path.iterdir()
    assert folder.name.startswith("gd-torch-bench-")
    printed = [
        line.removeprefix("wrote ") for line in capsys.readouterr().out.splitlines() if line.startswith("wrote ")
    ]
    assert sorted(printed) == sorted(str(folder.relative_to(tmp_path) / p.name) for p in folder.iterdir())


# ---- the plan: rows from the registry, optional frameworks -------------------------------------


def _config(**kw) -> Config:
    base = dict(n=(10,), d=(2,), dtype=("float64",), methods=("floor", "analytic"), device="cpu", threads=1, min_run_time=0.01,
                budget_s=0.01, train=True, seed=0, quick=True, explicit_sizes=True, calibration_tolerance=0.2, retries=1)  # fmt: skip
    return Config(**(base | kw))


def test_gradient_rows_come_from_the_registry_under_check_names(monkeypatch):
    rows = bench_plan.catalog()
    for name in (
        "analytic",
        "autograd",
        "tutorial",
        "numeric:central",
        "numeric:forward",
        "numeric:richardson",
        "numeric:complex",
    ):
        assert rows[name].gradient and rows[name].train, name
    assert rows["autograd"].workers == {"cpu": "torch", "cuda": "torch"}
    assert set(rows) - set(bench_plan.registry_methods()) == {m.name for m in bench_plan.EXTRA}
    # a method added to the registry alone is a row of the benchmark
    monkeypatch.setitem(REGISTRY, "throwaway", dataclasses.replace(REGISTRY["analytic"], name="throwaway"))
    plan = bench_plan.plan_tasks(_config(methods=("floor", "throwaway")), 0)
    assert [(t.kind, t.method, t.library) for t in plan.tasks if t.method == "throwaway"] == [
        ("gradient", "throwaway", "numpy"),
        ("train", "throwaway", "numpy"),
    ]


def test_an_absent_framework_is_skipped_with_the_extra_and_refused_when_asked_by_name(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(
        bench_plan.LIBRARIES, "jax", bench_plan.Library("gd_torch.bench.worker_jax", "no_such_module_gd", "jax")
    )
    plan = bench_plan.plan_tasks(_config(methods=("floor", "jax.jit")), 0)
    assert [t.method for t in plan.tasks] == ["floor"]
    assert {(r["kind"], r["method"], r["reason"]) for r in plan.skipped} == {
        (kind, "jax.jit", "no_such_module_gd is not installed (the optional extra: pip install 'gd-torch[jax]')")
        for kind in ("gradient", "train")
    }
    assert main(["bench", "--methods", "jax.jit", "--out", str(tmp_path)]) == 2
    assert (
        "--methods jax.jit needs no_such_module_gd is not installed (the optional extra: pip install 'gd-torch[jax]')"
        in capsys.readouterr().err
    )


def test_quick_plans_every_framework_and_skips_the_absent_ones_with_the_reason(monkeypatch):
    from gd_torch.bench import options
    from gd_torch.cli.app import build_parser

    args = build_parser().parse_args(["bench", "--quick"])
    plan = bench_plan.plan_tasks(options.config(args), 0)
    planned = {t.library for t in plan.tasks} | {r["library"] for r in plan.skipped}
    assert planned == set(bench_plan.LIBRARIES)
    for r in plan.skipped:  # here, only a library that is not installed is skipped before running
        assert r["reason"] == bench_plan.LIBRARIES[r["library"]].missing()


def test_a_worker_that_imports_another_gd_torch_is_refused(capsys, tmp_path, monkeypatch):
    fake = tmp_path / "python.sh"  # stands in for a python finding another gd_torch first
    fake.write_text(
        '#!/bin/sh\ncat > /dev/null\necho \'{"kind": "meta", "library": "numpy", "gd_torch": "/elsewhere/gd_torch/__init__.py"}\'\n'
    )
    fake.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(fake))
    assert main(["bench", *TINY, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "the numpy worker imported gd_torch from /elsewhere/gd_torch/__init__.py" in err
    assert not list(tmp_path.glob(".*partial*"))


@pytest.mark.slow  # ~15 s here: four worker processes (torch imported thrice), torch.compile and jax.jit compile
def test_frameworks_side_by_side(tmp_path):
    # one tiny cell: every framework in its own worker; JAX skipped with the reason where it is absent
    jax_missing = bench_plan.LIBRARIES["jax"].missing()
    methods = "autograd,torch.func,torch.compile" + ("" if jax_missing else ",jax.jit")  # named while absent: refused
    argv = ["--quick", "--n", "64", "--d", "3", "--dtype", "float64", "--methods", methods, *SHORT]
    assert main(["bench", *argv, "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "quick.json").read_text())
    rows = {(r["kind"], r["method"]): r for r in result["rows"]}
    for kind in ("gradient", "train"):
        for method, library in (
            ("autograd", "torch"),
            ("torch.func", "torch.func"),
            ("torch.compile", "torch.compile"),
            *(() if jax_missing else (("jax.jit", "jax"),)),  # absent: skipped, see the test below
        ):
            r = rows[(kind, method)]
            assert r["library"] == library
            assert r["status"] == "ok", r
            if method in ("torch.compile", "jax.jit"):
                assert r["compile_s"] > 0  # the first call, apart from the time per call
    assert set(result["machine"]["workers"]) == {"numpy", "torch", "torch.func", "torch.compile"} | (
        set() if jax_missing else {"jax"}
    )
    assert "Compile time" in (tmp_path / "quick.md").read_text()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA; the refusal is for machines without")
def test_cuda_without_cuda_is_refused(capsys, tmp_path):
    assert main(["bench", "--device", "cuda", "--out", str(tmp_path)]) == 2
    assert "--device cuda needs a CUDA device" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_grid_has_cuda_rows_and_a_crossover_summary(tmp_path):
    argv = [
        "--device",
        "cuda",
        "--n",
        "250,10000",
        "--d",
        "3",
        "--dtype",
        "float32",
        "--no-train",
        "--methods",
        "floor,analytic,autograd,formula-torch",
    ]
    assert main(["bench", *argv, "--min-run-time", "0.02", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "cuda.json").read_text())
    assert result["machine"]["gpu"]["name"]
    cuda = {(r["method"], r["n"]) for r in result["rows"] if r["device"] == "cuda" and r["status"] == "ok"}
    assert cuda == {(m, n) for m in ("floor", "autograd", "formula-torch") for n in (250, 10_000)}
    assert all(r["ratio_to_floor"] > 0 for r in result["rows"] if r["device"] == "cuda" and r["method"] != "floor")
    assert all(r["peak_device_bytes"] > 0 for r in result["rows"] if r["device"] == "cuda")
    assert [(c["method"], c["d"]) for c in result["cuda"]["crossover"]] == [("autograd", 3), ("formula-torch", 3)]
    assert (tmp_path / "cuda-crossover.png").is_file()


# ---- the fast paths the benchmark times: same results as the plain formulas ----------------

PAIRS = [("sse", "sigmoid"), ("mse", "tanh"), ("bce", "sigmoid"), ("sse", "relu")]


def _problem(rng, n, d, dtype):
    X = ((rng.random((n, d)) - 0.5) * np.sqrt(12 / d)).astype(dtype)
    y = (rng.random(n) < 0.5).astype(dtype)
    W = rng.standard_normal(d).astype(dtype)
    return W, X, y


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss, activation", PAIRS)
def test_blocked_threaded_analytic_matches_two_pass_formula(loss, activation, dtype):
    rng = np.random.default_rng(11)
    W, X, y = _problem(rng, 70_001, 8, dtype)  # >= 4 MiB in float64: blocks spread over the cores
    lo, act = resolve(loss, activation)
    X64, y64 = X.astype(np.float64), y.astype(np.float64)
    d64 = delta(X64 @ W.astype(np.float64), y64, lo, act)
    ref, scale = X64.T @ d64, np.abs(X64).T @ np.abs(d64)
    tol = 4 * np.finfo(dtype).eps * np.sqrt(X.shape[0])  # rounding of a sum of N terms
    for g in (analytic.grad(W, X, y, lo, act), gradient_function(X, y, loss=loss, activation=activation)(W)):
        assert g.dtype == dtype and g.shape == W.shape
        assert np.max(np.abs(g - ref) / scale) <= tol


def test_products_row_runs_the_blocked_plan_with_dL_dz_equal_to_z():
    from gd_torch.bench.worker_numpy import SPECIAL

    rng = np.random.default_rng(13)
    W, X, y = _problem(rng, 70_001, 8, np.float64)  # several row blocks
    task = {"method": "analytic/products"}
    (g,) = SPECIAL["analytic/products"](task, X, W).fns.values()
    ref, scale = X.T @ (X @ W), np.abs(X).T @ (np.abs(X) @ np.abs(W))
    assert np.max(np.abs(g() - ref) / scale) <= 4 * np.finfo(np.float64).eps * np.sqrt(X.shape[0])


def test_blocked_analytic_names_the_first_bad_row_and_restores_blas_threads():
    rng = np.random.default_rng(12)
    W, X, y = _problem(rng, 80_000, 8, np.float64)
    X[61_234, 3] = np.nan
    X[70_000, 1] = np.inf
    before = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    with pytest.raises(GdTorchError, match="row 61234 of X"):
        gradient_function(X, y)(W)
    assert [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"] == before


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_blocked_numeric_evaluation_matches_one_loss_per_perturbation(dtype):
    rng = np.random.default_rng(13)
    W, X, y = _problem(rng, 30_000, 16, dtype)
    lo, act = resolve("sse", "sigmoid")
    Wb = W + 0.01 * rng.standard_normal((32, 16)).astype(dtype)
    got = _fd_eval.evaluate(Wb, X, y, lo, act)
    one = np.array([loss_from_z(X @ w, y, lo, act) for w in Wb])
    assert got.dtype == dtype
    np.testing.assert_allclose(got, one, rtol=8 * np.finfo(dtype).eps * np.sqrt(X.shape[0]))


@pytest.mark.parametrize("loss, activation", PAIRS)
@pytest.mark.parametrize("n", [1, 250, 120_000])  # 120000 x 5 float64 > 4 MiB: the row-split product
def test_autograd_fast_path_matches_analytic_in_float64(loss, activation, n):
    rng = np.random.default_rng(14)
    W, X, y = _problem(rng, n, 5, np.float64)
    ga = gradient(W, X, y, loss=loss, activation=activation)
    gb = gradient(W, X, y, method="autograd", loss=loss, activation=activation)
    gc = gradient_function(X, y, method="autograd", loss=loss, activation=activation)(W)
    np.testing.assert_array_equal(gb, gc)
    np.testing.assert_allclose(gb, ga, rtol=1e-12, atol=1e-14 * np.abs(ga).max())


def test_autograd_on_a_large_problem_names_the_bad_row():
    rng = np.random.default_rng(15)
    W, X, y = _problem(rng, 120_000, 5, np.float64)
    X[98_765, 0] = np.nan
    with pytest.raises(GdTorchError, match="row 98765 of X"):
        gradient(W, X, y, method="autograd")


def test_cuda_summary_finds_the_crossover_and_bandwidth_fraction(tmp_path):
    # synthetic rows (no GPU needed): CUDA's time is flat, the CPU's grows with N
    rows = [{"kind": "config", "threads": 2, "machine": {"cpu": "test", "cores": 2}}]
    rows.append({"kind": "meta", "library": "torch", "torch": "x", "gpu": {"name": "G", "peak_bandwidth_GBps": 1000.0}})
    for n in (250, 10_000, 100_000):
        cpu = {"kind": "gradient", "status": "ok", "n": n, "d": 8, "dtype": "float64", "iqr_s": 0.0}
        rows.append(
            {
                **cpu,
                "method": "floor",
                "device": "cpu",
                "median_s": n * 1e-9,
                "bandwidth_GBps": 64.0,
                "matmul_s": n * 1e-9,
            }
        )
        rows.append({**cpu, "method": "analytic", "device": "cpu", "median_s": n * 4e-9})
        rows.append({**cpu, "method": "autograd", "device": "cpu", "median_s": n * 8e-9})
        rows.append({**cpu, "method": "autograd", "device": "cuda", "median_s": 1e-4 + n * 6.4e-11})
        rows.append({**cpu, "method": "floor", "device": "cuda", "median_s": n * 3.2e-11, "bandwidth_GBps": 2000.0})
    rows.append({"kind": "finished", "finished": "now", "interrupted": False})
    path = tmp_path / "syn.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert main(["bench", "--assemble", str(path)]) == 0
    result = json.loads((tmp_path / "syn.json").read_text())
    cross = result["cuda"]["crossover"]
    # CPU autograd: 8e-5 s at 1e4 < 1.006e-4 on CUDA; 8e-4 at 1e5 > 1.064e-4: CUDA wins from 1e5
    assert cross == [
        {
            "method": "autograd",
            "d": 8,
            "dtype": "float64",
            "cuda_beats_cpu_same_from_n": 100_000,
            "cuda_beats_best_cpu_from_n": 100_000,
        }
    ]
    largest = result["cuda"]["largest"]
    assert largest["n"] == 100_000
    (autograd,) = largest["methods"]
    assert autograd["method"] == "autograd"
    assert autograd["fraction_of_peak"] == pytest.approx(100_000 * 8 * 8 / (1e-4 + 100_000 * 6.4e-11) / 1e9 / 1000)
    assert result["cuda"]["fraction_of_peak_floor"] == pytest.approx(2.0)
    assert (tmp_path / "syn-crossover.png").is_file()
    assert "autograd, D=8 float64: CUDA beats the CPU's autograd from N=100000" in (tmp_path / "syn.md").read_text()


def test_fastest_names_the_quickest_way_to_the_gradient_and_its_lead_bounds_excluded():
    from gd_torch.bench.markdown import fastest
    from gd_torch.bench.report import Row

    def row(method, t, status="ok"):
        return Row("gradient", method, "cpu", 1000, 8, "float64", status, median_s=t)

    rows = [row("floor", 1e-6), row("analytic/products", 2e-6), row("autograd", 9e-6), row("analytic", 6e-6)]
    rows.append(row("tutorial", 3e-6))  # the gradient of another loss (bce's) on the sse problem
    known = bench_plan.catalog()
    assert fastest(rows, known) == "analytic (1.5x)"
    assert fastest(rows + [row("jax.jit", 1e-7, status="failed")], known) == "analytic (1.5x)"
    assert fastest([row("floor", 1e-6)], known) == "-"


def test_every_row_of_the_plot_has_a_colour_of_its_own():
    # the default cycle has ten colours: with 14 rows two methods shared each of four
    from gd_torch.bench.render import _colors

    series = [(m, "cpu") for m in bench_plan.catalog()] + [("autograd", "cuda"), ("jax.jit", "cuda")]
    assert len(series) <= 20 and len(set(_colors(series).values())) == len(series)


# ---- the end of a run: a short answer, the tables in the files ------------------------------


def _synthetic_rows(path, device="cpu"):
    # three cells timed without a machine: formula-torch wins two by 2x, analytic one by 1.5x; JAX absent
    rows = [{"kind": "config", "threads": 2, "device": device, "machine": {"cpu": "test", "cores": 2}}]
    times = {
        250: (1e-6, 10e-6, 15e-6, 20e-6),
        10_000: (10e-6, 100e-6, 50e-6, 200e-6),
        100_000: (0.1e-3, 1e-3, 0.5e-3, 2e-3),
    }
    for n, ts in times.items():
        for method, t in zip(("floor", "analytic", "formula-torch", "autograd"), ts, strict=True):
            rows.append(
                {
                    "kind": "gradient",
                    "method": method,
                    "device": "cpu",
                    "n": n,
                    "d": 3,
                    "dtype": "float64",
                    "status": "ok",
                    "median_s": t,
                    "bandwidth_GBps": 1.0,  # the floor's; ignored on the other rows
                }
            )
    jax = "jax is not installed (the optional extra: pip install 'gd-torch[jax]')"
    rows.append(
        {
            "kind": "gradient",
            "method": "jax.jit",
            "device": "cpu",
            "n": 250,
            "d": 3,
            "dtype": "float64",
            "status": "skipped",
            "reason": jax,
        }
    )
    rows.append({"kind": "finished", "finished": "now", "interrupted": False})
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_the_output_ends_with_which_is_fastest_by_how_much_and_what_was_not_measured(tmp_path, capsys):
    path = _synthetic_rows(tmp_path / "syn.jsonl")
    assert main(["bench", "--assemble", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    stem = tmp_path / "syn"
    assert out[1:5] == [
        "Fastest way to the gradient on cpu, of 3 cells: formula-torch in 2 (by 2x over the next); analytic in 1 (by 1.5x over the next).",
        "  largest cell, N=1e5 D=3 float64: formula-torch 500 us, 2x faster than analytic (5x the floor).",
        "Not measured: CUDA (not asked: --device cuda on a machine with a GPU); jax.jit (1 row(s): jax is not installed (the optional extra: pip install 'gd-torch[jax]')).",
        "No row was timed on a busy machine (calibration not compared with an idle reference: none recorded).",
    ]
    assert f"Tables: {stem}.md (data: {stem}.json)." in out
    assert not [line for line in out if line.startswith("|")]  # the tables are in the .md, not on stdout
    assert "| N | D | dtype |" in (tmp_path / "syn.md").read_text()


def test_a_run_prints_a_few_short_lines_and_progress_per_row_only_when_verbose(tmp_path, capsys):
    assert main(["bench", *TINY, "--out", str(tmp_path / "a")]) in (0, 1)
    out, err = capsys.readouterr()
    assert len(out.splitlines()) <= 12 and max(map(len, out.splitlines())) <= 300, out
    assert "Fastest way to the gradient" not in out  # the floor alone is no way to the gradient
    assert "No way to the gradient was timed." in out and "Not measured: CUDA" in out
    assert "gradient floor" not in err  # no progress line on a stream that is not a terminal
    assert main(["bench", *TINY, "--verbose", "--out", str(tmp_path / "b")]) in (0, 1)
    assert "1/1" in capsys.readouterr().err  # one line per row


_FULL_DISK = (
    "import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
    "resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000)); "
    "from gd_torch.cli.app import main; sys.exit(main(sys.argv[1:]))"
)


@pytest.mark.parametrize("what", ["run", "assemble"])
def test_a_full_disk_is_one_line_exit_2_and_leaves_no_half_written_file(what, tmp_path):
    # a file-size limit of 3000 bytes stands in for a full disk: every write past it fails (EFBIG)
    import subprocess

    if what == "assemble":
        rows = _synthetic_rows(tmp_path / "syn.jsonl")
        argv = ["bench", "--assemble", str(rows)]
    else:
        argv = ["bench", *TINY, "--out", str(tmp_path / "o")]
    p = subprocess.run([sys.executable, "-c", _FULL_DISK, *argv], capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and p.stderr.startswith("gd-torch: error: ") and p.stderr.count("\n") == 1, p.stderr
    assert "File too large" in p.stderr
    assert not [q for q in tmp_path.rglob("*") if ".partial" in q.name]
    assert not list(tmp_path.glob("syn.*json")) or what == "run"  # not even a .json without its .md
