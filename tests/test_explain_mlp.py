"""gd_torch.teach.mlp: the two-layer ledger agrees three ways, prints the shapes it computed,
catches a wrong rule at its stage, and the CLI draws the graph."""

from __future__ import annotations

import re

import numpy as np
import pytest

from gd_torch import Activation, GdTorchError
from gd_torch.cli.app import main
from gd_torch.teach import mlp as em
from gd_torch.teach.mlp import ORDER, Rule, explain_mlp


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_every_stage_agrees_three_ways(blobs, activation, dtype):
    X, y = (a.astype(dtype) for a in blobs)
    r = explain_mlp(X, y, hidden=4, activation=activation)
    assert [s.name for s in r.stages] == list(ORDER)
    assert r.ok, str(r)
    for s in r.stages:
        assert s.autograd is not None and s.autograd.status in ("agree", "kink")
        assert s.numeric.status in ("agree", "kink")
        assert s.hand.shape == s.value.shape and s.hand.dtype == np.dtype(dtype)


def test_printed_shapes_are_the_computed_arrays(blobs):
    X, y = blobs
    r = explain_mlp(X, y, hidden=4)
    text = str(r)
    n, d = X.shape
    g = {s.name: s.hand for s in r.stages}

    def shape(s: tuple[int, ...]) -> str:  # how the ledger prints a shape: (3x4), (3,), ()
        return "()" if not s else f"({s[0]},)" if len(s) == 1 else "(" + "x".join(map(str, s)) + ")"

    expect = {
        "W1": f"dL/dW1 = X^T {shape(X.T.shape)} @ [dL/dh {shape(g['h'].shape)} * f'(z1) {shape(g['z1'].shape)}]"
        f" -> {shape(g['W1'].shape)}",
        "w2": f"dL/dw2 = h^T {shape(r.stage('h').value.T.shape)} @ dL/dz2 {shape(g['z2'].shape)} -> {shape(g['w2'].shape)}",
    }
    assert "dL/dW1 = X^T (3x250) @ [dL/dh (250x4) * f'(z1) (250x4)] -> (3x4)" in text
    for line in expect.values():
        assert line in text
    for s in r.stages:  # every (name, shape) printed is the shape of that stage's array or of X, h
        for name, shp in s.factors:
            assert f"{name} {shape(shp)}" in text or f"-> {shape(shp)}" in text
        assert not s.factors or s.factors[-1][1] == s.hand.shape  # the result's printed shape
        assert f"stage {s.name}: {s.forward}    shape {shape(s.value.shape)}" in text
    assert dict(r.stage("W1").factors)["X^T"] == X.T.shape == (d, n)


def test_a_missing_transpose_is_caught_at_its_stage(blobs, monkeypatch):
    # D = H = 3: dL/dz1^T @ X has W1's shape (3x3) but is dL/dW1 transposed
    X, y = blobs
    wrong = Rule(
        "W1 (a leaf)", "dz1/dW1 = X", "dL/dW1 = {dL/dz1} @ {X^T} -> {=dL/dW1}", lambda ns: (ns["X^T"] @ ns["dL/dz1"]).T
    )
    monkeypatch.setitem(em.BACKWARD, "W1", wrong)
    r = explain_mlp(X, y, hidden=3, activation="tanh")
    assert not r.ok
    assert [s.name for s in r.stages if not s.ok] == ["W1"]
    assert r.stage("W1").autograd.status == "disagree" and r.stage("W1").numeric.status == "disagree"
    assert "MISMATCH at stage(s): W1" in str(r)


def test_a_wrong_local_derivative_is_caught_at_z1_and_below(blobs, monkeypatch):
    X, y = blobs
    forgot_f_prime = Rule("z1 = X W1 + b1", "dh/dz1 = f'(z1)", "dL/dz1 = {dL/dh} -> {=dL/dz1}", lambda ns: ns["dL/dh"])
    monkeypatch.setitem(em.BACKWARD, "z1", forgot_f_prime)
    r = explain_mlp(X, y, hidden=4, activation="tanh")
    assert [s.name for s in r.stages if not s.ok] == ["z1", "W1", "b1"]


def test_bad_input_is_refused(blobs):
    X, y = blobs
    with pytest.raises(GdTorchError, match=r"^hidden must be .*; got 0"):
        explain_mlp(X, y, hidden=0)
    with pytest.raises(GdTorchError, match=r"^activation must be one of 'sigmoid'"):
        explain_mlp(X, y, activation="nope")
    with pytest.raises(GdTorchError, match=r"^activation must be"):
        explain_mlp(
            X, y, loss="bce", activation=Activation("cube", lambda z: z**3, lambda z, a: 3 * z**2, "a = z^3", "3 z^2")
        )
    with pytest.raises(GdTorchError, match=r"^X must"):
        explain_mlp(X[:, 0], y)


def test_cli_hidden_writes_graph_png(tmp_path, capsys):
    rc = main(["explain", "--hidden", "4", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0, out
    png = tmp_path / "graph.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert re.search(r"dL/dW1 = X\^T \(\d+x250\) @", out) and "OK: hand, autograd" in out
    assert not (tmp_path / "graph.dot").exists()


def test_cli_hidden_refuses_dot_and_zero(capsys):
    assert main(["explain", "--hidden", "4", "--dot", "g.dot"]) == 2
    assert main(["explain", "--hidden", "0"]) == 2
    err = capsys.readouterr().err
    assert "--dot" in err and "--hidden" in err and "Traceback" not in err


def _traced_peak(X, y, hidden: int) -> int:
    # numpy's traced peak of one explain_mlp run, torch and the registries loaded before measuring
    import tracemalloc

    explain_mlp(X[:10, :3], y[:10], hidden=2)
    tracemalloc.start()
    try:
        explain_mlp(X, y, hidden=hidden)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_memory_refusal_covers_what_explain_mlp_allocates():
    # hidden is refused (gd_torch.base.memory.at_most) when ARRAYS_NH N x H + ARRAYS_DH (D + 1) x H
    # float64 arrays exceed the memory available: that estimate must bound numpy's traced peak,
    # else a hidden width that passes the refusal still ends in MemoryError
    rng = np.random.default_rng(0)
    X = rng.standard_normal((500, 3))
    y = (X[:, 0] > 0).astype(float)
    n, d, hidden = 500, 3, 64
    peak = _traced_peak(X, y, hidden)
    estimate = (em.ARRAYS_NH * n + em.ARRAYS_DH * (d + 1)) * 8 * hidden
    assert peak <= estimate, f"peak {peak} bytes > estimate {estimate}"


@pytest.mark.parametrize(("n", "d", "hidden"), [(2000, 100, 1), (200, 400, 2)])
def test_the_memory_refusal_counts_the_copies_of_wide_data(n, d, hidden, monkeypatch):
    # wide X, narrow H: the N x D copies dominate (measured at 4000 x 1000, H = 1: X 30.5 MiB, traced 123 MiB,
    # was estimated 1.5 MiB; here 2000 x 100, H = 1: traced 6.5 MiB, an N + D count 0.74 MiB; 200 x 400,
    # H = 2: 2.5 MiB and 0.2 MiB); the refusal's count, read off the exception, bounds the traced peak
    from gd_torch.base import memory as _memory

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    y = (rng.random(n) < 0.5).astype(float)
    peak = _traced_peak(X, y, hidden)
    monkeypatch.setattr(_memory, "available_bytes", lambda: peak - 1)
    with pytest.raises(_memory.NotEnoughMemory, match=r"^(len\(X\)|hidden) must be at most"):
        explain_mlp(X, y, hidden=hidden)
    monkeypatch.setattr(_memory, "available_bytes", lambda: X.nbytes)  # not even the data's copies fit
    with pytest.raises(
        _memory.NotEnoughMemory,
        match=rf"^len\(X\) must be at most \d+ here: 5 float64 copies of X \({n} x {d}\), whatever hidden",
    ):
        explain_mlp(X, y, hidden=hidden)
