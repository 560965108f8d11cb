"""The method registry: a method is one registry entry; autograd is torch's own."""

from __future__ import annotations

import numpy as np
import pytest

import gd_torch
from gd_torch.gradients import METHODS, Method, analytic, register
from gd_torch.model.forward import prepare
from gd_torch.precision import errormodel


def _halved(W, X, y, lo, act):
    # a throwaway method: half the exact gradient (a wrong one, so check must say so)
    return analytic.grad(W, X, y, lo, act) / 2


@pytest.fixture
def throwaway(monkeypatch):
    # a copy of the registry for this test; register() adds to it like to the real one
    monkeypatch.setattr(gd_torch.gradients, "METHODS", dict(METHODS))
    return register(Method("halved", "half the chain rule (a test's throwaway)", "X^T dL/dz / 2", _halved))


def test_a_method_added_through_the_registry_alone_reaches_gradient_check_and_fit(throwaway):
    X, y = gd_torch.tutorial_data()
    W = gd_torch.init_weights(3, seed=0)
    g = gd_torch.gradient(W, X, y, method="halved")
    np.testing.assert_array_equal(g, gd_torch.gradient(W, X, y) / 2)
    report = gd_torch.check(W, X, y, methods=("analytic", "autograd", "halved"))
    assert not report.ok and report.odd_one_out == "halved"
    r = gd_torch.fit(X, y, method="halved", epochs=3, seed=0)
    assert r.method == "halved" and r.epochs_run == 3
    # one full-batch step follows the method's gradient
    np.testing.assert_allclose(
        r.weights_history[1], r.weights_history[0] - 0.01 * _halved(r.weights_history[0], X, y, *_parts())
    )


def _parts():
    _, _, _, lo, act = prepare(np.zeros(3), np.zeros((1, 3)), np.zeros(1), "sse", "sigmoid")
    return lo, act


def test_a_taken_name_is_refused():
    with pytest.raises(gd_torch.GdTorchError, match="method.name must be a name not yet registered; got 'analytic'"):
        register(Method("analytic", "again", "", _halved))
    with pytest.raises(gd_torch.GdTorchError, match="not yet registered; got 'numeric'"):
        register(Method("numeric", "an alias's name", "", _halved))


def test_no_caller_needs_a_method_name_to_know_what_a_method_does():
    # the behaviour check and fit rely on is on the Method values themselves
    assert {m.name for m in METHODS.values() if not m.exact} == {
        f"numeric:{s}" for s in ("central", "forward", "richardson", "complex")
    }
    assert {m.name for m in METHODS.values() if m.from_z is not None} == {"analytic", "tutorial"}
    assert {m.name for m in METHODS.values() if "cuda" in m.devices} == {"autograd"}
    assert all(m.formula and m.description for m in METHODS.values())


def test_a_method_is_made_ready_once_for_gradient_fit_and_check(throwaway):
    # Method.ready: the options it takes, the device, its own option checks, in one place for all callers
    calls = []
    m = register(
        Method(
            "picky",
            "the chain rule, with a checked option (a test's throwaway)",
            "X^T dL/dz",
            lambda W, X, y, lo, act, level=1: analytic.grad(W, X, y, lo, act),
            validate=lambda W, act, level=1: (
                calls.append(level) or gd_torch.base.validate.integer("level", level, minimum=1)
            ),
            options=("level",),
        )
    )
    _, act = _parts()
    assert m.ready("cpu", {"level": 2}, np.zeros(3), act) == {"level": 2} and calls == [2]
    with pytest.raises(
        gd_torch.GdTorchError, match=r"options \['step'\] are not accepted by method='alias'; accepted: level$"
    ):
        m.ready("cpu", {"step": 1.0}, np.zeros(3), act, spelt="alias")
    with pytest.raises(
        gd_torch.GdTorchError, match=r"^device must be 'cpu' for method='picky' \(it runs on the CPU only\)"
    ):
        m.ready("cuda", {}, np.zeros(3), act)
    with pytest.raises(gd_torch.GdTorchError, match=r"^level must be"):
        m.ready("cpu", {"level": 0}, np.zeros(3), act)
    X, y = gd_torch.tutorial_data()
    W = gd_torch.init_weights(3, seed=0)
    calls.clear()
    gd_torch.gradient(W, X, y, method="picky", level=3)
    gd_torch.fit(X, y, method="picky", epochs=1, seed=0)
    gd_torch.check(W, X, y, methods=("analytic", "picky"))
    assert calls == [3, 1, 1]  # each caller checks the options once, before any work


def test_autograd_is_torch_own_on_a_large_problem(monkeypatch):
    # 1e6 x 8 float64 (64 MB): no numpy kernel of gd_torch's runs inside autograd's graph
    from gd_torch.base import blas as _blas

    rng = np.random.default_rng(3)
    X = rng.standard_normal((1_000_000, 8))
    y = (rng.random(1_000_000) < 0.5).astype(np.float64)
    W = rng.standard_normal(8) / 8
    expected = gd_torch.gradient(W, X, y, method="analytic")

    def unavailable(*args, **kwargs):
        raise AssertionError("base.blas used by autograd")

    for name in ("parallel", "workers", "single_thread", "threads", "cores"):
        monkeypatch.setattr(_blas, name, unavailable)
    got = gd_torch.gradient(W, X, y, method="autograd")
    W_, X_, y_, lo, act = prepare(W, X, y, "sse", "sigmoid")
    tol = errormodel.SAFETY["float64"] * 2 * errormodel.build(W_, X_, y_, lo, act).exact
    assert (np.abs(got - expected) <= tol).all(), (got, expected, tol)


@pytest.mark.parametrize(
    "method", ["analytic", "numeric:central", "numeric:forward", "numeric:richardson", "numeric:complex"]
)
def test_a_seeded_gradient_is_bit_identical_whatever_the_thread_count(monkeypatch, method):
    # 3e5 x 8 float64 (19 MB): many row blocks, threaded; the row groups must not follow the threads
    # (numeric summed into acc[block % workers] before its fixed groups)
    from gd_torch.base import blas as _blas

    rng = np.random.default_rng(7)
    X = rng.standard_normal((300_000, 8))
    y = (rng.random(300_000) < 0.5).astype(np.float64)
    W = rng.standard_normal(8) / 8
    results = []
    for n in (1, 2, 3):
        monkeypatch.setattr(_blas, "workers", lambda n=n: n)
        results.append(gd_torch.gradient(W, X, y, method=method))
    assert all(np.array_equal(results[0], r) for r in results[1:]), results
