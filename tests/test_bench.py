"""Smoke test of the benchmark (structure of --quick's output, bad input, interrupted runs; never a
time) and the fast paths it times (same results as the plain formulas)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info

from gd_torch import GdTorchError, gradient, gradient_function
from gd_torch.cli import main
from gd_torch.gradients import analytic, numeric
from gd_torch.model import delta, loss_from_z, resolve

METHODS = ("floor", "analytic", "autograd", "formula-torch", "central-batched", "central-loop", "complex")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    rc = main(["bench", "--quick", "--out", str(out)])
    return rc, out


def test_quick_writes_json_markdown_plots_and_rows(quick):
    rc, out = quick
    assert rc == 0
    assert {p.name for p in out.iterdir()} >= {"quick.jsonl", "quick.json", "quick.md", "quick-time-vs-n.png"}
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
    assert cells == {(n, d, dt) for n in (250, 10_000) for d in (3, 64) for dt in ("float64", "float32")}
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
    train = {r["method"]: r for r in result["rows"] if r["kind"] == "train"}
    assert set(train) >= {"numpy-loop", "analytic", "autograd", "formula-torch", "central-batched"}
    assert all(r["us_per_epoch"] > 0 and r["epochs"] == 100 for r in train.values())
    assert {t["target"].split(" ")[0] for t in result["targets"]} >= {"autograd"}
    md = (out / "quick.md").read_text()
    assert "| N | D | dtype |" in md and "x bare numpy loop" in md


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


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--methods", "analytic,magic"], "--methods must be one of"),
        (["--n", "1e4,ten"], "--n: must be positive integers"),
        (["--d", "0"], "--d: must be positive integers"),
        (["--dtype", "float16"], "--dtype must be float64 or float32"),
        (["--device", "tpu"], "--device must be 'cpu' or 'cuda'"),
        (["--seed", "-1"], "--seed must be a non-negative integer; got -1"),
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
    argv = ["bench", "--quick", "--no-train", "--methods", "floor", "--n", "10", "--d", "2", "--out", str(tmp_path)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "row(s) failed: worker_numpy.py exited with 3: worker blew up" in err
    rows = [json.loads(x) for x in (tmp_path / "quick.jsonl").read_text().splitlines()]
    assert [r["status"] for r in rows if r.get("kind") == "gradient"] == ["error", "error"]


def test_unwritable_out_is_one_line_and_exit_2(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["bench", "--quick", "--out", str(blocker / "results")]) == 2
    err = capsys.readouterr().err
    assert f"--out folder {str(blocker / 'results')!r} cannot be written" in err and err.count("\n") == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA; the refusal is for machines without")
def test_cuda_without_cuda_is_refused(capsys, tmp_path):
    assert main(["bench", "--device", "cuda", "--out", str(tmp_path)]) == 2
    assert "--device cuda needs a CUDA device" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_grid_has_cuda_rows_and_a_crossover_summary(tmp_path):
    argv = ["--device", "cuda", "--n", "250,10000", "--d", "3", "--dtype", "float32", "--no-train"]
    assert main(["bench", *argv, "--min-run-time", "0.02", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "cuda.json").read_text())
    assert result["machine"]["gpu"]["name"]
    cuda = {(r["method"], r["n"]) for r in result["rows"] if r["device"] == "cuda" and r["status"] == "ok"}
    assert cuda == {(m, n) for m in ("floor", "autograd", "formula-torch") for n in (250, 10_000)}
    assert all(r["ratio_to_floor"] > 0 for r in result["rows"] if r["device"] == "cuda" and r["method"] != "floor")
    assert [c["d"] for c in result["cuda"]["crossover"]] == [3]
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
    got = numeric.evaluate(Wb, X, y, lo, act)
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
        {"d": 8, "dtype": "float64", "cuda_beats_cpu_autograd_from_n": 100_000, "cuda_beats_best_cpu_from_n": 100_000}
    ]
    largest = result["cuda"]["largest"]
    assert largest["n"] == 100_000
    assert result["cuda"]["fraction_of_peak_autograd"] == pytest.approx(
        100_000 * 8 * 8 / (1e-4 + 100_000 * 6.4e-11) / 1e9 / 1000
    )
    assert result["cuda"]["fraction_of_peak_floor"] == pytest.approx(2.0)
    assert (tmp_path / "syn-crossover.png").is_file()
    assert "CUDA autograd beats CPU autograd from N=100000" in (tmp_path / "syn.md").read_text()


def test_plot_titles_say_which_grid_and_keep_the_legend_off_the_data():
    from gd_torch.commands.bench import _runner

    run = _runner()
    quick = run._grid_note({"quick": True, "n": [250, 10_000], "d": [3, 64], "min_run_time": 0.05})
    assert quick.startswith("QUICK GRID (--quick: N in 250, 10000; D in 3, 64; 0.05 s per row)")
    assert "not the benchmark" in quick
    assert run._grid_note({"quick": False, "n": [250, 1_000_000], "d": [3]}) == "grid: N in 250, 1e6; D in 3"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, squeeze=False, layout="constrained")
    axes[0][0].plot([1, 2], label="a")
    axes[0][1].plot([1, 2], label="a")
    axes[0][1].plot([2, 1], label="b")
    run._figure_legend(fig, axes)
    assert all(ax.get_legend() is None for ax in axes[0])  # no legend inside a panel
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["a", "b"]  # each series once
    plt.close(fig)
