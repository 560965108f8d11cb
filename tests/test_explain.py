"""gd_torch.explain: the chain-rule ledger agrees three ways, catches a wrong derivation, draws torch's graph."""

from __future__ import annotations

import dataclasses
import re
import zlib

import numpy as np
import pytest

import gd_torch
from gd_torch.cli.app import main
from gd_torch.model import ACTIVATIONS
from gd_torch.teach.ledger import explain

PAIRS = [(lo, act) for lo in ("sse", "mse") for act in ("sigmoid", "tanh", "relu", "identity")] + [("bce", "sigmoid")]


@pytest.fixture
def rng(request):
    # seeded from the test's name (conftest's rng uses the node id): these cases keep their inputs
    return np.random.default_rng(zlib.crc32(request.node.name.encode()))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("loss", "activation"), PAIRS)
def test_every_stage_agrees_three_ways(blobs, rng, loss, activation, dtype):
    X, y = (a.astype(dtype) for a in blobs)
    W = rng.uniform(-1, 1, size=3).astype(dtype)
    r = explain(W, X, y, loss=loss, activation=activation)
    assert [s.name for s in r.stages] == ["L", "e", "a", "z", "W"]
    assert r.ok, str(r)
    # the hand-derived dL/dW is the package's analytic gradient, and z, a, e are the forward pass
    np.testing.assert_array_equal(r.stage("W").hand, gd_torch.gradient(W, X, y, loss=loss, activation=activation))
    np.testing.assert_array_equal(r.stage("z").value, X @ W)
    np.testing.assert_array_equal(r.stage("e").value, r.stage("a").value - y)
    assert r.stage("L").value == pytest.approx(gd_torch.objective(W, X, y, loss=loss, activation=activation), rel=0)
    # in float64 autograd matches the hand values to a few ulps of the largest entry
    if dtype == "float64":
        for s in r.stages:
            if s.autograd is not None:
                assert s.autograd.rel_err < 64 * np.finfo(np.float64).eps


def test_bce_autograd_never_forms_dL_da(blobs):
    X, y = blobs
    r = explain(gd_torch.init_weights(3, seed=0), X, y, loss="bce")
    assert r.stage("a").autograd is None and "softplus" in r.stage("a").note
    assert r.stage("e").autograd is None
    assert r.stage("z").autograd is not None
    # the chain rule collapses: dL/dz = (a - y) / N
    a = r.stage("a").value
    np.testing.assert_allclose(r.stage("z").hand, (a - y) / y.shape[0], rtol=4 * np.finfo(float).eps)


def test_hand_values_follow_the_chain_rule_for_sse_sigmoid(blobs):
    X, y = blobs
    r = explain(gd_torch.init_weights(3, seed=0), X, y)
    a, e = r.stage("a").value, r.stage("e").value
    np.testing.assert_array_equal(r.stage("e").hand, 2 * e)
    np.testing.assert_array_equal(r.stage("a").hand, 2 * e)
    np.testing.assert_allclose(r.stage("z").hand, 2 * e * a * (1 - a), rtol=4 * np.finfo(float).eps)
    assert "a (1 - a)" in r.stage("a").local
    assert "X^T dL/dz" in r.stage("W").upstream


def test_a_wrong_derivation_is_caught_at_its_stage(blobs, monkeypatch):
    # a learner's slip: sigmoid'(z) written as a (1 + a); autograd and finite differences both object at z
    wrong = dataclasses.replace(ACTIVATIONS["sigmoid"], df=lambda z, a: a * (1 + a))
    monkeypatch.setitem(ACTIVATIONS, "sigmoid", wrong)
    X, y = blobs
    r = explain(gd_torch.init_weights(3, seed=0), X, y)
    assert not r.ok
    assert r.stage("e").autograd.agree and r.stage("a").numeric.agree  # upstream of the slip: fine
    assert not r.stage("z").autograd.agree and not r.stage("z").numeric.agree
    assert "MISMATCH at stage(s): z, W" in str(r)


def test_graph_lists_torch_nodes_with_shapes(blobs):
    X, y = blobs
    r = explain(gd_torch.init_weights(3, seed=0), X, y)
    kinds = {n.tensor: (n.kind, n.shape) for n in r.graph if n.tensor}
    assert kinds["L"] == ("SumBackward0", ())
    assert kinds["e"] == ("SubBackward0", (250,))
    assert kinds["a"] == ("SigmoidBackward0", (250,))
    assert kinds["z"] == ("MvBackward0", (250,))
    assert kinds["W"] == ("AccumulateGrad", (3,))
    text = r.graph_text()
    assert text.splitlines()[0].startswith("#0 SumBackward0")
    assert "(shown above)" in text  # e * e: the same node reached twice
    bce = explain(gd_torch.init_weights(3, seed=0), X, y, loss="bce")
    assert "LogaddexpBackward0" in bce.graph_text() and "SigmoidBackward0" not in bce.graph_text()


def test_dot_file_is_valid_and_consistent(blobs, tmp_path):
    X, y = blobs
    r = explain(gd_torch.init_weights(3, seed=0), X, y)
    path = r.write_dot(tmp_path / "graph.dot")
    text = path.read_text()
    assert text.startswith("digraph autograd {") and text.rstrip().endswith("}")
    declared = set(re.findall(r"^\s+(\w+) \[label=", text, flags=re.M))
    edges = re.findall(r"^\s+(\w+) -> (\w+)", text, flags=re.M)
    assert len(edges) == sum(len(n.inputs) for n in r.graph)
    assert all(a in declared and b in declared for a, b in edges)


def test_saturated_cross_entropy_skips_only_the_entries_that_are_not_finite(blobs):
    # |z| > 37 rounds a to exactly 0 or 1: dL/da = (a - y) / (a (1 - a)) / N is inf there, and only there
    X, y = blobs
    W = 12 * gd_torch.init_weights(3, seed=0)
    r = explain(W, X, y, loss="bce")
    a = r.stage("a").value
    edge = int(np.sum((a == 0) | (a == 1)))
    assert edge > 0
    for name in ("e", "a"):
        m = r.stage(name).numeric
        assert m.skipped >= edge and m.agree, str(r)
        assert m.skipped < y.shape[0]  # the other samples are still checked
    assert r.stage("z").numeric.agree and r.stage("z").numeric.skipped == 0
    assert r.stage("W").numeric.agree
    assert "entries not compared, a value is not finite there" in str(r)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"loss": "hinge"}, "loss must be one of"),
        ({"activation": "softmax"}, "activation must be one of"),
        ({"loss": "bce", "activation": "tanh"}, "activation must be one of 'sigmoid' with loss='bce'"),
        ({"W": np.zeros(4)}, r"W must be of shape \(n_features,\) = \(3,\)"),
        ({"W": np.array([0.0, np.nan, 1.0])}, r"W must be finite"),
    ],
)
def test_bad_input(blobs, kwargs, match):
    X, y = blobs
    W = kwargs.pop("W", np.zeros(3))
    with pytest.raises(gd_torch.GdTorchError, match=match):
        explain(W, X, y, **kwargs)


def test_unwritable_dot_path(blobs, tmp_path):
    X, y = blobs
    r = explain(np.zeros(3), X, y)
    with pytest.raises(gd_torch.GdTorchError, match="path must be a writable file for the dot graph"):
        r.write_dot(tmp_path / "no" / "such" / "dir" / "g.dot")


def test_cli_explain(capsys, tmp_path):
    dot = tmp_path / "g.dot"
    assert main(["explain", "--loss", "bce", "--dot", str(dot)]) == 0
    out = capsys.readouterr().out
    assert "stage z: z = X W" in out and "dL/dz = dL/da * da/dz = (a - y) / N" in out
    assert f"graph written to {dot}" in out and dot.read_text().startswith("digraph")


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["explain", "--dot", "/nonexistent-dir/x/g.dot"], "--dot must be a writable file for the dot graph"),
        (["explain", "--loss", "nope"], "loss must be one of"),
        (["explain", "--activation", "nope"], "activation must be one of"),
    ],
)
def test_cli_bad_input_one_line_exit_2(capsys, argv, match):
    assert main(argv) == 2
    cap = capsys.readouterr()
    assert cap.out == ""
    assert cap.err.count("\n") == 1 and match in cap.err and "Traceback" not in cap.err


def test_relu_kink_is_reported_not_called_a_wrong_derivation(blobs):
    # at W = 0 every z_i is exactly at relu's kink: hand and autograd take the slope 0 there,
    # the central difference averages the one-sided slopes 0 and dL/da
    X, y = blobs
    r = explain(np.zeros(3), X, y, activation="relu")
    z = r.stage("z")
    assert z.autograd.agree and not z.numeric.agree and z.numeric.kink
    np.testing.assert_allclose(z.numeric.values[y == 1], -1.0, rtol=np.finfo(float).eps ** (1 / 3))
    assert r.ok and "this is not a wrong derivation" in str(r)


def test_autograd_bce_differs_only_where_torch_softplus_is_linear(blobs):
    # torch's softplus(z) returns z for z > 20 (threshold=20), so autograd's dL/dz there is (1 - y) / N
    # instead of (sigmoid(z) - y) / N; the hand derivation agrees with finite differences throughout
    X, y = blobs
    W = 12 * gd_torch.init_weights(3, seed=0)
    r = explain(W, X, y, loss="bce")
    z = r.stage("z")
    assert (z.value > 20).any() and z.numeric.agree
    if not z.autograd.agree:
        assert (z.value[z.autograd.failing] > 20).all()
        assert "torch's softplus (threshold=20)" in z.note


def test_cli_says_why_each_row_is_shown(blobs, capsys):
    # rows 194 and 125 appeared among 0, 1, 2 without a word: they are the largest |dL/d(stage)|
    assert main(["explain"]) in (0, 1)
    out = capsys.readouterr().out
    X, y = blobs
    r = explain(gd_torch.init_weights(3, seed=42), X, y)
    for name in ("e", "a", "z"):
        big = int(np.argmax(np.abs(r.stage(name).hand)))
        line = f"  entries   i = 0, 1, 2 (the first 3 of 250) and {big} (the largest |dL/d{name}|)"
        block = out.split(f"\nstage {name}: ")[1].split("\n\n")[0]
        assert line in block.splitlines(), block
        rows = [int(ln.split()[0]) for ln in block.splitlines() if re.match(r"^ +\d+ ", ln)]
        assert rows == [0, 1, 2, big]
    assert "at the first 3 entries i of a stage and the one with the largest |dL/d(stage)|" in out
    assert "entries" not in out.split("\nstage W: ")[1].split("\n\n")[0]  # all 3 of W are shown


@pytest.mark.parametrize("ledger", ["neuron", "two layers"])
def test_local_means_one_thing_in_both_ledgers(blobs, ledger):
    # "local" at stage T is dT/d(T's input): the derivative of the stage's own formula; a leaf has none
    from gd_torch.teach.mlp import explain_mlp

    X, y = blobs
    r = explain(gd_torch.init_weights(3, seed=0), X, y) if ledger == "neuron" else explain_mlp(X, y, hidden=3)
    leaves = {"W", "w2", "b2", "W1", "b1"}
    for s in r.stages:
        if s.name in leaves:
            assert s.local.startswith("none"), (s.name, s.local)
        else:
            assert re.match(rf"d{s.name}(_i)?/d", s.local), (s.name, s.local)
    assert "local derivative (of the stage's output with respect to its input" in str(r)
