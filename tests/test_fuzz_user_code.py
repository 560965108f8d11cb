"""Fuzz of the user's own code: gradient files and functions, Activation and Loss parts.

Surfaces: "user files" (a gradient g(W, X, y) that raises, exits, takes the wrong arguments,
returns a wrong shape, type, NaN or complex, writes into its inputs, or whose file fails to
import) and "parts' outputs" (a user's Activation or Loss whose functions return a wrong
shape, None, a list, complex, NaN, raise or write into their input), through the API
(gd_torch.check) and the command line (check, train, explain; in-process, tests/cli_run.py).

Every outcome must be a clean error (a GdTorchError; on the command line exit 2 with one line
on stderr and nothing on stdout) or a correct verdict (a right gradient or part agrees, a wrong
one does not; train and explain finish); anything else counts as "other" and fails.  The
caller's X and y must come back unchanged.  Run with ``-s`` for the counts.
"""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
import pytest
from cli_run import main_within

import gd_torch
from gd_torch import GdTorchError

COUNTS: Counter[str] = Counter()
KINDS = ("tried", "clean error", "verdict", "other")

HEADER = "import sys\nimport numpy as np\nimport torch\nimport gd_torch\n\n"
#: dL/dW for the default problem (sse, sigmoid): X^T [2 (a - y) a (1 - a)]
RIGHT = "    a = 1 / (1 + np.exp(-(X @ W)))\n    return X.T @ (2 * (a - y) * a * (1 - a))\n"

#: a user's gradient file (defining g) -> what it must give: 'error', or the verdict 'ok' / 'fail'
GRADIENTS = {
    "right": ("def g(W, X, y):\n" + RIGHT, "ok"),
    "right, as a list": ("def g(W, X, y):\n    return list(_g(W, X, y))\n\ndef _g(W, X, y):\n" + RIGHT, "ok"),
    "right, as a tensor": ("def g(W, X, y):\n    return torch.tensor(_g(W, X, y))\n\ndef _g(W, X, y):\n" + RIGHT, "ok"),
    "right, on a copy of X": ("def g(W, X, y):\n    X = X.copy()\n    X *= 1.0\n" + RIGHT, "ok"),
    "half": ("def g(W, X, y):\n    return _g(W, X, y) / 2\n\ndef _g(W, X, y):\n" + RIGHT, "fail"),
    "1e6 everywhere": ("def g(W, X, y):\n    return np.full_like(W, 1e6)\n", "fail"),
    "zeros": ("def g(W, X, y):\n    return np.zeros_like(W)\n", "fail"),
    "integers": ("def g(W, X, y):\n    return np.ones(W.shape, dtype=int)\n", "fail"),
    "raises RuntimeError": ("def g(W, X, y):\n    raise RuntimeError('boom')\n", "error"),
    "raises KeyError": ("def g(W, X, y):\n    return {}['k']\n", "error"),
    "divides by zero": ("def g(W, X, y):\n    return 1 // 0\n", "error"),
    "asserts": ("def g(W, X, y):\n    assert False, 'no'\n", "error"),
    "sys.exit(0)": ("def g(W, X, y):\n    sys.exit(0)\n", "error"),
    "sys.exit(3)": ("def g(W, X, y):\n    sys.exit(3)\n", "error"),
    "one argument": ("def g(W):\n    return W\n", "error"),
    "four arguments": ("def g(W, X, y, z):\n    return W\n", "error"),
    "keyword-only": ("def g(*, W, X, y):\n    return W\n", "error"),
    "W[:1]": ("def g(W, X, y):\n    return W[:1]\n", "error"),
    "one too many": ("def g(W, X, y):\n    return np.append(W, 0.0)\n", "error"),
    "a scalar": ("def g(W, X, y):\n    return 1.0\n", "error"),
    "2-D": ("def g(W, X, y):\n    return W[:, None]\n", "error"),
    "None": ("def g(W, X, y):\n    pass\n", "error"),
    "a ragged list": ("def g(W, X, y):\n    return [1.0, [2.0, 3.0], 4.0]\n", "error"),
    "strings": ("def g(W, X, y):\n    return np.array(['a'] * W.shape[0])\n", "error"),
    "a dict": ("def g(W, X, y):\n    return {'W': W}\n", "error"),
    "complex": ("def g(W, X, y):\n    return W * (1 + 1j)\n", "error"),
    "NaN": ("def g(W, X, y):\n    return W * np.nan\n", "error"),
    "inf": ("def g(W, X, y):\n    return W / 0.0 if False else np.full_like(W, np.inf)\n", "error"),
    "centres X": ("def g(W, X, y):\n    X -= X.mean(0)\n" + RIGHT, "error"),
    "relabels y": ("def g(W, X, y):\n    y[y == 0] = -1\n" + RIGHT, "error"),
    "zeroes X": ("def g(W, X, y):\n    X[:] = 0\n    return np.zeros_like(W)\n", "error"),
    "moves W": ("def g(W, X, y):\n    W += 1\n" + RIGHT, "error"),
    "copyto y": ("def g(W, X, y):\n    np.copyto(y, 0.0)\n" + RIGHT, "error"),
}
#: files that fail before g is reached (command line only)
BROKEN_FILES = {
    "syntax error": "def g(W, X, y)\n    return W\n",
    "missing module": "import no_such_module_here\n",
    "1 / 0 at import": "1 / 0\n",
    "sys.exit(0) at import": "sys.exit(0)\n",
    "sys.exit(1) at import": "sys.exit(1)\n",
    "no g": "def h(W, X, y):\n    return W\n",
    "g is not callable": "g = 3\n",
}

SOFTSIGN = dict(
    f="lambda z: z / (1 + np.abs(z))",
    df="lambda z, a: 1 / (1 + np.abs(z)) ** 2",
    torch_f="lambda z: z / (1 + z.abs())",
)
MY_SSE = dict(
    terms="lambda z, a, y: (a - y) ** 2",
    dL_da="lambda a, y, n: 2 * (a - y)",
    torch_terms="lambda z, a, y: (a - y) ** 2",
)
#: (which part, the function replaced, its new source) -> 'error', 'ok' or 'fail'
PARTS = {
    ("activation", None, None): "ok",
    ("loss", None, None): "ok",
    ("activation", "df", "lambda z, a: 1 / (1 + np.abs(z))"): "fail",  # a wrong derivative
    ("loss", "dL_da", "lambda a, y, n: (a - y)"): "fail",
    ("activation", "f", "lambda z: z[:1]"): "error",
    ("activation", "f", "lambda z: z * (1 + 0j)"): "error",
    ("activation", "f", "lambda z: None"): "error",
    ("activation", "f", "lambda z: list(z / (1 + np.abs(z)))"): "ok",  # the right values, as a list
    ("activation", "f", "lambda z: z * np.nan"): "error",
    ("activation", "f", "lambda z: np.multiply(z, 0.5, out=z)"): "error",
    ("activation", "f", "lambda z: 1 / 0"): "error",
    ("activation", "f", "lambda z: sys.exit(0)"): "error",
    ("activation", "f", "lambda: 0.0"): "error",
    ("activation", "df", "lambda z, a: np.ones(1)"): "error",
    ("activation", "df", "lambda z, a: 1.0"): "error",
    ("activation", "df", "lambda z, a: np.array([str(v) for v in z])"): "error",
    ("activation", "df", "lambda z, a: np.full(z.shape, np.inf)"): "error",
    ("activation", "df", "lambda z, a: [1.0, [2.0]]"): "error",
    ("loss", "terms", "lambda z, a, y: ((a - y) ** 2)[:1]"): "error",
    ("loss", "terms", "lambda z, a, y: (a - y) ** 2 + 0j"): "error",
    ("loss", "terms", "lambda z, a, y: None"): "error",
    ("loss", "terms", "lambda z, a, y: float(np.sum((a - y) ** 2))"): "error",
    ("loss", "dL_da", "lambda a, y, n: np.ones(1)"): "error",
    ("loss", "dL_da", "lambda a, y, n: np.full(a.shape, np.nan)"): "error",
    ("loss", "dL_da", "lambda a, y: 2 * (a - y)"): "error",
    ("loss", "dL_da", "lambda a, y, n: np.subtract(a, y, out=a)"): "error",
}


def _part_source(kind: str, field: str | None, source: str | None) -> str:
    fields = dict(SOFTSIGN if kind == "activation" else MY_SSE)
    if field is not None:
        fields[field] = source
    body = ", ".join(f"{k}={v}" for k, v in fields.items())
    if kind == "activation":
        return HEADER + f"mine = gd_torch.Activation('softsign', {body}, formula='f', dformula='df', smooth=False)\n"
    return HEADER + f"mine = gd_torch.Loss('my-sse', {body}, reduction='sum', formula='L', dformula='dL')\n"


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    print("\nuser-code fuzz:", ", ".join(f"{COUNTS[k]} {k}" for k in KINDS))


@pytest.fixture(scope="module")
def problem():
    X, y = gd_torch.tutorial_data()
    return gd_torch.init_weights(3, seed=42), X, y


def _load(tmp_path, source: str, name: str = "mine"):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    return path


def _api(call, expected: str, data: tuple) -> None:
    # a GdTorchError, or a report whose verdict is the expected one; the caller's arrays unchanged
    COUNTS["tried"] += 1
    saved = [a.copy() for a in data]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            report = call()
    except GdTorchError:
        outcome = "clean error"
    except BaseException:
        COUNTS["other"] += 1
        raise
    else:
        outcome = "verdict" if report.ok == (expected == "ok") and expected != "error" else "other"
        assert outcome == "verdict", f"expected {expected}, got:\n{report}"
    if outcome == "clean error" and expected == "ok":
        COUNTS["other"] += 1
        pytest.fail("a right gradient or part was refused")
    for before, after in zip(saved, data, strict=True):
        np.testing.assert_array_equal(before, after)
    COUNTS[outcome] += 1


def _cli(argv: list[str], expected: str, capsys, verdicts: tuple[int, ...]) -> None:
    # exit 2 with one line on stderr and nothing on stdout, or a verdict exit code
    COUNTS["tried"] += 1
    try:
        code = main_within(argv)
    except BaseException:
        COUNTS["other"] += 1
        raise
    out, err = capsys.readouterr()
    if code == 2 and err.count("\n") == 1 and err.startswith("gd-torch: error: ") and out == "":
        ok = expected != "ok"
        COUNTS["clean error" if ok else "other"] += 1
        assert ok, f"a right gradient or part was refused: {err}"
        return
    ok = expected != "error" and code in verdicts and "Traceback" not in err
    COUNTS["verdict" if ok else "other"] += 1
    assert ok, f"expected {expected}; exit {code}\nstdout: {out[-2000:]}\nstderr: {err[-2000:]}"


# ---- user gradients -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(GRADIENTS))
def test_user_gradient_through_the_api(tmp_path, problem, case):
    source, expected = GRADIENTS[case]
    scope: dict = {}
    exec(HEADER + source, scope)
    W, X, y = problem
    _api(lambda: gd_torch.check(W, X, y, methods=("analytic", "numeric", scope["g"])), expected, (W, X, y))


@pytest.mark.parametrize("case", list(GRADIENTS))
def test_user_gradient_file_on_the_command_line(tmp_path, capsys, case):
    source, expected = GRADIENTS[case]
    path = _load(tmp_path, HEADER + source)
    verdict = {"ok": (0,), "fail": (1,), "error": ()}[expected]
    _cli(["check", "--methods", "analytic,numeric", "--gradient", f"{path}:g"], expected, capsys, verdict)


@pytest.mark.parametrize("case", list(BROKEN_FILES))
def test_user_gradient_file_that_does_not_load(tmp_path, capsys, case):
    path = _load(tmp_path, HEADER + BROKEN_FILES[case])
    _cli(["check", "--gradient", f"{path}:g"], "error", capsys, ())


def test_user_gradient_on_a_dataset_folder(tmp_path, capsys, problem):
    _, X, y = problem
    (tmp_path / "d").mkdir()
    np.save(tmp_path / "d" / "X.npy", X)
    np.save(tmp_path / "d" / "y.npy", y)
    path = _load(tmp_path, HEADER + GRADIENTS["1e6 everywhere"][0])
    _cli(["check", "--dataset", str(tmp_path / "d"), "--gradient", f"{path}:g"], "error", capsys, ())


# ---- the outputs of a user's Activation and Loss -----------------------------------------------------


def _ids(case: tuple) -> str:
    kind, field, source = case
    return kind if field is None else f"{kind}.{field}={source}"


@pytest.mark.parametrize("case", list(PARTS), ids=_ids)
def test_user_part_through_the_api(problem, case):
    expected = PARTS[case]
    scope: dict = {}
    try:
        exec(_part_source(*case), scope)
    except GdTorchError:  # refused by the constructor (not callable): a clean error too
        COUNTS["tried"] += 1
        COUNTS["clean error"] += 1
        assert expected == "error"
        return
    W, X, y = problem
    key = case[0]
    _api(lambda: gd_torch.check(W, X, y, **{key: scope["mine"]}), expected, (W, X, y))


@pytest.mark.parametrize("command", ["check", "train", "explain"])
@pytest.mark.parametrize("case", list(PARTS), ids=_ids)
def test_user_part_file_on_the_command_line(tmp_path, capsys, case, command):
    expected = PARTS[case]
    path = _load(tmp_path, _part_source(*case), "parts")
    argv = {
        "check": ["check", "--methods", "analytic,autograd,numeric"],
        "train": ["train", "--method", "analytic", "--epochs", "2", "--no-plots", "--quiet"],
        "explain": ["explain"],
    }[command]
    # check and explain judge (0 agrees, 1 not); train finishes (0) whatever the derivative is
    verdicts = {"check": {"ok": (0,), "fail": (1,)}, "explain": {"ok": (0,), "fail": (1,)}}.get(command)
    allowed = (0,) if verdicts is None else verdicts.get(expected, ())
    if command == "train" and expected == "fail":
        expected = "ok"  # a wrong derivative trains, on the wrong gradient: not a verdict
    _cli([*argv, f"--{case[0]}", f"{path}:mine"], expected, capsys, allowed)
