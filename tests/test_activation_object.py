"""An Activation carries its own data: a new one is one object, seen by check, explain, fit and
the command line; its rounding constants come from the object (declared, or a default that says
so), never from a table keyed by its name; dL/dz has one copy."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from cli_run import main_within
from own_parts import SOFTSIGN
from scipy import special

import gd_torch
from gd_torch import GdTorchError
from gd_torch.model import ACTIVATIONS, LOSSES, Activation
from gd_torch.model.activations import DEFAULT_ROUNDING
from gd_torch.model.forward import delta, resolve
from gd_torch.precision import rounding
from gd_torch.verdict import candidates

#: LeCun's scaled tanh, a = 1.7159 tanh(2 z / 3): a new activation, declared with its constants
C, K = 1.7159, 2.0 / 3.0
SCALED_TANH = Activation(
    "scaled-tanh",
    f=lambda z: C * np.tanh(K * z),
    df=lambda z, a: C * K * (1 - (a / C) ** 2),
    formula="a = 1.7159 tanh(2 z / 3)",
    dformula="da/dz = 1.7159 (2 / 3) (1 - (a / 1.7159)^2)",
    df_abs=lambda z, a: C * K * (1 + (a / C) ** 2),
    torch_f=lambda z: C * (K * z).tanh(),
    # tanh's 0.49 u |a| (as the built-in's), plus the two products' roundings
    rounding=1.75,
    # 1.7159 - a = 1.7159 (1 - tanh(2|z|/3)) = 1.7159 * 2 / (1 + e^(4|z|/3)), without cancellation
    limit_distance=lambda z: C * 2 * special.expit(-2 * K * np.abs(z)),
)


@pytest.fixture
def registered():
    # the new activation in the registry for this test only (every caller reads the one dict)
    ACTIVATIONS[SCALED_TANH.name] = SCALED_TANH
    yield SCALED_TANH
    del ACTIVATIONS[SCALED_TANH.name]


@pytest.fixture
def problem():
    X, y = gd_torch.tutorial_data(n_samples=80)
    X[:, 1:] = (X[:, 1:] - X[:, 1:].mean(0)) / X[:, 1:].std(0)
    return gd_torch.init_weights(3, seed=3) - 0.5, X, y


def test_a_new_activation_is_checked_by_its_name(registered, problem):
    W, X, y = problem
    report = gd_torch.check(
        W, X, y, activation="scaled-tanh", methods=("analytic", "autograd", "numeric", "numeric:complex")
    )
    assert report.ok and report.activation == "scaled-tanh", str(report)


def test_a_wrong_derivative_of_a_new_activation_fails(problem):
    W, X, y = problem
    forgot_scale = dataclasses.replace(SCALED_TANH, df=lambda z, a: 1 - (a / C) ** 2)  # dropped 1.7159 (2/3)
    ACTIVATIONS[SCALED_TANH.name] = forgot_scale
    try:
        report = gd_torch.check(W, X, y, activation="scaled-tanh")
    finally:
        del ACTIVATIONS[SCALED_TANH.name]
    assert not report.ok and report.odd_one_out == "analytic", str(report)


def test_a_new_activation_reaches_explain_and_fit(registered, problem):
    W, X, y = problem
    r = gd_torch.explain(W, X, y, activation="scaled-tanh")
    assert r.ok and "1.7159" in r.stage("a").forward + r.stage("a").local, str(r)
    fit = gd_torch.fit(X, y, activation="scaled-tanh", alpha=0.002, epochs=20, seed=0)
    assert fit.activation == "scaled-tanh" and fit.loss_history[-1] < fit.loss_history[0]


def test_a_new_activation_is_offered_on_the_command_line(registered, capsys):
    assert main_within(["check", "--activation", "scaled-tanh", "--n-samples", "40"]) == 0
    out = capsys.readouterr().out
    assert "activation=scaled-tanh" in out and "OK: all methods agree" in out
    assert main_within(["check", "--help"]) == 0
    assert "softplus,scaled-tanh(sigmoid)" in "".join(capsys.readouterr().out.split())  # the help's list


def test_the_bench_does_not_enumerate_activations():
    # the benchmark times the tutorial's one pair: a new activation has nothing to add to its plan
    from gd_torch.bench import harness

    assert (harness.LOSS, harness.ACTIVATION) == ("sse", "sigmoid")


def test_the_built_ins_declare_their_measured_constants():
    declared = {name: act.rounding for name, act in ACTIVATIONS.items()}
    assert declared == {"sigmoid": 1.5, "tanh": 0.75, "relu": 0.0, "identity": 0.0, "softplus": None}
    limited = {name for name, act in ACTIVATIONS.items() if act.limit_distance is not None}
    assert limited == {"sigmoid", "tanh"}
    z = np.array([-40.0, -3.0, 0.0, 2.0, 30.0])
    # 1 - sigmoid(|z|) = 1 / (1 + e^|z|), 1 - tanh(|z|) = 2 / (1 + e^(2|z|)): no cancellation, down to 1e-18
    np.testing.assert_allclose(ACTIVATIONS["sigmoid"].limit_distance(z), 1 / (1 + np.exp(np.abs(z))), rtol=1e-14)
    np.testing.assert_allclose(ACTIVATIONS["tanh"].limit_distance(z), 2 / (1 + np.exp(2 * np.abs(z))), rtol=1e-14)


def test_an_undeclared_rounding_is_the_default_and_says_so():
    assert SOFTSIGN.rounding is None and SOFTSIGN.assumed == ("rounding",)
    assert SOFTSIGN.rounding_used == DEFAULT_ROUNDING == 2.0
    assert repr(SOFTSIGN) == (
        "Activation('softsign', 'a = z / (1 + |z|)', rounding=2 (assumed: DEFAULT_ROUNDING), limit_distance=None)"
    )
    assert ACTIVATIONS["softplus"].assumed == ("rounding",)
    assert SCALED_TANH.assumed == () and "assumed" not in repr(SCALED_TANH)
    assert repr(SCALED_TANH).endswith("rounding=1.75, limit_distance=declared)")
    z = np.linspace(-3, 3, 7)
    a = SOFTSIGN.f(z)
    u = np.finfo(np.float64).eps
    np.testing.assert_array_equal(rounding.a_error(z, a, SOFTSIGN, u), DEFAULT_ROUNDING * u * np.abs(a))


def test_the_error_model_reads_the_object_not_the_name():
    # an activation named like a built-in gets its own constants, not the built-in's
    z = np.linspace(-50, 50, 11)
    a = special.expit(z)
    u = np.finfo(np.float32).eps
    own = dataclasses.replace(ACTIVATIONS["sigmoid"], rounding=3.0, limit_distance=None)
    np.testing.assert_array_equal(rounding.a_error(z, a, own, u), 3.0 * u * np.abs(a))
    built_in = rounding.a_error(z, a, ACTIVATIONS["sigmoid"], u)
    expected = np.minimum(1.5 * u * np.abs(a), rounding.C_SAT * special.expit(-np.abs(z)))
    np.testing.assert_array_equal(built_in, expected)
    assert (built_in < 1.5 * u * np.abs(a)).any()  # the saturation bound is taken somewhere


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"rounding": -1.0},
            r"^Activation.rounding must be None or a finite number >= 0 \(units of u \|a\|\); got -1.0$",
        ),
        ({"rounding": float("nan")}, r"^Activation.rounding must be None or a finite number >= 0 .*; got nan$"),
        ({"rounding": "2"}, r"^Activation.rounding must be None or a finite number >= 0 .*; got '2'$"),
        ({"rounding": True}, r"^Activation.rounding must be None or a finite number >= 0 .*; got True$"),
        ({"limit_distance": 0.5}, r"^Activation.limit_distance must be None or a callable; got 0.5$"),
    ],
)
def test_declared_constants_are_checked(kwargs, match):
    with pytest.raises(GdTorchError, match=match):
        dataclasses.replace(SOFTSIGN, **kwargs)


def test_a_users_limit_distance_is_checked_like_its_other_functions(problem):
    W, X, y = problem
    ragged = dataclasses.replace(SOFTSIGN, limit_distance=lambda z: z[:1])
    with pytest.raises(GdTorchError, match=r"your Activation 'softsign': its limit_distance\(z\) must return an array"):
        gd_torch.check(W, X, y, activation=ragged)


PAIRS = [(lo, act) for lo in LOSSES for act in ACTIVATIONS if LOSSES[lo].activations in (None, (act,))]


@pytest.mark.parametrize(("loss", "activation"), PAIRS)
def test_dl_dz_has_one_copy(loss, activation, rng):
    # the candidates' exact gradient and the error model's factor are model.delta itself, bit for bit
    lo, act = resolve(loss, activation)
    z = rng.uniform(-4, 4, size=50)
    y = rng.integers(0, 2, size=50).astype(np.float64)
    a = act.f(z)
    expected = delta(z, y, lo, act, a=a)
    np.testing.assert_array_equal(candidates.problem(lo, act, y).exact(z, a), expected)
    np.testing.assert_array_equal(rounding._delta_of(y, lo, act)(z, a), expected)


def test_dl_dz_of_a_users_activation_takes_autograds_derivative(rng):
    # a user's sigmoid with a wrong df: the candidates' exact dL/dz uses autograd's f', never the fused (a - y) / N
    wrong = dataclasses.replace(ACTIVATIONS["sigmoid"], df=lambda z, a: a * (1 + a))
    lo, act = resolve("bce", wrong)
    z = rng.uniform(-4, 4, size=30)
    y = rng.integers(0, 2, size=30).astype(np.float64)
    a = act.f(z)
    exact = candidates.problem(lo, act, y).exact(z, a)
    np.testing.assert_allclose(exact, (a - y) / z.size, rtol=1e-12, atol=1e-17)
    assert not np.allclose(delta(z, y, lo, act, a=a, df=act.df), exact)
