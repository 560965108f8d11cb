"""The finite-difference schemes are values (gradients.schemes.Scheme) that carry their data: a
scheme added as one object reaches check, fit, the steps sweep and its picture, and the bench plan."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

import gd_torch
from gd_torch import distributed
from gd_torch.bench import plan as bench_plan
from gd_torch.bench import worker_numpy
from gd_torch.data.shards import Arrays
from gd_torch.gradients import METHODS, numeric
from gd_torch.gradients.schemes import SCHEMES, Scheme, Style, Term, moved
from gd_torch.teach import steps_plot
from gd_torch.teach.steps import step_sweep

PACKAGE = Path(gd_torch.__file__).parent


def _four_point(W, L, h, J, state):
    # (8 (L(W + h e_j) - L(W - h e_j)) - (L(W + 2h e_j) - L(W - 2h e_j))) / 12h
    d = len(J)
    vals = L(np.concatenate([moved(W, 2 * h, J), moved(W, h, J), moved(W, -h, J), moved(W, -2 * h, J)]))
    p2, p1, m1, m2 = (vals[k * d : (k + 1) * d] for k in range(4))
    return (8 * (p1 - m1) - (p2 - m2)) / (12 * h[J]), 4 * d, np.abs(vals).reshape(4, d).max(axis=0)


def _scheme(name: str, rule=_four_point) -> Scheme:
    # D(h) = g - h^4 d5 / 30 - h^6 d7 / 252; weights (1 + 8 + 8 + 1) / 12 on the values' noise
    return Scheme(
        name,
        "(8 (L(W + h e_j) - L(W - h e_j)) - (L(W + 2h e_j) - L(W - 2h e_j))) / 12h",
        rule,
        (Term(4, 1 / 30, 5), Term(6, 1 / 252, 7)),
        noise_amplification=1.5,
        step_exponent=1 / 5,
        style=Style("4-point central", "#E69F00", "v"),
        cost=4,
    )


def _add(monkeypatch, scheme: Scheme) -> str:
    # what adding a scheme to SCHEMES does at import (gd_torch.gradients registers its method), undone after
    monkeypatch.setitem(SCHEMES, scheme.name, scheme)
    method = numeric.method(scheme)
    monkeypatch.setitem(METHODS, method.name, method)
    return method.name


@pytest.fixture
def four_point(monkeypatch):
    return _add(monkeypatch, _scheme("fourpoint"))


def test_each_scheme_carries_the_constants_its_consumers_used_to_look_up_by_name():
    # the values the six name-keyed tables held, now read off each Scheme
    table = {
        n: (s.order, s.truncation_denom, s.noise_amplification, s.step_exponent, s.smallest_step, s.min_ulps)
        for n, s in SCHEMES.items()
    }
    assert table == {
        "central": (2, 3.0, 1.0, 1 / 3, 1.0, 64.0),
        "forward": (1, 1.0, 2.0, 1 / 2, 1.0, 64.0),
        "richardson": (4, 15.0, 6.0, 1 / 5, 0.25, 256.0),
        "complex": (2, np.inf, 0.0, 2.0, 1.0, 0.0),
    }
    assert {n for n, s in SCHEMES.items() if s.needs_smooth} == {"complex"}
    assert {n for n, s in SCHEMES.items() if not s.subtracts} == {"complex"}
    assert {n: s.evaluations(10) for n, s in SCHEMES.items()} == {
        "central": 20,
        "forward": 11,
        "richardson": 40,
        "complex": 10,
    }
    assert list(METHODS)[2:6] == [f"numeric:{n}" for n in SCHEMES]
    assert all(METHODS[f"numeric:{n}"].scheme is s for n, s in SCHEMES.items())
    # what each method sums over rows (how gd_torch.distributed splits it), from what it declares
    assert {n: m.reduction for n, m in METHODS.items()} == {
        "analytic": "gradient",
        "autograd": "gradient",
        **{f"numeric:{n}": "loss" for n in SCHEMES},
        "tutorial": "gradient",
    }
    own = dataclasses.replace(METHODS["analytic"], estimate=lambda *a, **k: None)
    assert own.reduction is None  # an estimate of its own that no scheme gives: X in memory only


def test_a_scheme_added_as_one_object_reaches_check_and_fit(four_point):
    X, y = gd_torch.tutorial_data()
    W = gd_torch.init_weights(3, seed=0)
    g = gd_torch.gradient(W, X, y, method=four_point)
    np.testing.assert_allclose(g, gd_torch.gradient(W, X, y), rtol=1e-9)
    report = gd_torch.check(W, X, y, methods=("analytic", "autograd", four_point))
    assert report.ok, str(report)
    assert four_point in str(report)
    # its error estimate: truncation read off h and 2h over 2^4 - 1, noise amplified 1.5 times
    assert (report.errors[four_point] > 0).all()
    r = gd_torch.fit(X, y, method=four_point, epochs=3, seed=0)
    assert r.method == four_point and r.epochs_run == 3
    W0 = r.weights_history[0]  # one full-batch step follows the scheme's gradient
    np.testing.assert_allclose(r.weights_history[1], W0 - 0.01 * gd_torch.gradient(W0, X, y, method=four_point))


def test_a_wrong_scheme_added_the_same_way_is_caught_by_check(monkeypatch):
    # the same weights over 10h instead of 12h: 20% too large, the odd one out
    def off(W, L, h, J, state):
        g, count, size = _four_point(W, L, h, J, state)
        return g * 1.2, count, size

    name = _add(monkeypatch, _scheme("off", off))
    X, y = gd_torch.tutorial_data()
    report = gd_torch.check(gd_torch.init_weights(3, seed=0), X, y, methods=("analytic", "autograd", name))
    assert not report.ok and report.odd_one_out == name


def test_a_scheme_that_needs_a_smooth_activation_is_refused_at_a_kink(monkeypatch):
    name = _add(monkeypatch, dataclasses.replace(_scheme("imag"), imaginary=True))
    X, y = gd_torch.tutorial_data()
    with pytest.raises(
        gd_torch.GdTorchError,
        match=r"^scheme must be 'central', 'forward' or 'richardson' for .*: got 'imag'; the imag step needs",
    ):
        gd_torch.gradient(gd_torch.init_weights(3, seed=0), X, y, method=name, activation="relu")


def test_a_scheme_added_as_one_object_is_swept_and_drawn_by_steps(four_point, monkeypatch):
    r = step_sweep(dtypes=("float64",), steps=np.logspace(0, -16, 33))
    # lowest order first, the complex step last: the new one (order 4) beside Richardson
    assert list(r.sweeps["float64"].curves) == ["forward", "central", "richardson", "fourpoint", "complex"]
    c = r.sweeps["float64"].curves["fourpoint"]
    sw = r.sweeps["float64"]
    assert c.order == 4
    np.testing.assert_allclose(c.truncation, abs(sw.derivatives[5]) / 30 * r.steps**4 / abs(sw.exact))
    np.testing.assert_allclose(c.rounding, 1.5 * sw.eps * abs(sw.value) / r.steps / abs(sw.exact))
    assert "fourpoint" in r.table()
    figures = []
    monkeypatch.setattr(steps_plot, "save_figure", lambda fig, path: figures.append(fig))
    steps_plot.plot_steps(r, "unused.png")
    labels = [t.get_text() for legend in figures[0].legends for t in legend.get_texts()]
    assert "4-point central (slope 4)" in labels
    (rounding,) = [t for t in labels if t.startswith("predicted rounding")]
    assert "1.5 4-point central" in rounding and rounding.endswith("; complex step: eps)")


def test_a_scheme_added_as_one_object_is_a_row_of_the_bench_plan(four_point):
    assert four_point in bench_plan.catalog()
    plan = bench_plan.plan_tasks(_config(methods=("floor", four_point)), 0)
    assert [(t.kind, t.method, t.library) for t in plan.tasks if t.method == four_point] == [
        ("gradient", four_point, "numpy"),
        ("train", four_point, "numpy"),
    ]
    # memory and cost as a finite difference: chunks of perturbations, 4 evaluations of L per coordinate
    assert bench_plan.host_needs(10, 2, "float64", four_point) == bench_plan.host_needs(
        10, 2, "float64", "numeric:central"
    )
    assert worker_numpy.numeric_cost(four_point).evaluations(7) == 28
    assert worker_numpy.numeric_cost("numeric:complex").complex
    assert worker_numpy.numeric_cost("analytic") is None


def _config(**kw):
    from gd_torch.bench.options import Config

    base = dict(n=(10,), d=(2,), dtype=("float64",), methods=("floor", "analytic"), device="cpu", threads=1, min_run_time=0.01,
                budget_s=0.01, train=True, seed=0, quick=True, explicit_sizes=True, calibration_tolerance=0.2, retries=1)  # fmt: skip
    return Config(**(base | kw))


#: what a scheme spelt by its name looks like: a comparison with a scheme's name, a dict keyed by
#: it, a method name tested by its prefix
NAME_TESTS = re.compile(
    r"""[!=]=\s*["'](central|forward|richardson|complex)["']"""
    r"""|(^|[{,])\s*["'](numeric:)?(central|forward|richardson|complex)["']\s*:"""
    r"""|startswith\(\s*["']numeric"""
    r"""|["'](central|forward|richardson|complex)["']\s+(not\s+)?in\b""",
    re.MULTILINE,
)


def test_no_module_tells_schemes_or_methods_apart_by_name():
    found = [
        f"{p.relative_to(PACKAGE)}: {m.group(0).strip()}"
        for p in sorted(PACKAGE.rglob("*.py"))
        for m in NAME_TESTS.finditer(p.read_text())
    ]
    assert found == [], "\n".join(found)


def test_a_scheme_added_as_one_object_runs_on_row_blocks(four_point):
    # gd_torch.distributed (imported before the scheme was added) takes a method's scheme from the
    # method: differences of the all-reduced loss
    X, y = gd_torch.tutorial_data()
    W = gd_torch.init_weights(3, seed=0)
    g = distributed.gradient(W, Arrays(X, y, budget=4096), method=four_point)
    np.testing.assert_allclose(g, gd_torch.gradient(W, X, y, method=four_point), rtol=1e-9)
    r = distributed.run(distributed.stepper(Arrays(X, y), method=four_point), W.copy(), alpha=0.01, epochs=1)
    np.testing.assert_allclose(W - r.weights, 0.01 * g, rtol=1e-9)  # one step along its gradient


def test_a_method_with_its_own_estimate_and_no_scheme_is_refused_on_row_blocks(monkeypatch):
    # its reduction is None: neither a sum over rows of dL/dW nor differences of the summed loss
    own = dataclasses.replace(METHODS["numeric:central"], name="own", scheme=None)
    monkeypatch.setitem(METHODS, "own", own)
    X, y = gd_torch.tutorial_data()
    with pytest.raises(
        gd_torch.GdTorchError, match=r"^method must be a method without an error estimate .*; got 'own'$"
    ):
        distributed.gradient(gd_torch.init_weights(3, seed=0), Arrays(X, y), method="own")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "name",
            "four point",
            r"^scheme.name must be an identifier \(its method is 'numeric:<name>'\); got 'four point'$",
        ),
        ("formula", "", r"^scheme.formula must be a non-empty text; got ''$"),
        ("rule", None, r"^scheme.rule must be a function rule\(W, L, h, J, state\); got None$"),
        (
            "series",
            (Term(4, 1 / 30, 5),),
            r"^scheme.series must be two Terms: the leading truncation term and the next; ",
        ),
        (
            "series",
            (Term(4, 1 / 30, 5), Term(4, 1, 5)),
            r"^scheme.series\[1\].power must be a power above the leading 4; got 4$",
        ),
        (
            "series",
            (Term(0, 1 / 30, 5), Term(6, 1, 7)),
            r"^scheme.series\[0\].power must be a positive integer; got 0$",
        ),
        ("noise_amplification", -1.0, r"^scheme.noise_amplification must be a finite number >= 0; got -1.0$"),
        ("step_exponent", 0.0, r"^scheme.step_exponent must be a finite number > 0; got 0.0$"),
        ("smallest_step", 2.0, r"^scheme.smallest_step must be a finite number > 0 and <= 1; got 2.0$"),
        ("cost", 0, r"^scheme.cost must be a positive integer; got 0$"),
        ("cost_once", 1.0, r"^scheme.cost_once must be a non-negative integer; got 1.0$"),
        ("style", ("x", "#000000", "o"), r"^scheme.style must be a Style\(label, colour, marker\); got "),
        ("imaginary", 1, r"^scheme.imaginary must be True or False; got 1$"),
    ],
)
def test_a_scheme_that_could_not_work_is_refused_when_made(field, value, message):
    with pytest.raises(gd_torch.GdTorchError, match=message):
        dataclasses.replace(_scheme("fourpoint"), **{field: value})
