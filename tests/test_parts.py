"""A user's own activation or loss, accepted wherever a name is."""

from __future__ import annotations

import numpy as np
import pytest
from own_parts import PSEUDO_HUBER, SOFTSIGN
from sklearn.base import clone

import gd_torch
from gd_torch import Activation, GdTorchError, Loss
from gd_torch.gradients import METHODS


@pytest.fixture
def problem():
    X, y = gd_torch.tutorial_data(n_samples=60)
    X[:, 1:] = (X[:, 1:] - X[:, 1:].mean(0)) / X[:, 1:].std(0)
    return gd_torch.init_weights(3, seed=1) - 0.5, X, y


@pytest.mark.parametrize("method", [m for m in METHODS if m != "numeric:complex"])
def test_own_parts_in_every_method(problem, method):
    W, X, y = problem
    g = gd_torch.gradient(W, X, y, method=method, loss=PSEUDO_HUBER, activation=SOFTSIGN)
    assert g.shape == (3,) and np.isfinite(g).all()


def test_own_parts_are_checked_like_the_built_ins(problem):
    W, X, y = problem
    report = gd_torch.check(
        W, X, y, loss=PSEUDO_HUBER, activation=SOFTSIGN, methods=("analytic", "autograd", "numeric")
    )
    assert report.ok, str(report)
    assert report.loss == "pseudo-huber" and report.activation == "softsign"
    L = gd_torch.objective(W, X, y, loss=PSEUDO_HUBER, activation=SOFTSIGN)
    a = X @ W / (1 + np.abs(X @ W))
    assert L == pytest.approx(np.mean(np.sqrt(1 + (a - y) ** 2) - 1), rel=1e-14)


def test_a_wrong_hand_derivative_is_caught(problem):
    W, X, y = problem
    wrong = Activation(
        "softsign-wrong",
        f=SOFTSIGN.f,
        df=lambda z, a: 1 / (1 + np.abs(z)),  # forgot the square
        formula=SOFTSIGN.formula,
        dformula="da/dz = 1 / (1 + |z|)",
        smooth=False,
        torch_f=SOFTSIGN.torch_f,
    )
    report = gd_torch.check(W, X, y, activation=wrong, methods=("analytic", "autograd", "numeric"))
    assert not report.ok and report.odd_one_out == "analytic", str(report)


def test_autograd_needs_the_torch_forward(problem):
    W, X, y = problem
    no_torch = Activation("cube-root", f=np.cbrt, df=lambda z, a: 1 / (3 * a * a), formula="a = z^(1/3)", dformula="")
    with pytest.raises(
        GdTorchError, match=r"method='autograd' needs the activation's torch forward: .*'cube-root' has no torch_f"
    ):
        gd_torch.gradient(W, X, y, method="autograd", activation=no_torch)


def test_fit_and_a_cloneable_estimator_with_own_parts(problem):
    W, X, y = problem
    r = gd_torch.fit(X, y, loss=PSEUDO_HUBER, activation=SOFTSIGN, alpha=0.5, epochs=50, seed=0)
    assert r.loss_history[-1] < r.loss_history[0] and r.activation == "softsign"
    clf = gd_torch.GDClassifier(loss=PSEUDO_HUBER, activation=SOFTSIGN, alpha=0.5, epochs=50)
    twin = clone(clf)
    assert twin.get_params()["activation"] == SOFTSIGN
    assert twin.fit(X[:, 1:], y).score(X[:, 1:], y) > 0.9


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": ""}, r"^Activation.name must be a non-empty string; got ''$"),
        ({"f": "sigmoid"}, r"^Activation.f must be a callable; got 'sigmoid'$"),
        ({"torch_f": 3}, r"^Activation.torch_f must be None or a callable; got 3$"),
        ({"formula": None}, r"^Activation.formula must be a string"),
    ],
)
def test_a_malformed_activation_is_refused(kwargs, match):
    base = {"name": "x", "f": np.tanh, "df": lambda z, a: 1 - a * a, "formula": "", "dformula": ""}
    with pytest.raises(GdTorchError, match=match):
        Activation(**(base | kwargs))


def test_a_malformed_loss_is_refused():
    with pytest.raises(GdTorchError, match=r"^Loss.reduction must be 'sum' or 'mean'; got 'max'$"):
        Loss("x", terms=lambda z, a, y: a, reduction="max", dL_da=lambda a, y, n: a, formula="", dformula="")
