"""Bad-input fuzz of the public API (hypothesis): a GdTorchError, or a finite result and no warning.

Each public function is called with random shapes, dtypes, containers (numpy, read-only,
reversed, Fortran-ordered, lists, torch tensors with or without requires_grad) and values
(1e-310 .. 1e308, NaN, inf), and with wrong types and names for its other arguments.  The
only outcomes allowed: a GdTorchError, or a result whose numbers are all finite.  The suite
runs with ``-W error``, and each call here also turns warnings into errors, so a warning
that escapes is an outcome of the third kind and fails the test.

Failures today caused by code outside the data and validation modules are pinned by the
strict xfails at the end, each with its one-line reproducer and owner.  Run with ``-s`` to
print the counts of cases tried, clean errors, finite results and other outcomes.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

import gd_torch
from gd_torch import GdTorchError

#: no shrinking: a failure is reported as found (the strict xfails below would otherwise spend
#: minutes shrinking); derandomized, so that each run tries the same cases
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    report_multiple_bugs=False,
)
COUNTS: Counter[str] = Counter()

#: values at the edges: subnormal, tiny, float32's limit and beyond, near float64's limit, non-finite
EDGES = [0.0, -0.0, 1e-310, -1e-310, 1e-300, 1e-45, 0.5, 1.0, -1.0, 3.0, 1e10, -1e10, 1e38, 3.5e38, 1e300, -1e300]
EDGES += [1e308, -1.7e308, math.nan, math.inf, -math.inf]
#: valid names, then wrong ones
NAMES = {
    "method": (["analytic", "autograd", "numeric", "tutorial"], ["Analytic", "", None, 3]),
    "loss": (["sse", "mse", "bce"], ["hinge", None]),
    "activation": (["sigmoid", "tanh", "relu", "identity"], ["softmax", 1.0]),
}
ORDINARY = st.floats(-50, 50, allow_nan=False)
#: finite values from subnormal to float64's limit
EXTREME = st.one_of(ORDINARY, st.sampled_from([v for v in EDGES if math.isfinite(v)]))
WRONG = [None, "abc", 3, 2.5, True, {"a": 1}, object(), [[1.0, 2.0], [3.0]], b"1,2"]


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    kinds = ("tried", "clean error", "finite result", "other")
    print("\nAPI fuzz:", ", ".join(f"{COUNTS[k]} {k}" for k in kinds))


# ---- strategies ---------------------------------------------------------------------------------


#: ordinary magnitudes, sometimes NaN or inf: what every function must handle today
ORDINARY_OR_NAN = st.one_of(ORDINARY, st.sampled_from([1.0] * 7 + [math.nan, math.inf, -math.inf]))
#: every edge value too (1e-310 .. 1.7e308), where the loss or its gradient can overflow
ANY = st.one_of(ORDINARY, st.sampled_from(EDGES))


def container(draw, arr: np.ndarray) -> Any:
    """The same numbers as an array, read-only array, reversed view, Fortran array, list or tensor."""
    kind = draw(st.sampled_from(["array", "read-only", "reversed", "fortran", "list", "tensor", "tensor-grad"]))
    if kind == "read-only":
        arr = arr.copy()
        arr.flags.writeable = False
        return arr
    if kind == "reversed":
        return arr[::-1].copy()[::-1]  # same values, negative strides
    if kind == "fortran":
        return np.asfortranarray(arr)
    if kind == "list":
        return arr.tolist()
    if kind.startswith("tensor") and arr.dtype in (np.float32, np.float64, np.int64, np.bool_):
        return torch.tensor(arr, requires_grad=kind == "tensor-grad" and arr.dtype.kind == "f")
    return arr


@st.composite
def problems(draw, labels01: bool = False, extreme: bool = False) -> tuple[Any, Any, Any]:
    """(W, X, y): sizes 1..6 x 1..4, any dtype and container, sometimes mismatched or wrong.

    Values: ordinary (|v| <= 50) with NaN and inf, or with ``extreme`` every edge value too.
    """
    n, d = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    dtype = draw(st.sampled_from([np.float64] * 6 + [np.float32] * 4 + [np.float16, np.longdouble, np.int64, np.bool_]))
    cell = draw(st.sampled_from([ORDINARY, EXTREME, ANY] if extreme else [ORDINARY, ORDINARY_OR_NAN]))
    X = _as(np.array(draw(st.lists(cell, min_size=n * d, max_size=n * d))).reshape(n, d), dtype)
    W = _as(
        np.array(draw(st.lists(cell, min_size=d, max_size=d))),
        draw(st.sampled_from([dtype] * 6 + [np.float64, np.float32, np.int64])),
    )
    y = np.array(
        draw(st.lists(st.sampled_from([0.0, 1.0]) if labels01 or draw(st.booleans()) else cell, min_size=n, max_size=n))
    )
    args = [container(draw, W), container(draw, X), container(draw, y)]
    if draw(st.integers(0, 9)) == 7:  # a wrong shape or type in one place (7: hypothesis favours 0 and 9)
        k = draw(st.integers(0, 2))
        args[k] = draw(st.sampled_from([*WRONG, np.ones(d + 1), np.ones((n, d, 1)), np.ones(0)]))
    return tuple(args)


def _as(values: np.ndarray, dtype: Any) -> np.ndarray:
    # float64 values in dtype: beyond float32 they become inf, on purpose; an integer dtype gets
    # the values' integer parts (NaN and inf as 0, |v| above 1e18 clipped: they have no int64)
    if np.dtype(dtype).kind in "iub":
        values = np.clip(np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0), -1e18, 1e18)
    with np.errstate(over="ignore"):
        return values.astype(dtype)


# ---- the one assertion ------------------------------------------------------------------------------


def attempt(call: Callable[[], Any], numbers: Callable[[Any], list[Any]] = lambda r: [r]) -> str:
    """Run ``call``: a GdTorchError passes; otherwise every number in ``numbers(result)`` must be finite."""
    COUNTS["tried"] += 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            result = call()
    except GdTorchError:
        COUNTS["clean error"] += 1
        return "clean error"
    except BaseException:
        COUNTS["other"] += 1
        raise
    bad = [x for x in numbers(result) if not _finite(x)]
    if bad:
        COUNTS["other"] += 1
        raise AssertionError(f"non-finite result returned: {bad[0]!r}")
    COUNTS["finite result"] += 1
    return "finite result"


def _finite(x: Any) -> bool:
    if isinstance(x, torch.Tensor):
        return bool(torch.isfinite(x).all())
    arr = np.asarray(x)
    return arr.dtype.kind not in "fc" or bool(np.isfinite(arr).all())


def _width(W: Any) -> int:
    # len(W) for any W the strategies make, 1 for the wrong types
    try:
        return len(W)
    except TypeError:
        return 1


def fields(obj: Any) -> list[Any]:
    """Every float or float array inside a result dataclass, recursively (lists and dicts too)."""
    if dataclasses.is_dataclass(obj):
        return [x for f in dataclasses.fields(obj) for x in fields(getattr(obj, f.name))]
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in fields(v)]
    if isinstance(obj, list | tuple):
        return [x for v in obj for x in fields(v)]
    return [obj] if isinstance(obj, float | np.ndarray | np.floating) else []


# ---- one test per public function ----------------------------------------------------------------------
# Each function is fuzzed at ordinary magnitudes (|v| <= 50, NaN, inf), which must pass, and at every
# edge value (1e-310 .. 1.7e308).  Where the maths of another module fails at the edges today, the
# edge test is a strict xfail whose explicit @example is the reproducer, so that it fails whatever
# hypothesis generates, and passes (XPASS, a failure) only once the owner's fix holds for every case.


def name(kind: str) -> st.SearchStrategy[Any]:
    """A valid name of ``kind`` four times in five, else a wrong one."""
    valid, wrong = NAMES[kind]
    return st.sampled_from(valid * 4 + wrong)  # (st.one_of would draw its last branch most)


LOSS_ACT = st.fixed_dictionaries({"loss": name("loss"), "activation": name("activation")})
METHOD = name("method")
SSE = {"loss": "sse", "activation": "sigmoid"}


def _objective(case, kw):
    attempt(lambda: gd_torch.objective(*case, **kw))


@FUZZ
@given(case=problems(), kw=LOSS_ACT)
def test_objective(case, kw):
    _objective(case, kw)


@FUZZ
@given(case=problems(extreme=True), kw=LOSS_ACT)
@example(case=([0.0], [[0.0]], [1e300]), kw=SSE)
def test_objective_extreme(case, kw):
    _objective(case, kw)


def _gradient(case, method, kw):
    attempt(lambda: gd_torch.gradient(*case, method=method, **kw))


@FUZZ
@given(case=problems(), method=METHOD, kw=LOSS_ACT)
def test_gradient(case, method, kw):
    _gradient(case, method, kw)


@FUZZ
@given(case=problems(extreme=True), method=METHOD, kw=LOSS_ACT)
@example(case=([0.0, 0.0], [[0.0, 1e300]], [1e10]), method="analytic", kw=SSE)
def test_gradient_extreme(case, method, kw):
    _gradient(case, method, kw)


NUMERIC_OPTIONS = st.fixed_dictionaries(
    {},
    optional={
        "scheme": st.sampled_from(["central", "forward", "richardson", "complex", "backward", None]),
        "step": st.sampled_from([1e-3, 1e-6, np.float32(1e-3), 0.0, -1.0, math.nan, [1e-3]]),
        "batch": st.sampled_from([1, 2, 64, 0, 1.5, None, np.int64(3)]),
    },
)


@FUZZ
@given(case=problems(labels01=True), options=NUMERIC_OPTIONS)
def test_numeric_options(case, options):
    attempt(lambda: gd_torch.gradient(*case, method="numeric", **options))


CHECK = st.fixed_dictionaries(
    {
        "methods": st.sampled_from(
            [("analytic", "autograd"), ("analytic", "numeric", "tutorial"), ("autograd", "numeric:complex"), ["x", 1]]
        ),
        "mode": st.sampled_from(["full", "full", "directional", "fast"]),
        "seed": st.sampled_from([0, 1, -1, 1.5, True]),
    }
)


def _report_numbers(report: Any) -> list[Any]:
    # the gradients and their predicted errors must be finite, unless the report says that one of
    # them is not (status 'non-finite', ok False: the reported NaN or inf is then the finding); a
    # pair's |diff|/tol is inf where an exact method's tolerance is 0 and another method differs
    if any(p.status == "non-finite" for p in report.pairs):
        assert not report.ok, "a non-finite pair in a report that says OK"
        return []
    return fields(report.gradients) + fields(report.errors)


def _check(case, kw, options):
    attempt(lambda: gd_torch.check(*case, **options, **kw), _report_numbers)


@FUZZ
@given(case=problems(), kw=LOSS_ACT, options=CHECK)
def test_check(case, kw, options):
    _check(case, kw, options)


@FUZZ
@given(case=problems(extreme=True), kw=LOSS_ACT, options=CHECK)
@example(case=([0.5, 0.5], [[1e308, 1e308]], [0.0]), kw=SSE, options={})
def test_check_extreme(case, kw, options):
    _check(case, kw, options)


FIT = st.fixed_dictionaries(
    {
        "method": METHOD,
        "alpha": st.sampled_from([0.01, 0.1, 1.0, np.float32(0.5), 0, -1, math.nan, "0.1"]),
        "epochs": st.sampled_from([1, 3, 5, 0, 2.0, True, np.int64(2)]),
        "batch_size": st.sampled_from([None, None, 1, 2, 0, 1.5]),
        "init": st.sampled_from(["uniform", "zeros", "normal", "ones"]),
        "seed": st.sampled_from([None, 0, 3, -1, 2.5]),
    }
)


@FUZZ
@given(case=st.one_of(problems(labels01=True), problems(labels01=True, extreme=True)), kw=LOSS_ACT, options=FIT)
def test_fit(case, kw, options):
    _, X, y = case
    attempt(lambda: gd_torch.fit(X, y, **options, **kw), lambda r: [r.weights, r.loss_history, r.weights_history])


def _diagnose(case, g, kw):
    W, X, y = case
    d = _width(W)
    G = {"W": W, "zeros": np.zeros(d), "nan": np.full(d, np.nan), "list": np.ones(d).tolist(), "short": np.ones(d + 1)}
    attempt(lambda: gd_torch.diagnose(G[g], W, X, y, **kw), fields)


G_KIND = st.sampled_from(["W", "zeros", "nan", "list", "short"])
DIAGNOSE = "see the diagnose cases of test_known_failures_elsewhere; owner: diagnose.py"


@FUZZ
@given(case=problems(), g=G_KIND, kw=LOSS_ACT)
@example(case=(torch.ones(1, dtype=torch.float64, requires_grad=True), [[0.0]], [0.0]), g="W", kw=SSE)
def test_diagnose(case, g, kw):
    _diagnose(case, g, kw)


@FUZZ
@given(case=problems(extreme=True), g=G_KIND, kw=LOSS_ACT)
@example(case=([0.0, 2.0], [[0.0, 0.0], [0.0, 1e308]], [0.0, 0.0]), g="W", kw=SSE)
def test_diagnose_extreme(case, g, kw):
    _diagnose(case, g, kw)


def ledger(r: Any) -> list[Any]:
    """The numbers of an Explanation that must be finite: every stage's value and hand gradient,
    and each comparison's values except its documented 'not compared' markers: NaN at no more
    entries than it reports ``skipped``, and NaN rel_err/ratio only when nothing was compared."""
    out = fields(dataclasses.replace(r, stages=[]))
    for s in r.stages:
        out += [s.value, s.hand]
        for c in (s.autograd, s.numeric):
            if c is None:
                continue
            values = np.atleast_1d(np.asarray(c.values, dtype=np.float64))
            assert np.isnan(values).sum() <= c.skipped, (s.name, c)
            out.append(values[~np.isnan(values)])
            out += [c.rel_err, c.ratio] if c.status else []
    return out


def _explain(case, kw):
    attempt(lambda: gd_torch.explain(*case, **kw), ledger)


@FUZZ
@given(case=problems(), kw=LOSS_ACT)
@example(case=([7.0], [[7.0]], [0.0]), kw={"loss": "bce", "activation": "sigmoid"})
def test_explain(case, kw):
    _explain(case, kw)


@FUZZ
@given(case=problems(extreme=True), kw=LOSS_ACT)
@example(case=([0.0], [[0.0]], [1e300]), kw=SSE)
def test_explain_extreme(case, kw):
    _explain(case, kw)


@FUZZ
@given(X=problems(extreme=True).map(lambda c: c[1]))
@example(X=torch.zeros((1, 1), requires_grad=True))
def test_add_bias(X):
    # add_bias copies X's values: NaN in, NaN out is not its to refuse; the new column must be ones
    def numbers(out):
        values = X.detach().numpy() if isinstance(X, torch.Tensor) else X
        assert np.array_equal(out[:, 1:], np.asarray(values, dtype=out.dtype), equal_nan=True)
        return [out[:, 0]]

    attempt(lambda: gd_torch.add_bias(X), numbers)


@FUZZ
@given(
    n=st.sampled_from([1, 3, 50, 0, -1, 2.0, True, "3", np.int64(4), 10**18, None]),
    init=st.sampled_from(["uniform", "zeros", "normal", "ones", None]),
    seed=st.sampled_from([None, 0, 7, -1, 1.5, True, np.int32(3), "1"]),
    dtype=st.sampled_from(["float64", "float32", np.float32, "float16", None, "int", "f8,,"]),
)
def test_init_weights(n, init, seed, dtype):
    attempt(lambda: gd_torch.init_weights(n, init, seed, dtype))


@FUZZ
@given(
    n=st.sampled_from([1, 2, 250, 0, -3, 2.5, True, "10", np.int64(5), 10**15]),
    d=st.sampled_from([1, 2, 5, 0, 1.0, None, 10**12]),
    seed=st.sampled_from([0, 20, 2**32 - 1, 2**32, -1, 1.5, None, True]),
    std=st.sampled_from([1.05, 0.0, 1e-300, 1e30, 1e300, -1, math.nan, math.inf, "1", np.float32(2)]),
    dtype=st.sampled_from(["float64", "float32", "float16", None]),
)
def test_tutorial_data(n, d, seed, std, dtype):
    attempt(lambda: gd_torch.tutorial_data(n, d, seed=seed, cluster_std=std, dtype=dtype), list)


CELLS = ["1", "-2.5", "3e2", ".5", "1e-310", "1e308", "1.7e308", "1e39", "", " ", "nan", "inf", "-Infinity"]
CELLS += ["1_000", "\u0663", "\uff15", "0x1", "1e", "abc", '"4"', "1e999", "\u00a01"]


@FUZZ
@given(
    header=st.lists(st.sampled_from(["a", "b", "y", "id", " y", "\ufeffa"]), min_size=1, max_size=4),
    rows=st.lists(st.lists(st.sampled_from(CELLS), min_size=0, max_size=5), min_size=0, max_size=5),
    label=st.sampled_from(["y", "y", "a", "nope", 3, None]),
    drop=st.sampled_from([(), (), ["id"], ["a", "b"], "id", [3]]),
    standardize=st.sampled_from([False, False, True, "yes"]),
    dtype=st.sampled_from(["float64", "float32", "float16"]),
    ending=st.sampled_from(["\n", "\r\n", "\r"]),
)
def test_load_csv(tmp_path_factory, header, rows, label, drop, standardize, dtype, ending):
    path = tmp_path_factory.mktemp("csv") / "d.csv"
    path.write_text(ending.join([",".join(header), *(",".join(r) for r in rows)]) + ending, encoding="utf-8")
    attempt(lambda: gd_torch.load_csv(path, label, drop=drop, standardize=standardize, dtype=dtype), list)


@FUZZ
@given(path=st.sampled_from([3, None, b"x.csv", 2.5, ["a.csv"], "/dev/null", "/dev/zero", "/", ""]))
def test_load_csv_paths(path):
    attempt(lambda: gd_torch.load_csv(path, "y"), list)


# ---- known failures elsewhere: each flips to XPASS (a failure) when its owner fixes it ----------------

X0, y0 = gd_torch.tutorial_data(6)
W0 = gd_torch.init_weights(3, seed=0)


def _ro(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.flags.writeable = False
    return a


def _inf_X() -> np.ndarray:
    X = X0.copy()
    X[2, 1] = np.inf
    return X


def known(call: Callable[[], Any], expected: str, reproducer: str, owner: str, raises=None) -> Any:
    """One reproducer of a failure in another module, a strict xfail until its owner fixes it."""
    mark = pytest.mark.xfail(strict=True, reason=f"{reproducer}; owner: {owner}", raises=raises)
    return pytest.param(call, expected, id=reproducer.split(" ->")[0][:70], marks=mark)


def fixed(call: Callable[[], Any], expected: str, reproducer: str) -> Any:
    """A reproducer of a failure its owner has fixed: now an ordinary case that must pass."""
    return pytest.param(call, expected, id=reproducer.split(" ->")[0][:70])


def _numeric(**options: Any) -> Callable[[], Any]:
    return lambda: gd_torch.gradient(W0, X0, y0, method="numeric", **options)


def _huge(method: str) -> Callable[[], Any]:
    return lambda: gd_torch.gradient([0.0, 0.0], [[0.0, 1e300]], [1e10], method=method)


KNOWN = [
    fixed(lambda: gd_torch.check(W0, X0, y0, methods=None), "clean error",
          "check(W, X, y, methods=None) -> TypeError"),
    fixed(lambda: gd_torch.check([0.0], [[0.0]], [1e300]), "no failure",
          "check([0.], [[0.]], [1e300]) -> RuntimeWarning overflow"),
    fixed(lambda: gd_torch.check([0.5, 0.5], [[1e308, 1e308]], [0.0]), "no failure",
          "check([.5, .5], [[1e308, 1e308]], [0.]) -> RuntimeWarning overflow"),
    fixed(_numeric(step="1e-3"), "clean error",
          "gradient(W, X, y, method='numeric', step='1e-3') -> accepted"),
    fixed(_numeric(step=True), "clean error",
          "gradient(W, X, y, method='numeric', step=True) -> accepted"),
    fixed(_numeric(batch=True), "clean error",
          "gradient(W, X, y, method='numeric', batch=True) -> accepted"),
    fixed(_numeric(step=1e300), "step must be .* here between",
          "gradient(W, X, y, method='numeric', step=1e300) -> zeros"),
    fixed(_numeric(step=1e-320), "clean error",
          "gradient(W, X, y, method='numeric', step=1e-320) -> zeros"),
    fixed(lambda: gd_torch.gradient([0.0], [[0.0]], [1e300], method="numeric"), "no failure",
          "gradient([0.], [[0.]], [1e300], method='numeric') -> RuntimeWarning overflow"),
    fixed(_huge("analytic"), "no failure",
          "gradient([0., 0.], [[0., 1e300]], [1e10], method='analytic') -> RuntimeWarning overflow"),
    fixed(_huge("tutorial"), "no failure",
          "gradient([0., 0.], [[0., 1e300]], [1e10], method='tutorial') -> RuntimeWarning overflow"),
    fixed(_huge("autograd"), "no failure",
          "gradient([0., 0.], [[0., 1e300]], [1e10], method='autograd') -> [0., -inf]"),
    fixed(lambda: gd_torch.gradient_function(X0, y0, method="autograd")(_ro(W0)), "no failure",
          "gradient_function(X, y, method='autograd')(read-only W) -> UserWarning not writable"),
    fixed(lambda: gd_torch.fit(_inf_X(), y0, epochs=2), "X must be finite",
          "fit(X with an inf cell, y) -> 'training diverged ... try a smaller learning rate'"),
    fixed(lambda: gd_torch.objective([0.0], [[0.0]], [1e300]), "no failure",
          "objective([0.], [[0.]], [1e300]) -> RuntimeWarning overflow"),
    fixed(lambda: gd_torch.add_bias(torch.zeros((1, 1), requires_grad=True)), "no failure",
          "add_bias(torch.zeros((1, 1), requires_grad=True)) -> RuntimeError"),
    fixed(lambda: gd_torch.explain([0.0], [[0.0]], [1e300]), "no failure",
          "explain([0.], [[0.]], [1e300]) -> an inf loss stage"),
    fixed(lambda: tuple(ledger(gd_torch.explain([7.0], [[7.0]], [0.0], loss="bce"))), "no failure",
          "explain([7.], [[7.]], [0.], loss='bce') -> dL/da = inf (a = 1 exactly)"),
    fixed(lambda: gd_torch.explain([800.0], [[1.0]], [0.0], loss="bce"), r"dL/da .* at sample 0 .* beyond float64's range",
          "explain([800.], [[1.]], [0.], loss='bce') -> dL/da = inf (1 + e^800 overflows)"),
    fixed(_numeric(step=10**400), "clean error",
          "gradient(W, X, y, method='numeric', step=10**400) -> OverflowError"),
    fixed(lambda: gd_torch.diagnose([1.0], [-18.0], [[11.0]], [0.0]), "no failure",
          "diagnose([1.], [-18.], [[11.]], [0.]) -> factors +-inf"),
    fixed(lambda: gd_torch.diagnose([0.0, 0.0], [0.0, 0.0], [[0.0, 3e-308]], [0.0]), "no failure",
          "diagnose([0., 0.], [0., 0.], [[0., 3e-308]], [0.]) -> factors nan"),
    fixed(lambda: gd_torch.diagnose([-18.0, 0.0], [-18.0, 0.0], [[0.0, 0.0], [11.0, 0.0]], [0.0, 0.0]), "no failure",
          "diagnose([-18., 0.], [-18., 0.], [[0., 0.], [11., 0.]], [0., 0.]) -> ValueError min() arg is empty"),
    fixed(lambda: gd_torch.diagnose(torch.ones(1, requires_grad=True), [0.0], [[0.0]], [0.0]), "no failure",
          "diagnose(torch.ones(1, requires_grad=True), [0.], [[0.]], [0.]) -> RuntimeError"),
    fixed(lambda: gd_torch.diagnose([0.0, 2.0], [0.0, 2.0], [[0.0, 0.0], [0.0, 1e308]], [0.0, 0.0]), "no failure",
          "diagnose([0., 2.], [0., 2.], [[0., 0.], [0., 1e308]], [0., 0.]) -> RuntimeWarning overflow"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "expected"), KNOWN)
def test_known_failures_elsewhere(call, expected):
    # expected: 'clean error' (a GdTorchError), 'no failure' (a GdTorchError or a finite result),
    # or a phrase the GdTorchError must contain
    numbers = lambda r: fields(r) if dataclasses.is_dataclass(r) else list(r) if isinstance(r, tuple) else [r]  # noqa: E731
    if expected == "no failure":
        attempt(call, numbers)
    elif expected == "clean error":
        assert attempt(call, numbers) == "clean error"
    else:
        with pytest.raises(GdTorchError, match=expected):
            call()
