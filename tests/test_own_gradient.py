"""Your own gradient for the one-neuron model: in check, in your pytest suite, on the command line."""

from __future__ import annotations

import numpy as np
import pytest

import gd_torch
from gd_torch import GdTorchError
from gd_torch.cli.app import main
from gd_torch.testing import assert_gradient_close


@pytest.fixture
def problem():
    X, y = gd_torch.tutorial_data()
    return gd_torch.init_weights(3, seed=0), X, y


def my_grad(W, X, y):
    # dL/dW = X^T [2 (a - y) a (1 - a)] for L = sum_i (a_i - y_i)^2, a = sigmoid(X W)
    a = 1 / (1 + np.exp(-(X @ W)))
    return X.T @ (2 * (a - y) * a * (1 - a))


def my_grad_halved(W, X, y):  # forgot the 2 of the square's derivative
    return my_grad(W, X, y) / 2


def test_a_callable_is_checked_like_the_built_ins(problem):
    r = gd_torch.check(*problem, methods=("autograd", "numeric", my_grad))
    assert r.ok and list(r.gradients) == ["autograd", "numeric", "my_grad"]
    r = gd_torch.check(*problem, methods=("autograd", "numeric", my_grad_halved))
    assert not r.ok and r.odd_one_out == "my_grad_halved"


def test_a_precomputed_array_and_a_mapping(problem):
    W, X, y = problem
    r = gd_torch.check(W, X, y, methods={"autograd": "autograd", "mine": my_grad(W, X, y)})
    assert r.ok and list(r.gradients) == ["autograd", "mine"]


def test_a_one_rounding_slip_is_caught(problem):
    W, X, y = problem

    def slightly_off(W, X, y):
        g = my_grad(W, X, y)
        g[1] *= 1 + 1e-9  # far below what a finite difference sees, far above float64 rounding
        return g

    assert not gd_torch.check(W, X, y, methods=("autograd", "numeric", slightly_off)).ok


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (
            lambda W, X, y: np.ones(4),
            r"your gradient 'bad' must be of W's shape \(3,\); got 'an array of shape \(4,\)'",
        ),
        (lambda W, X, y: np.array([1.0, np.nan, 0.0]), r"your gradient 'bad' must be finite .* got nan at j=1"),
        (lambda W, X, y: np.array(["a", "b", "c"]), r"your gradient 'bad' must be real numbers"),
    ],
)
def test_a_malformed_gradient_is_a_clear_error(problem, bad, match):
    bad.__name__ = "bad"
    with pytest.raises(GdTorchError, match=match):
        gd_torch.check(*problem, methods=("autograd", bad))


def test_a_candidate_cannot_take_a_built_in_name(problem):
    def autograd(W, X, y):
        return my_grad(W, X, y)

    with pytest.raises(GdTorchError, match="a name for your gradient that is not a built-in method's; got 'autograd'"):
        gd_torch.check(*problem, methods=("numeric", autograd))


def test_assert_gradient_close_passes_silently_and_fails_with_the_diagnosis(problem):
    report = assert_gradient_close(my_grad, *problem)
    assert report.ok
    with pytest.raises(AssertionError) as info:
        assert_gradient_close(my_grad_halved, *problem)
    text = str(info.value)
    assert "FAIL: my_grad_halved disagrees with autograd, numeric" in text
    assert "my_grad_halved is the gradient of sse / 2" in text  # the diagnosis names the slip


def _write(tmp_path, body):
    path = tmp_path / "mygrad.py"
    path.write_text("import numpy as np\n\n" + body)
    return path


def test_cli_gradient_flag(tmp_path, capsys):
    path = _write(
        tmp_path,
        "def grad(W, X, y):\n    a = 1 / (1 + np.exp(-(X @ W)))\n    return X.T @ (2 * (a - y) * a * (1 - a))\n\n"
        "def half(W, X, y):\n    return grad(W, X, y) / 2\n",
    )
    assert main(["check", "--seed", "0", "--gradient", f"{path}:grad"]) == 0
    assert "grad" in capsys.readouterr().out
    assert main(["check", "--seed", "0", "--gradient", f"{path}:half"]) == 1
    out = capsys.readouterr().out
    assert "FAIL: half disagrees with" in out and "half is " in out


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("nofile.py:grad", "--gradient must be FILE.py:NAME with an existing file"),
        ("{path}:nope", "it has no 'nope'"),
        ("{path}", "--gradient must be FILE.py:NAME"),
        ("{path}:CONST", "the name of a callable"),
        ("{broken}:grad", "--gradient: importing .* failed: ZeroDivisionError"),
    ],
)
def test_cli_gradient_that_cannot_be_loaded_is_one_line_and_exit_2(tmp_path, capsys, spec, match):
    path = _write(tmp_path, "CONST = 3\n\ndef grad(W, X, y):\n    return W\n")
    broken = tmp_path / "broken.py"
    broken.write_text("1 / 0\n")
    assert main(["check", "--gradient", spec.format(path=path, broken=broken)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    import re

    assert re.search(match, err), err


def test_cli_own_activation(tmp_path, capsys):
    path = tmp_path / "parts.py"
    path.write_text(
        "import numpy as np\nimport gd_torch\n\n"
        "softsign = gd_torch.Activation('softsign', f=lambda z: z / (1 + np.abs(z)),\n"
        "    df=lambda z, a: 1 / (1 + np.abs(z)) ** 2, formula='a = z / (1 + |z|)',\n"
        "    dformula='da/dz = 1 / (1 + |z|)^2', smooth=False, torch_f=lambda z: z / (1 + z.abs()))\n"
    )
    assert main(["check", "--activation", f"{path}:softsign"]) == 0
    assert "activation=softsign" in capsys.readouterr().out
    assert main(["check", "--activation", f"{path}:np"]) == 2
    assert "a gd_torch.Activation" in capsys.readouterr().err


# ---- mutation: the bug catalogue arriving as a user's own callable (not through the registry) ----


def _as_user_callable(bug, lo, act):
    # a user's grad(W, X, y): the catalogue's wrong formula with the problem's loss and activation
    def grad(W, X, y):
        return bug(W, X, y, lo, act)

    return grad


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("family", ["blobs", "scaled", "single"])
def test_every_gross_bug_in_a_user_callable_is_caught_and_the_correct_one_is_not(family, dtype):
    from bugs import GROSS, _exact
    from families import draw, reference
    from test_mutation import thresholds

    from gd_torch.model.forward import resolve

    rng = np.random.default_rng(sum(map(ord, family + dtype)))
    caught = set()
    for loss, activation in (("sse", "sigmoid"), ("bce", "sigmoid"), ("mse", "tanh")):
        W, X, y = draw(family, rng, loss, dtype)
        lo, act = resolve(loss, activation)
        kw = {"loss": loss, "activation": activation}
        correct = gd_torch.check(W, X, y, methods=("autograd", "numeric", _as_user_callable(_exact, lo, act)), **kw)
        assert correct.ok, str(correct)  # no false alarm on the user's correct gradient
        ref = reference(W, X, y, loss, activation)  # 200-bit
        _, high = thresholds(W, X, y, lo, act)  # what a bug must exceed to be plainly visible
        for name, bug in GROSS.items():
            g = np.asarray(bug(W, X, y, lo, act), dtype=np.float64)
            if not np.any(np.abs(g - ref) > high):  # invisible on this problem (the tutorial's rule under bce)
                continue
            r = gd_torch.check(W, X, y, methods=("autograd", "numeric", _as_user_callable(bug, lo, act)), **kw)
            assert not r.ok, f"{name} missed on {family} {dtype} {loss}/{activation}"
            caught.add(name)
    assert len(caught) >= 20, sorted(caught)  # at least 20 bug kinds were visible and caught here
