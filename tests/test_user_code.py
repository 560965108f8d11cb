"""The user's own code (a gradient g(W, X, y), an Activation, a Loss, a FILE.py:NAME on the
command line): checked on every path, never able to change the caller's data, and a failure of
it is one GdTorchError (one line, exit 2 on the command line) naming it, never a verdict."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from cli_run import main_within
from own_parts import SOFTSIGN

import gd_torch
from gd_torch import GdTorchError
from gd_torch.data import shards as ooc
from gd_torch.distributed import check as dist_check


@pytest.fixture
def problem():
    X, y = gd_torch.tutorial_data()
    return gd_torch.init_weights(3, seed=0), X, y


def good(W, X, y):
    # dL/dW = X^T [2 (a - y) a (1 - a)] for L = sum_i (a_i - y_i)^2, a = sigmoid(X W)
    a = 1 / (1 + np.exp(-(X @ W)))
    return X.T @ (2 * (a - y) * a * (1 - a))


def huge(W, X, y):
    return np.full_like(W, 1e6)


def _one_line_exit_2(argv, capsys) -> str:
    assert main_within(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def _file(tmp_path, body: str, name: str = "mine.py"):
    path = tmp_path / name
    path.write_text("import sys\nimport numpy as np\nimport gd_torch\n\n" + body)
    return path


GRADIENTS = (
    "def good(W, X, y):\n    a = 1 / (1 + np.exp(-(X @ W)))\n    return X.T @ (2 * (a - y) * a * (1 - a))\n\n"
    "def huge(W, X, y):\n    return np.full_like(W, 1e6)\n"
)


# ---- the user's gradient on the out-of-core and distributed paths ------------------------


def test_a_user_gradient_is_checked_on_in_memory_arrays_in_row_blocks(problem):
    W, X, y = problem
    data = ooc.Arrays(X, y, budget=4096)  # several row blocks
    r = dist_check(W, data, methods=["analytic", "numeric", good])
    assert r.ok and list(r.gradients) == ["analytic", "numeric", "good"]
    r = dist_check(W, data, methods=["analytic", "numeric", huge])
    assert not r.ok and r.odd_one_out == "huge"
    r = dist_check(W, data, methods=["analytic", huge], mode="directional")
    assert not r.ok


def test_a_user_gradient_on_a_dataset_folder_is_refused_naming_both_flags(tmp_path, capsys, problem):
    _, X, y = problem
    (tmp_path / "d").mkdir()
    np.save(tmp_path / "d" / "X.npy", X)
    np.save(tmp_path / "d" / "y.npy", y)
    path = _file(tmp_path, GRADIENTS)
    err = _one_line_exit_2(["check", "--dataset", str(tmp_path / "d"), "--gradient", f"{path}:huge"], capsys)
    assert "--gradient" in err and "--dataset" in err and "your huge(W, X, y) takes X in memory" in err
    with pytest.raises(GdTorchError, match=r"^methods must be built-in method names on the dataset folder"):
        dist_check(None, ooc.open_dataset(tmp_path / "d"), methods=["analytic", huge])


def test_cli_workers_checks_the_user_gradient(tmp_path, capfd, problem):
    _, X, y = problem
    csv = tmp_path / "d.csv"
    np.savetxt(csv, np.column_stack([X[:, 1:], y]), delimiter=",", header="x1,x2,label", comments="")
    path = _file(tmp_path, GRADIENTS)
    argv = ["check", "--dataset", str(csv), "--label", "label", "--workers", "2", "--timeout", "30"]
    assert main_within([*argv, "--gradient", f"{path}:huge"], 120) == 1
    out, _ = capfd.readouterr()
    assert out.count("FAIL: huge disagrees with") == 1, out


# ---- the caller's data is read-only to the user's code -------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "X -= X.mean(0)",  # centres the caller's X
        "y[y == 0] = -1",  # relabels the caller's y
        "X[:] = 0",  # a zero 'gradient' after zeroing X used to pass as OK
        "W += 1",
    ],
)
def test_a_user_gradient_cannot_change_the_callers_data(problem, body):
    W, X, y = problem
    saved = W.copy(), X.copy(), y.copy()
    scope: dict = {"np": np}
    exec(f"def writer(W, X, y):\n    {body}\n    return np.zeros_like(W)\n", scope)
    with pytest.raises(GdTorchError, match=r"^your function writer\(W, X, y\) raised ValueError: .*read-only.*copy"):
        gd_torch.check(W, X, y, methods=("analytic", "numeric", scope["writer"]))
    for before, after in zip(saved, (W, X, y), strict=True):
        np.testing.assert_array_equal(before, after)
    assert X.flags.writeable and W.flags.writeable  # the caller's own arrays stay writeable


# ---- a crash is an error naming the function, not a verdict ---------------------------------


def test_a_user_gradient_that_raises_is_an_error_chained_from_its_exception(problem):
    def boom(W, X, y):
        raise RuntimeError("no luck\non two lines")

    with pytest.raises(
        GdTorchError, match=r"^your function boom\(W, X, y\) raised RuntimeError: no luck on two lines$"
    ) as info:
        gd_torch.check(*problem, methods=("analytic", boom))
    assert isinstance(info.value.__cause__, RuntimeError)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (
            "def f(W):\n    return W\n",
            r"your function f\(W, X, y\) raised TypeError: f\(\) takes 1 positional argument",
        ),
        ("def f(W, X, y):\n    raise KeyError('k')\n", r"your function f\(W, X, y\) raised KeyError: 'k'"),
        ("def f(W, X, y):\n    sys.exit(0)\n", r"your function f\(W, X, y\) exited with status 0"),
        ("def f(W, X, y):\n    return None\n", r"your gradient 'f' must be of W's shape \(3,\); got None"),
        ("def f(W, X, y):\n    return [1.0, [2.0, 3.0], 4.0]\n", r"your gradient 'f' must be an array of W's shape"),
        ("def f(W, X, y):\n    return W * 1j\n", r"your gradient 'f' must be real numbers"),
        ("sys.exit(0)\n", r"--gradient: importing .* failed: the file exited with status 0 while loading"),
        ("raise SystemExit('bye')\n", r"--gradient: importing .* failed: the file exited with status 'bye'"),
    ],
)
def test_cli_a_user_gradient_that_fails_is_one_line_and_exit_2(tmp_path, capsys, body, match):
    path = _file(tmp_path, body)
    err = _one_line_exit_2(["check", "--gradient", f"{path}:f"], capsys)
    assert re.search(match, err), err


def test_a_mapping_among_the_method_names(problem):
    r = gd_torch.check(*problem, methods=("analytic", {"mine": good}))
    assert r.ok and list(r.gradients) == ["analytic", "mine"]
    r = gd_torch.check(*problem, methods=("analytic", "numeric", {"big": huge}))
    assert not r.ok and r.odd_one_out == "big"


# ---- the outputs of a user's Activation and Loss are validated -----------------------------


def _activation(**kw):
    return dataclasses.replace(SOFTSIGN, **kw)


def _loss(**kw):
    fields = dict(
        terms=lambda z, a, y: (a - y) ** 2,
        reduction="sum",
        dL_da=lambda a, y, n: 2 * (a - y),
        formula="L = sum_i (a_i - y_i)^2",
        dformula="dL/da = 2 (a - y)",
        torch_terms=lambda z, a, y: (a - y) ** 2,
    )
    return gd_torch.Loss("my-sse", **{**fields, **kw})


BAD_PARTS = {
    "f returns z[:1]": (
        dict(activation=_activation(f=lambda z: z[:1])),
        r"^your Activation 'softsign': its f\(z\) must return an array of z's shape \(250,\); got an array of shape \(1,\)$",
    ),
    "df returns shape (1,)": (
        dict(activation=_activation(df=lambda z, a: np.ones(1))),
        r"^your Activation 'softsign': its df\(z, a\) must return an array of z's shape \(250,\)",
    ),
    "f returns complex": (
        dict(activation=_activation(f=lambda z: z * (1 + 0j))),
        r"^your Activation 'softsign': its f\(z\) must return real numbers .*; got an array of dtype complex128$",
    ),
    "df returns None": (
        dict(activation=_activation(df=lambda z, a: None)),
        r"^your Activation 'softsign': its df\(z, a\) must return an array of z's shape \(250,\); got None$",
    ),
    "f returns NaN": (
        dict(activation=_activation(f=lambda z: z * np.nan)),
        r"^your Activation 'softsign': its f\(z\) must return finite values for finite input; got nan at z\[0\] = ",
    ),
    "f writes into z": (
        dict(activation=_activation(f=lambda z: np.multiply(z, 0.5, out=z))),
        r"^your Activation 'softsign': its f\(z\) raised ValueError: .*read-only",
    ),
    "terms returns a list": (
        dict(loss=_loss(terms=lambda z, a, y: [0.0, 1.0])),
        r"^your Loss 'my-sse': its terms\(z, a, y\) must return an array of z's shape \(250,\); got an array of shape \(2,\)$",
    ),
    "terms returns complex": (
        dict(loss=_loss(terms=lambda z, a, y: (a - y) ** 2 + 0j)),
        r"^your Loss 'my-sse': its terms\(z, a, y\) must return real numbers",
    ),
    "dL_da returns a scalar": (
        dict(loss=_loss(dL_da=lambda a, y, n: 2.0)),
        r"^your Loss 'my-sse': its dL_da\(a, y, n\) must return an array of a's shape \(250,\); got an array of shape \(\)$",
    ),
    "dL_da raises": (
        dict(loss=_loss(dL_da=lambda a, y, n: 1 / 0)),
        r"^your Loss 'my-sse': its dL_da\(a, y, n\) raised ZeroDivisionError: division by zero$",
    ),
}


@pytest.mark.parametrize("case", list(BAD_PARTS))
def test_a_parts_wrong_output_is_an_error_naming_the_part_and_callable(problem, case):
    parts, match = BAD_PARTS[case]
    W, X, y = problem
    saved = X.copy()
    with pytest.raises(GdTorchError, match=match):
        gd_torch.check(W, X, y, methods=("analytic", "numeric"), **parts)
    np.testing.assert_array_equal(X, saved)


def test_the_loss_docstring_example_runs_in_check(problem):
    # the pseudo-huber example in gd_torch.Loss's docstring, run as written (its terms take a
    # and y of one shape; the finite differences evaluate it on (n, k) arrays)
    text = gd_torch.Loss.__doc__
    start = text.index("pseudo_huber = ")
    block = text[start : text.index("\n\n", start)]
    scope: dict = {"np": np, "gd_torch": gd_torch}
    exec(block, scope)
    report = gd_torch.check(*problem, loss=scope["pseudo_huber"], methods=("analytic", "autograd", "numeric"))
    assert report.ok, str(report)


def test_a_right_part_is_unchanged_by_the_checks(problem):
    W, X, y = problem
    mine = gd_torch.gradient(W, X, y, loss=_loss(), activation="sigmoid")
    np.testing.assert_allclose(mine, gd_torch.gradient(W, X, y, loss="sse"), rtol=1e-14)
    assert gd_torch.check(W, X, y, activation=_activation(), loss=_loss()).ok


# ---- --activation / --loss FILE.py:NAME in every command that takes them -------------------

PARTS_FILE = (
    "softsign = gd_torch.Activation('softsign', f=lambda z: z / (1 + np.abs(z)),\n"
    "    df=lambda z, a: 1 / (1 + np.abs(z)) ** 2, formula='a = z / (1 + |z|)',\n"
    "    dformula='da/dz = 1 / (1 + |z|)^2', smooth=False, torch_f=lambda z: z / (1 + z.abs()))\n"
    "my_sse = gd_torch.Loss('my-sse', terms=lambda z, a, y: (a - y) ** 2, reduction='sum',\n"
    "    dL_da=lambda a, y, n: 2 * (a - y), formula='L = sum_i (a_i - y_i)^2', dformula='dL/da = 2 (a - y)',\n    torch_terms=lambda z, a, y: (a - y) ** 2)\n"
)


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (["train", "--epochs", "3", "--no-plots", "--method", "analytic"], "the gradient of L = sum_i (a_i - y_i)^2"),
        (["explain"], "softsign"),
        (["landscape", "--epochs", "3", "--resolution", "8", "--surfaces", "sse"], "loss=my-sse"),
        (["sweep", "--epochs", "2", "--seeds", "1", "--alphas", "0.1", "--no-plots"], "activation softsign"),
        (["steps", "--dtype", "float64"], "of loss=my-sse, activation=softsign"),
    ],
)
def test_cli_own_parts_in_every_command(tmp_path, capsys, argv, shown):
    path = _file(tmp_path, PARTS_FILE, "parts.py")
    with_loss = [] if argv[0] == "sweep" else ["--loss", f"{path}:my_sse"]
    out_dir = [] if "--no-plots" in argv or argv[0] == "explain" else ["--out", str(tmp_path / "o")]
    code = main_within([*argv, "--activation", f"{path}:softsign", *with_loss, *out_dir], 120)
    out, err = capsys.readouterr()
    assert code in (0, 1) and err == "", err
    assert shown in out, out


@pytest.mark.parametrize("command", ["train", "explain", "landscape", "sweep", "steps"])
def test_cli_a_part_file_that_cannot_be_loaded_is_one_line_in_every_command(tmp_path, capsys, command):
    path = _file(tmp_path, "sys.exit(0)\n", "parts.py")
    err = _one_line_exit_2([command, "--activation", f"{path}:softsign"], capsys)
    assert "--activation: importing" in err and "exited with status 0" in err


# ---- a torch part that autograd cannot follow ---------------------------------------------------

UNTRACKED = (
    r"^your {kind} '{name}': its {fn}\({args}\) must return a tensor computed from z with torch operations, "
    r"so that autograd can differentiate it; got one that does not require grad"
)


def _tanh_through_numpy():
    import torch

    return gd_torch.Activation(
        name="mytanh",
        f=np.tanh,
        df=lambda z, a: 1 - a * a,
        torch_f=lambda z: torch.from_numpy(np.tanh(z.detach().numpy())),
        formula="t",
        dformula="dt",
    )


def test_a_torch_f_autograd_cannot_follow_is_an_error_not_zeros():
    X, y = gd_torch.tutorial_data()
    W = gd_torch.init_weights(3, seed=42)
    match = UNTRACKED.format(kind="Activation", name="mytanh", fn="torch_f", args="z")
    with pytest.raises(GdTorchError, match=match):
        gd_torch.diagnose(np.zeros(3), W, X, y, activation=_tanh_through_numpy())
    with pytest.raises(GdTorchError, match=match):
        gd_torch.check(W, X, y, activation=_tanh_through_numpy(), methods=("analytic", "autograd"))


def test_torch_terms_autograd_cannot_follow_is_an_error(problem):
    import torch

    W, X, y = problem
    lo = _loss(torch_terms=lambda z, a, y: torch.from_numpy((a.detach().numpy() - y.numpy()) ** 2))
    match = UNTRACKED.format(kind="Loss", name="my-sse", fn="torch_terms", args="z, a, y")
    with pytest.raises(GdTorchError, match=match):
        gd_torch.diagnose(np.zeros(3), W, X, y, loss=lo)


def test_cli_a_torch_f_autograd_cannot_follow_is_one_line_and_exit_2(tmp_path, capsys):
    body = (
        "import torch\n"
        "tanh_np = gd_torch.Activation(name='mytanh', f=np.tanh, df=lambda z, a: 1 - a * a,\n"
        "    torch_f=lambda z: torch.from_numpy(np.tanh(z.detach().numpy())), formula='t', dformula='dt')\n"
    )
    path = _file(tmp_path, body, "parts.py")
    err = _one_line_exit_2(["check", "--activation", f"{path}:tanh_np"], capsys)
    assert "your Activation 'mytanh': its torch_f(z) must return a tensor computed from z" in err, err
