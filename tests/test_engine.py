"""The one checking engine: every way into the verdict returns one report type, built from one
pair type by one comparison, and a new error source plugs in through ``terms`` alone."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import gd_torch
from gd_torch import distributed
from gd_torch.data import shards as ooc
from gd_torch.teach import records
from gd_torch.testing import assert_function_gradient_close, assert_gradient_close
from gd_torch.verdict import compare, engine
from gd_torch.verdict.engine import Pair, Terms, judge, odd_one_out
from gd_torch.verdict.report import CheckReport
from gd_torch.verdict.report_text import MODEL_TEXT


@pytest.fixture
def problem():
    X, y = gd_torch.tutorial_data()
    return gd_torch.init_weights(X.shape[1], seed=0), X, y


def _quadratic():
    A = np.array([[2.0, 1.0], [0.5, 3.0], [1.0, -1.0]])

    def f(p):
        return float(np.sum((A @ p) ** 2))

    def grad(p):
        return 2 * A.T @ (A @ p)

    return f, np.array([0.3, -0.7]), grad


def _reports(problem):
    # one report from each of the five ways into the verdict
    W, X, y = problem
    f, x, grad = _quadratic()
    return {
        "check": gd_torch.check(W, X, y),
        "check_function": gd_torch.check_function(f, x, grad),
        "distributed.check": distributed.check(W, ooc.Arrays(X, y, budget=4096)),
        "assert_gradient_close": assert_gradient_close(gd_torch.gradient(W, X, y, method="analytic"), W, X, y),
        "assert_function_gradient_close": assert_function_gradient_close(f, x, grad),
    }


@pytest.fixture
def counted(monkeypatch):
    # every comparison the engine makes, counted
    calls = []

    def spy(*args, **kwargs):
        calls.append(args)
        return compare.compare(*args, **kwargs)

    monkeypatch.setattr(engine, "compare", spy)
    return calls


def test_every_way_in_returns_the_one_report_of_engine_pairs(problem, counted):
    reports = _reports(problem)
    for name, r in reports.items():
        assert type(r) is CheckReport and r.ok, name
        assert r.pairs and all(type(p) is Pair for p in r.pairs), name
        assert all(type(p) is Pair for s in r.arrays for p in s.pairs), name
    assert gd_torch.CheckReport is CheckReport and not hasattr(gd_torch, "FunctionReport")
    # 3 pairs for each one-neuron check (3 ways), 1 pair overall and 1 for the one array, twice
    assert len(counted) == 3 * 3 + 2 * 2


def test_the_explain_ledger_compares_by_the_engines_rule(problem):
    # the ledger's record is built by the one comparison, with the engine's statuses
    assert records.compare is compare.compare is engine.compare
    W, X, y = problem
    r = gd_torch.explain(W, X, y, activation="relu")
    statuses = {c.status for s in r.stages for c in (s.autograd, s.numeric) if c is not None}
    assert statuses and statuses <= {"", *compare.FAILING, "agree", "kink"}


def test_one_odd_one_out_rule_for_both_ways_in(problem):
    W, X, y = problem
    r = gd_torch.check(W, X, y, methods=("analytic", "tutorial", "autograd"))
    assert r.odd_one_out == "tutorial" == odd_one_out(list(r.gradients), r.pairs)
    f, x, grad = _quadratic()
    torch = pytest.importorskip("torch")
    A = torch.tensor([[2.0, 1.0], [0.5, 3.0], [1.0, -1.0]], dtype=torch.float64)

    def tripled(p):
        return 3 * grad(p)

    rf = gd_torch.check_function(f, x, tripled, torch_f=lambda t: ((A @ t) ** 2).sum())
    assert rf.odd_one_out == "tripled" == odd_one_out(list(rf.gradients), rf.pairs) and not rf.ok
    assert "FAIL: tripled disagrees with autograd, numeric, which agree with each other" in rf.summary()


def test_the_report_has_a_short_repr_and_a_table(problem):
    reports = _reports(problem)
    for name, r in reports.items():
        text = repr(r)
        assert text.startswith("CheckReport(ok=True, ") and len(text) < 200 and "\n" not in text, name
        assert str(r).endswith(r.summary()) and r.summary().startswith("OK"), name


@dataclasses.dataclass(frozen=True)
class _Fixed:
    """A third error source, as a torch checker would add one: a fixed relative tolerance."""

    values: dict
    rel: float

    def terms(self, a, b, index):
        sl = slice(None) if index is None else index
        va, vb = self.values[a][sl], self.values[b][sl]
        return Terms(va, vb, self.rel * np.maximum(np.abs(va), np.abs(vb)))


def test_a_new_error_source_plugs_in_through_terms_alone():
    values = {"a": np.array([1.0, 2.0, 3.0]), "b": np.array([1.0, 2.0, 3.0 + 1e-9]), "c": np.array([1.0, 2.5, 3.0])}
    pairs = judge(list(values), values, _Fixed(values, 1e-6))
    assert [(p.a, p.b, p.status) for p in pairs] == [
        ("a", "b", "agree"),
        ("a", "c", "disagree"),
        ("b", "c", "disagree"),
    ]
    assert pairs[1].worst == 1 and pairs[1].tol == pytest.approx(2.5e-6) and odd_one_out(list(values), pairs) == "c"
    r = CheckReport("float64", "full", values, dict.fromkeys(values, np.zeros(3)), pairs, MODEL_TEXT, shape=(1, 3))
    assert not r.ok and r.failing() == ["a", "b", "c"] and r.odd_one_out == "c"
    assert "FAIL: c disagrees with a, b, which agree with each other" in r.summary()


def test_a_source_that_cannot_verify_makes_the_pair_say_so():
    va, vb = np.array([1.0, 2.0]), np.array([1.0, 2.0])
    terms = Terms(va, vb, np.full(2, 1e-12), unverified=np.array([False, True]), why=lambda s, k: f"{s} at {k}")
    p = engine.pair("a", "b", va, vb, terms, index=np.array([5, 6]))
    assert (p.status, p.worst, p.reason) == ("cannot verify", 6, "cannot verify at 1")
    doubtful = engine.pair("a", "b", va, vb, dataclasses.replace(terms, unverified=None, doubtful=True))
    assert doubtful.status == "cannot verify" and doubtful.worst == 0
    bad = engine.pair("a", "b", va, np.array([1.0, np.nan]), Terms(va, np.array([1.0, np.nan]), np.ones(2)))
    assert bad.status == "non-finite" and bad.worst == 1 and np.isnan(bad.max_rel_err)
