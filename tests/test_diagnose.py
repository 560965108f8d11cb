"""gd_torch.diagnose: each plausible mistake is named with its factor; anything else is 'unrecognised'."""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np
import pytest
from own_parts import PSEUDO_HUBER, SOFTSIGN

import gd_torch
from gd_torch.cli.app import main
from gd_torch.verdict.diagnosis import diagnose


@pytest.fixture
def rng(request):
    # seeded from the test's name (conftest's rng uses the node id): these cases keep their inputs
    return np.random.default_rng(zlib.crc32(request.node.name.encode()))


def _parts(W, X, y):
    # the learner's ingredients, written here independently of the library
    z = X @ W
    a = 1 / (1 + np.exp(-z))
    return z, a, a - y, X.shape[0]


# (what a learner wrote, the candidate it must be recognised as) for loss="sse" with the sigmoid
MISTAKES = {
    "tutorial X^T e / N": (lambda X, z, a, e, n: X.T @ e / n, "mean-bce"),
    "exact 2 X^T [e a (1 - a)]": (lambda X, z, a, e, n: X.T @ (2 * e * a * (1 - a)), "exact"),
    "half sse": (lambda X, z, a, e, n: X.T @ (e * a * (1 - a)), "half-sse"),
    "mse (= sse with an extra 1/N)": (lambda X, z, a, e, n: X.T @ (2 * e * a * (1 - a)) / n, "mse"),
    "sign flipped": (lambda X, z, a, e, n: X.T @ (-2 * e * a * (1 - a)), "sign"),
    "derivative at z": (lambda X, z, a, e, n: X.T @ (2 * e * z * (1 - z)), "da/dz-at-z"),
    "sigmoid'(a)": (
        lambda X, z, a, e, n: X.T @ (2 * e * (1 / (1 + np.exp(-a))) * (1 - 1 / (1 + np.exp(-a)))),
        "f'(a)",
    ),
    "no activation derivative": (lambda X, z, a, e, n: X.T @ (2 * e), "no-da/dz"),
    "no loss derivative": (lambda X, z, a, e, n: X.T @ (a * (1 - a)), "no-dL/da"),
    "tutorial without 1/N": (lambda X, z, a, e, n: X.T @ e, "sum-bce"),
    "rows not paired": (lambda X, z, a, e, n: X.mean(axis=0) * np.sum(2 * e * a * (1 - a)), "unpaired"),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_each_mistake_is_named_with_factor_one(blobs, rng, mistake):
    X, y = blobs
    W = rng.uniform(-1, 1, size=3)
    formula, key = MISTAKES[mistake]
    z, a, e, n = _parts(W, X, y)
    d = diagnose(formula(X, z, a, e, n), W, X, y, loss="sse")
    assert d.recognised, str(d)
    assert d.best.key == key, str(d)
    assert d.factor == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("scale", [3.7, -0.25, 1e-3])
def test_factor_is_the_least_squares_scale(blobs, rng, scale):
    X, y = blobs
    W = rng.uniform(-1, 1, size=3)
    g = scale * gd_torch.gradient(W, X, y, method="tutorial")
    d = diagnose(g, W, X, y, loss="sse")
    assert d.recognised
    # several candidates share this direction (X^T e, X^T e / N, 2 X^T e); the best has the factor nearest 1
    factors = {f.key: f.factor for f in d.fits if f.match}
    assert factors["mean-bce"] == pytest.approx(scale, rel=1e-12)
    assert abs(np.log(abs(d.factor))) == min(abs(np.log(abs(c))) for c in factors.values())


@pytest.mark.parametrize(
    ("loss", "activation"), [("sse", "sigmoid"), ("mse", "tanh"), ("bce", "sigmoid"), ("sse", "relu")]
)
@pytest.mark.parametrize("method", ["analytic", "autograd"])
def test_exact_gradients_are_exact(blobs, rng, loss, activation, method):
    X, y = blobs
    W = rng.uniform(-1, 1, size=3)
    d = diagnose(
        gd_torch.gradient(W, X, y, method=method, loss=loss, activation=activation),
        W,
        X,
        y,
        loss=loss,
        activation=activation,
    )
    assert d.best.key == "exact" and d.factor == pytest.approx(1.0, rel=1e-12)


def test_float32_gradient_is_held_to_float32_rounding(blobs):
    X, y = (a.astype(np.float32) for a in blobs)
    W = gd_torch.init_weights(3, seed=0, dtype=np.float32)
    g = gd_torch.gradient(W, X, y, method="autograd")
    d = diagnose(g, W, X, y)
    assert d.best.key == "exact"
    assert d.best.tolerance > 1e6 * np.finfo(np.float64).eps  # float32's u, not float64's


def test_unrecognised_when_nothing_is_close(blobs, rng):
    X, y = blobs
    W = rng.uniform(-1, 1, size=3)
    d = diagnose(rng.normal(size=3), W, X, y)
    assert not d.recognised and d.best is None and d.factor is None
    assert d.summary().startswith("unrecognised: no candidate matches to rounding; nearest is")


def test_a_nearly_exact_gradient_is_not_passed_off_as_exact(blobs):
    # relative perturbation 1e-9: far above rounding (1e-14), so not exact; an error estimate admits it
    X, y = blobs
    W = gd_torch.init_weights(3, seed=0)
    g = gd_torch.gradient(W, X, y)
    g_approx = g * (1 + 1e-9 * np.array([1.0, -1.0, 0.5]))
    d = diagnose(g_approx, W, X, y)
    assert not d.recognised and d.nearest.key == "exact" and d.nearest.residual < 1e-8
    d2 = diagnose(g_approx, W, X, y, error=1e-8 * np.abs(g))
    assert d2.best.key == "exact"


def test_zero_gradient_says_so(blobs):
    X, y = blobs
    d = diagnose(np.zeros(3), np.zeros(3), X, y)
    assert not d.recognised and "all zeros" in d.summary()


@pytest.mark.parametrize(
    ("g", "kwargs", "match"),
    [
        (np.zeros(250), {}, r"g must be of shape \(3,\), one entry per weight .*; got 'an array of shape \(250,\)'"),
        (np.zeros((3, 1)), {}, r"g must be of shape \(3,\).*got 'an array of shape \(3, 1\)'"),
        (np.array([1.0, np.nan, 0.0]), {}, r"g must be finite \(no NaN or inf\): g\[1\] = nan"),
        (np.array([1.0, 0.0, np.inf]), {}, r"g\[2\] = inf"),
        (np.array(["a", "b", "c"]), {}, "g must be an array .*of real numbers"),
        (np.ones(3), {"loss": "hinge"}, "loss must be one of"),
        (np.ones(3), {"activation": "swish"}, "activation must be one of"),
        (np.ones(3), {"error": np.ones(2)}, "error must be None or finite non-negative numbers of shape"),
        (np.ones(3), {"error": -np.ones(3)}, "error must be None or finite non-negative"),
    ],
)
def test_bad_input(blobs, g, kwargs, match):
    X, y = blobs
    with pytest.raises(gd_torch.GdTorchError, match=match):
        diagnose(g, np.zeros(3), X, y, **kwargs)


def test_check_cli_prints_the_diagnosis_of_the_failing_method(capsys):
    assert main(["check", "--methods", "analytic,autograd,numeric,tutorial", "--loss", "sse"]) == 1
    out = capsys.readouterr().out
    assert "FAIL: tutorial disagrees" in out
    line = [ln for ln in out.splitlines() if ln.startswith("tutorial is ")]
    assert len(line) == 1, out
    assert "the mean-BCE gradient" in line[0] and "times 1.000" in line[0]
    assert not any(ln.startswith(("analytic is", "autograd is", "numeric is")) for ln in out.splitlines())


def test_check_cli_prints_no_diagnosis_when_all_agree(capsys):
    assert main(["check", "--methods", "analytic,tutorial", "--loss", "bce"]) == 0
    assert " is the " not in capsys.readouterr().out


# ---- a user's own parts: the candidates never come from the derivative under test ----------------

MY_SIGMOID = gd_torch.Activation(
    "my-sigmoid",
    f=lambda z: 1 / (1 + np.exp(-z)),
    df=lambda z, a: a * (1 - a),
    formula="a = 1 / (1 + exp(-z))",
    dformula="da/dz = a (1 - a)",
    torch_f=lambda z: z.sigmoid(),
)
#: the same activations with a wrong hand derivative: a learner's slip
WRONG = {
    "my-sigmoid": dataclasses.replace(MY_SIGMOID, df=lambda z, a: a * (1 + a), df_abs=None),
    "softsign": dataclasses.replace(SOFTSIGN, df=lambda z, a: 1 / (1 + np.abs(z)), df_abs=None),
}
#: dL/da without its square root: wrong
WRONG_HUBER = dataclasses.replace(PSEUDO_HUBER, dL_da=lambda a, y, n: (a - y) / n, dL_abs=None, terms_abs=None)


@pytest.mark.parametrize("activation", [MY_SIGMOID, SOFTSIGN], ids=lambda a: a.name)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_correct_gradient_with_own_parts_is_correct(blobs, activation, seed):
    X, y = blobs
    W = np.random.default_rng(seed).uniform(-1, 1, size=3)
    for loss in ("sse", PSEUDO_HUBER):
        g = gd_torch.gradient(W, X, y, method="analytic", loss=loss, activation=activation)
        d = diagnose(g, W, X, y, loss=loss, activation=activation)
        assert d.correct and d.best.key == "exact" and d.factor == pytest.approx(1.0, rel=1e-12), str(d)


@pytest.mark.parametrize("name", list(WRONG))
def test_a_wrong_hand_derivative_of_your_activation_is_never_the_exact_gradient(blobs, name):
    # the analytic gradient built from the wrong df: before, the table was built from that same df
    X, y = blobs
    W = gd_torch.init_weights(3, seed=0) - 0.5
    wrong = WRONG[name]
    g = gd_torch.gradient(W, X, y, method="analytic", activation=wrong)
    d = diagnose(g, W, X, y, activation=wrong)
    assert not d.correct, str(d)
    assert not d.summary().startswith("the exact gradient"), str(d)


def test_a_wrong_hand_derivative_of_your_loss_is_never_the_exact_gradient(blobs):
    X, y = blobs
    W = gd_torch.init_weights(3, seed=0) - 0.5
    g = gd_torch.gradient(W, X, y, method="analytic", loss=WRONG_HUBER, activation="tanh")
    d = diagnose(g, W, X, y, loss=WRONG_HUBER, activation="tanh")
    assert not d.correct and not d.summary().startswith("the exact gradient"), str(d)


def test_own_part_without_a_torch_forward_cannot_be_told(blobs):
    X, y = blobs
    W = gd_torch.init_weights(3, seed=0) - 0.5
    no_torch = dataclasses.replace(MY_SIGMOID, torch_f=None, df_abs=None)
    g = gd_torch.gradient(W, X, y, method="analytic", activation=no_torch)
    d = diagnose(g, W, X, y, activation=no_torch)
    assert not d.correct and not d.recognised and d.fits == []
    assert d.summary().startswith("cannot tell what g is: the activation 'my-sigmoid' is your own and has no torch_f")


def test_assert_gradient_close_with_a_wrong_df_does_not_call_it_the_exact_gradient(blobs):
    from gd_torch.testing import assert_gradient_close

    X, y = blobs
    W = gd_torch.init_weights(3, seed=0) - 0.5
    wrong = WRONG["softsign"]
    g = gd_torch.gradient(W, X, y, method="analytic", activation=wrong)
    with pytest.raises(AssertionError) as info:
        assert_gradient_close(g, W, X, y, activation=wrong)
    assert "your_gradient is the exact gradient" not in str(info.value), str(info.value)
