"""gd-torch check, in-process through gd_torch.cli.app.main (plus one real subprocess)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gd_torch.cli import app as cli

PAIR_ROW = r"^{}\s+(\S+)\s+\d+\s+\S+\s+(agree|disagree|kink)$"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["check", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def status(out: str, a: str, b: str) -> str:
    m = re.search(PAIR_ROW.format(re.escape(f"{a} vs {b}")), out, re.M)
    assert m, out
    return m.group(2)


def test_default_check_on_the_tutorial_data(capsys):
    code, out, err = run(capsys)
    assert code == 0 and err == ""
    assert out.startswith("data: make_blobs(n_samples=250, n_features=2, centers=2, cluster_std=1.05, random_state=20)")
    assert "loss=sse activation=sigmoid dtype=float64 N=250 D=3 mode=full" in out
    assert re.search(r"^\s+j\s+analytic\s+autograd\s+numeric$", out, re.M)
    for j in range(3):  # one row of values per weight
        assert re.search(rf"^\s+{j}(\s+-?\d\.\d{{15}}e[+-]\d\d){{3}}$", out, re.M), out
    for a, b in [("analytic", "autograd"), ("analytic", "numeric"), ("autograd", "numeric")]:
        assert status(out, a, b) == "agree"
    assert out.rstrip().endswith("OK: all methods agree within their predicted tolerances")


def test_tutorial_formula_fails_for_sse(capsys):
    code, out, err = run(capsys, "--methods", "analytic,autograd,numeric,tutorial")
    assert code == 1 and err == ""
    for other in ("analytic", "autograd", "numeric"):
        assert status(out, other, "tutorial") == "disagree"
    assert status(out, "analytic", "autograd") == "agree"
    assert "FAIL: tutorial disagrees with analytic, autograd, numeric, which agree with each other" in out
    assert re.search(
        r"analytic vs tutorial: worst at j=\d: analytic=\S+, tutorial=\S+, relative error \S+ > tolerance", out
    )


def test_tutorial_formula_agrees_for_bce(capsys):
    code, out, _ = run(capsys, "--methods", "analytic,autograd,numeric,tutorial", "--loss", "bce")
    assert code == 0
    assert status(out, "analytic", "tutorial") == "agree"
    assert "loss=bce" in out


def test_float32(capsys):
    code, out, _ = run(capsys, "--dtype", "float32")
    assert code == 0, out
    assert "dtype=float32" in out


def test_every_numeric_scheme_and_activation(capsys):
    code, out, _ = run(
        capsys, "--activation", "tanh", "--loss", "mse", "--methods", "analytic,numeric:complex,numeric:richardson"
    )
    assert code == 0, out
    assert status(out, "analytic", "numeric:complex") == "agree"


def test_directional_mode(capsys):
    code, out, _ = run(capsys, "--mode", "directional", "--n-features", "40", "--n-samples", "100")
    assert code == 0, out
    assert "mode=directional" in out and "N=100 D=41" in out


def test_csv_dataset(capsys, tmp_path, rng):
    X = rng.standard_normal((30, 2))
    y = (X[:, 0] > 0).astype(int)
    path = tmp_path / "points.csv"
    lines = ["x1,label,x2"] + [f"{float(a)!r},{c},{float(b)!r}" for (a, b), c in zip(X, y, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    code, out, err = run(capsys, "--dataset", str(path), "--label", "label", "--loss", "bce")
    assert code == 0 and err == "", out + err
    assert f"{path} (30 x 2, label 'label'), bias column first" in out
    assert "N=30 D=3" in out


def test_breast_cancer_dataset(capsys):
    # sse: with bce, autograd is off on this data (see test_gradients.py::test_autograd_bce_for_z_above_20)
    code, out, _ = run(capsys, "--dataset", "breast-cancer", "--methods", "analytic,autograd,numeric:complex")
    assert code == 0, out
    assert "N=569 D=31" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--loss", "foo"], r"--loss must be one of sse, mse, bce, logcosh or FILE.py:NAME \(your own\); got 'foo'"),
        (["--activation", "swish"], r"--activation must be one of .*; got 'swish'"),
        (["--loss", "bce", "--activation", "tanh"], r"--activation must be one of 'sigmoid' with loss='bce'"),
        (["--n-samples", "1.5"], r"--n-samples must be a positive integer; got '1.5'"),
        (["--n-samples", "0"], r"--n-samples must be a positive integer; got '0'"),
        (["--dtype", "float16"], r"--dtype must be 'float32' or 'float64'; got 'float16'"),
        (["--dtype", "foo"], r"--dtype must be 'float32' or 'float64'; got 'foo'"),
        (["--methods", "analytic"], r"--methods must be at least two method names to compare"),
        (
            ["--methods", "analytic,foo"],
            r"--methods must be a comma-separated list of gradient methods from: .*; got 'analytic,foo'",
        ),
        (
            ["--methods", "analytic,analytic"],
            r"--methods must be a comma-separated list of distinct gradient methods; got",
        ),
        (["--methods", "numeric,numeric:central"], r"--methods must be distinct method names"),
        (["--mode", "fast"], r"--mode must be one of full, directional; got 'fast'"),
        (["--dataset", "iris"], r"--dataset must be one of blobs, breast-cancer or a path ending in .csv; got 'iris'"),
        (["--activation", "relu", "--methods", "analytic,numeric:complex"], r"--methods must be .* got 'complex'"),
        (
            ["--device", "cuda", "--methods", "analytic,numeric"],
            r"--device must be 'cpu' unless a method that runs on CUDA",
        ),
        (["--seed", "x"], r"--seed must be a non-negative integer; got 'x'$"),
        (["--seed", "-1"], r"--seed must be a non-negative integer; got '-1'$"),
        (["--data-seed", "-1"], r"--data-seed must be a non-negative integer; got '-1'$"),
        (["--data-seed", "\u0663"], r"--data-seed must be a non-negative integer; got '\u0663'$"),  # Arabic-Indic 3
        (["--bogus"], r"unrecognized arguments: --bogus"),
        (["--meth", "analytic,numeric"], r"unrecognized arguments: --meth"),
        (["--label", "y"], r"--label must be given only with a CSV --dataset .*; got 'y'"),
        (["--dataset", "breast-cancer", "--label", "y"], r"--label must be given only with a CSV --dataset"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert re.match(rf"^gd-torch: error: {message}", err), err


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the refusal of an absent CUDA device")
def test_cuda_absent(capsys):
    code, out, err = run(capsys, "--device", "cuda")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "device must be available: got 'cuda'" in err


def test_missing_csv(capsys, tmp_path):
    code, _, err = run(capsys, "--dataset", str(tmp_path / "nope.csv"), "--label", "y")
    assert code == 2 and err.count("\n") == 1
    assert re.match(r"^gd-torch: error: csv file '.*nope.csv' cannot be read: No such file or directory$", err)


def test_missing_label_column(capsys, tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,y\n1,2,0\n3,4,1\n")
    code, _, err = run(capsys, "--dataset", str(path), "--label", "label")
    assert code == 2 and err.count("\n") == 1
    assert "label column must be one of the csv header's columns ['a', 'b', 'y']; got 'label'" in err
    code, _, err = run(capsys, "--dataset", str(path))
    assert code == 2 and "--label must be the name of the label column" in err


def test_non_binary_csv_labels_for_bce(capsys, tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,y\n1,0\n3,0.5\n")
    code, _, err = run(capsys, "--dataset", str(path), "--label", "y", "--loss", "bce")
    assert code == 2 and "y must be 0 or 1" in err and "got 'y[1] = 0.5'" in err


def test_nan_in_csv(capsys, tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,y\n1,2,0\n3,nan,1\n")
    code, _, err = run(capsys, "--dataset", str(path), "--label", "y")
    assert code == 2 and "X must be finite: row 1 of X" in err


def test_console_entry_point_runs_as_a_module():
    # once as a real process (python -m gd_torch, as gd-torch): the exit code reaches the shell, errors stay one line
    # (the two processes run at once: their start-ups overlap)
    root = Path(__file__).resolve().parents[1]  # this checkout's gd_torch, not an installed one
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "gd_torch", "check", *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=root,
        )
        for flags in ([], ["--loss", "foo"])
    ]
    try:
        (ok_out, ok_err), (bad_out, bad_err) = (p.communicate(timeout=120) for p in procs)
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert procs[0].returncode == 0, ok_err
    assert "OK: all methods agree" in ok_out
    assert procs[1].returncode == 2 and bad_out == ""
    assert (
        bad_err
        == "gd-torch: error: --loss must be one of sse, mse, bce, logcosh or FILE.py:NAME (your own); got 'foo'\n"
    )


def test_seed_changes_W(capsys):
    _, out0, _ = run(capsys)
    _, out1, _ = run(capsys, "--seed", "1")
    assert "W: uniform [0, 1) with seed 42" in out0  # the default seed of every command
    values = [re.findall(r"^\s+0\s+(\S+)", o, re.M)[0] for o in (out0, out1)]
    assert "W: uniform [0, 1) with seed 1" in out1
    assert not np.isclose(float(values[0]), float(values[1]))
