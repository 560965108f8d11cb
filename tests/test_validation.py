"""Bad input: one test per rule, each a GdTorchError (a ValueError) naming the parameter and the value."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from conftest import undefined_pairs

import gd_torch
from gd_torch import GdTorchError

METHODS = ("analytic", "autograd", "numeric", "tutorial")
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="tests the refusal of an absent CUDA device")


@pytest.fixture
def problem():
    X, y = gd_torch.tutorial_data()
    return gd_torch.init_weights(X.shape[1], seed=0), X, y


def raises(match: str):
    """pytest.raises for the package's error, which must also be a ValueError."""
    return pytest.raises(GdTorchError, match=match)


def test_the_package_error_is_a_value_error():
    assert issubclass(GdTorchError, ValueError)
    with pytest.raises(ValueError):
        gd_torch.gradient(np.ones(2), np.ones((3, 3)), np.ones(3))
    err = gd_torch.TrainingDiverged("boom", epoch=3, alpha=0.5, weights=[1.0], loss_history=[])
    assert isinstance(err, GdTorchError)
    assert (str(err), err.epoch, err.alpha, err.weights) == ("boom", 3, 0.5, [1.0])


# ---- shapes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_W_not_matching_the_columns_of_X(problem, method):
    W, X, y = problem
    with raises(r"^W must be of shape \(n_features,\) = \(3,\).*; got 'an array of shape \(4,\)'$"):
        gd_torch.gradient(np.ones(4), X, y, method=method)


@pytest.mark.parametrize("bad", [np.ones(5), np.ones((2, 3, 3))])
def test_X_not_2d(problem, bad):
    W, _, y = problem
    with raises(rf"^X must be 2-D.*; got 'an array of shape {re.escape(str(bad.shape))}'$"):
        gd_torch.gradient(W, bad, y)


def test_y_not_matching_the_rows_of_X(problem):
    W, X, y = problem
    with raises(r"^y must be of shape \(250,\), one label per row of X; got 'an array of shape \(249,\)'$"):
        gd_torch.objective(W, X, y[:-1])


def test_W_two_dimensional(problem):
    W, X, y = problem
    with raises(r"^W must be of shape .*; got 'an array of shape \(3, 1\)'$"):
        gd_torch.gradient(W[:, None], X, y)


@pytest.mark.parametrize("shape", [(0, 3), (5, 0)])
def test_empty_X(shape):
    with raises(rf"^X must be non-empty.*; got 'an array of shape {re.escape(str(shape))}'$"):
        gd_torch.gradient(np.ones(shape[1]), np.ones(shape), np.ones(shape[0]))


# ---- values -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_X_is_found_through_z(problem, method, value):
    W, X, y = problem
    X = X.copy()
    X[17, 2] = value
    with raises(r"^X must be finite: row 17 of X gives z = X @ W = (nan|inf|-inf) \(X holds a NaN or inf"):
        gd_torch.gradient(W, X, y, method=method)


@pytest.mark.parametrize(
    "method",
    [
        "analytic",
        "autograd",
        "numeric",
        "tutorial",
    ],
)
def test_inf_in_X_where_W_is_zero(problem, method):
    # inf * 0 = nan: still found through z, with no RuntimeWarning escaping from the matmul
    W, X, y = problem
    W, X = W.copy(), X.copy()
    W[2] = 0.0
    X[5, 2] = np.inf
    with raises(r"^X must be finite: row 5 of X gives z = X @ W = nan"):
        gd_torch.gradient(W, X, y, method=method)


def test_non_finite_X_in_objective_and_check(problem):
    W, X, y = problem
    X = X.copy()
    X[0, 1] = np.nan
    with raises(r"^X must be finite: row 0"):
        gd_torch.objective(W, X, y)
    with raises(r"^X must be finite: row 0"):
        gd_torch.check(W, X, y)


def test_overflow_of_z_is_reported_not_warned():
    X = np.array([[1.0, 2.0], [1e308, 1e308]])  # finite, but z_1 = 2e308 overflows
    with raises(r"^z = X W overflows float64 at sample 1"):
        gd_torch.objective(np.ones(2), X, np.zeros(2))


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_W(problem, value):
    W, X, y = problem
    W = W.copy()
    W[1] = value
    with raises(rf"^W must be finite \(no NaN or inf\); got 'W\[1\] = {value}'$"):
        gd_torch.gradient(W, X, y)


@pytest.mark.parametrize("value", [np.nan, -np.inf])
def test_non_finite_y(problem, value):
    W, X, y = problem
    y = y.copy()
    y[9] = value
    with raises(rf"^y must be finite \(no NaN or inf\); got 'y\[9\] = {value}'$"):
        gd_torch.gradient(W, X, y, loss="mse")


@pytest.mark.parametrize("label", [0.5, -1.0, 2.0])
def test_y_outside_0_1_for_bce(problem, label):
    W, X, y = problem
    y = y.copy()
    y[3] = label
    with raises(rf"^y must be 0 or 1 \(loss='bce' .*\); got 'y\[3\] = {label}'$"):
        gd_torch.gradient(W, X, y, loss="bce")


def test_y_outside_0_1_is_fine_for_sse(problem):
    W, X, y = problem
    g = gd_torch.gradient(W, X, y * 0.5 + 0.25, loss="sse")
    assert np.isfinite(g).all()


@pytest.mark.parametrize("name", ["X", "W", "y"])
def test_non_real_arrays(problem, name):
    W, X, y = problem
    args = {"W": W, "X": X, "y": y}
    args[name] = args[name].astype(complex)
    with raises(rf"^{name} must be .*; got 'an array of dtype complex128'$"):
        gd_torch.gradient(args["W"], args["X"], args["y"])


# ---- names --------------------------------------------------------------------------------------


def test_unknown_method(problem):
    names = r"'analytic', 'autograd', 'numeric:central', 'numeric:forward', 'numeric:richardson', 'numeric:complex', 'tutorial'"
    with raises(rf"^method must be one of {names} \(or 'numeric' for 'numeric:central'\); got 'magic'$"):
        gd_torch.gradient(*problem, method="magic")


def test_unknown_scheme(problem):
    with raises(r"^method must be one of .*; got 'numeric:backward'$"):
        gd_torch.gradient(*problem, method="numeric:backward")
    with raises(r"^options \['scheme'\] are not accepted by method='numeric'; .* part of the method's name"):
        gd_torch.gradient(*problem, method="numeric", scheme="central")


def test_unknown_loss(problem):
    with raises(r"^loss must be one of 'sse', 'mse', 'bce', 'logcosh' or a gd_torch.Loss; got 'hinge'$"):
        gd_torch.objective(*problem, loss="hinge")


def test_unknown_activation(problem):
    with raises(
        r"^activation must be one of 'sigmoid', 'tanh', 'relu', 'identity', 'softplus' or a gd_torch.Activation; got 'softmax'$"
    ):
        gd_torch.gradient(*problem, activation="softmax")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("activation", "loss"), undefined_pairs())
def test_bce_needs_the_sigmoid(problem, method, activation, loss):
    with raises(rf"^activation must be one of 'sigmoid' with loss='bce' .*; got '{activation}'$"):
        gd_torch.gradient(*problem, method=method, loss=loss, activation=activation)


@pytest.mark.parametrize("dtype", ["float16", "int64", "foo", None])
def test_unknown_dtype(dtype):
    with raises(rf"^dtype must be 'float32' or 'float64'; got {re.escape(repr(dtype))}$"):
        gd_torch.init_weights(3, dtype=dtype)
    with raises(rf"^dtype must be 'float32' or 'float64'; got {re.escape(repr(dtype))}$"):
        gd_torch.tutorial_data(dtype=dtype)


def test_unknown_mode(problem):
    with raises(r"^mode must be one of 'full', 'directional'; got 'fast'$"):
        gd_torch.check(*problem, mode="fast")


@pytest.mark.parametrize(
    ("methods", "message"),
    [
        (("analytic",), r"^methods must be at least two method names"),
        ("analytic", r"^methods must be at least two method names"),
        (("analytic", "analytic"), r"^methods must be distinct method names"),
        (("numeric", "numeric:central"), r"^methods must be distinct method names"),
        (("analytic", "numeric:backward"), r"^methods must be one of 'analytic', .*; got 'numeric:backward'$"),
        (("analytic", "autograd:complex"), r"^methods must be one of .*; got 'autograd:complex'$"),
        (("analytic", "numeric:"), r"^methods must be one of .*; got 'numeric:'$"),
        (("analytic", "autograd:"), r"^methods must be one of .*; got 'autograd:'$"),
    ],
)
def test_bad_methods_for_check(problem, methods, message):
    with raises(message):
        gd_torch.check(*problem, methods=methods)


@pytest.mark.parametrize("seed", ["a", -1, 1.5, None])
def test_check_seed_must_be_a_non_negative_integer(problem, seed):
    with raises(rf"^seed must be a non-negative integer; got {re.escape(repr(seed))}$"):
        gd_torch.check(*problem, mode="directional", seed=seed)


@pytest.mark.parametrize("seed", ["a", -1, 1.5])
def test_data_and_weight_seeds(seed):
    with raises(rf"^seed must be None or a non-negative integer; got {re.escape(repr(seed))}$"):
        gd_torch.init_weights(3, seed=seed)
    with raises(rf"^seed must be a non-negative integer < 2\*\*32; got {re.escape(repr(seed))}$"):
        gd_torch.tutorial_data(seed=seed)


@pytest.mark.parametrize(("method", "option"), [("analytic", "scheme"), ("autograd", "step"), ("tutorial", "batch")])
def test_unknown_option_for_a_method(problem, method, option):
    with raises(rf"^options \['{option}'\] are not accepted by method='{method}'; accepted: "):
        gd_torch.gradient(*problem, method=method, **{option: 1})


# ---- numeric method -------------------------------------------------------------------------------


def test_complex_step_refused_for_relu(problem):
    with raises(r"^scheme must be 'central', 'forward' or 'richardson' for activation='relu': got 'complex'; .*0\.0$"):
        gd_torch.gradient(*problem, method="numeric:complex", activation="relu")
    for mode in ("full", "directional"):  # check gives the same refusal in both modes
        with raises(r"^scheme must be 'central', 'forward' or 'richardson' for activation='relu': got 'complex'; "):
            gd_torch.check(*problem, methods=["analytic", "numeric:complex"], activation="relu", mode=mode)


def test_complex_step_refused_for_relu_in_check(problem):
    with raises(r"activation='relu': got 'complex'"):
        gd_torch.check(*problem, activation="relu", methods=("analytic", "numeric:complex"))


@pytest.mark.parametrize("method", METHODS)
def test_float16_refused(problem, method):
    W, X, y = problem
    with raises(r"^X must be of dtype float32 or float64; got 'an array of dtype float16'$"):
        gd_torch.gradient(W.astype(np.float16), X.astype(np.float16), y, method=method)


def test_float16_refused_by_the_numeric_module_itself(problem):
    from gd_torch.gradients import numeric
    from gd_torch.model.activations import ACTIVATIONS
    from gd_torch.model.losses import LOSSES

    W, X, y = (a.astype(np.float16) for a in problem)
    with raises(r"^dtype must be float32 or float64 for the numeric method; got dtype\('float16'\)$"):
        numeric.estimate(W, X, y, LOSSES["sse"], ACTIVATIONS["sigmoid"])


@pytest.mark.parametrize("step", [0, -1e-3, np.nan, np.inf, [1e-3, 1e-3], "big"])
def test_bad_step(problem, step):
    with raises(rf"^step must be a positive finite number or an array of 3 of them; got {re.escape(repr(step))}$"):
        gd_torch.gradient(*problem, method="numeric", step=step)


@pytest.mark.parametrize("batch", [0, -2, 1.5])
def test_bad_batch(problem, batch):
    with raises(rf"^batch must be None or a positive integer .*; got {re.escape(repr(batch))}$"):
        gd_torch.gradient(*problem, method="numeric", batch=batch)


# ---- dtypes and devices -------------------------------------------------------------------------


def test_W_float32_with_X_float64(problem):
    W, X, y = problem
    with raises(r"^W must be of X's dtype \(float64\); .*; got 'an array of dtype float32'$"):
        gd_torch.gradient(W.astype(np.float32), X, y)


def test_W_float64_with_X_float32(problem):
    W, X, y = problem
    with raises(r"^W must be of X's dtype \(float32\); .*; got 'an array of dtype float64'$"):
        gd_torch.gradient(W, X.astype(np.float32), y, method="autograd")


@no_cuda
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_absent_is_an_error_not_a_fallback(problem, device):
    with raises(rf"^device must be available: got '{device}', .*torch.cuda.is_available\(\) is False"):
        gd_torch.gradient(*problem, method="autograd", device=device)


@no_cuda
def test_cuda_absent_in_gradient_function_fails_at_construction(problem):
    _, X, y = problem
    with raises(r"^device must be available: got 'cuda'"):
        gd_torch.gradient_function(X, y, method="autograd", device="cuda")


@no_cuda
def test_cuda_absent_in_check(problem):
    with raises(r"^device must be available: got 'cuda'"):
        gd_torch.check(*problem, device="cuda")


@pytest.mark.parametrize("method", ["analytic", "numeric", "tutorial"])
def test_cuda_for_a_numpy_method(problem, method):
    with raises(rf"^device must be 'cpu' for method='{method}' \(it runs on the CPU only\); got 'cuda'"):
        gd_torch.gradient(*problem, method=method, device="cuda")


def test_cuda_in_check_without_autograd(problem):
    with raises(
        r"^device must be 'cpu' unless a method that runs on CUDA \(such as 'autograd'\) is among methods; got 'cuda'$"
    ):
        gd_torch.check(*problem, methods=("analytic", "numeric"), device="cuda")


@pytest.mark.parametrize("device", ["tpu", "cuda:x", None, 3])
def test_unknown_device(problem, device):
    with raises(rf"^device must be 'cpu', 'cuda' or 'cuda:N'; got {re.escape(repr(device))}$"):
        gd_torch.gradient(*problem, method="autograd", device=device)


# ---- gradient_function's g(W) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("W", "got"),
    [
        (np.ones(4), r"'an array of shape \(4,\) and dtype float64'"),
        (np.ones(3, dtype=np.float32), r"'an array of shape \(3,\) and dtype float32'"),
        ([0.1, 0.2, 0.3], r"\[0.1, 0.2, 0.3\]"),
    ],
)
def test_gradient_function_checks_W(problem, W, got):
    _, X, y = problem
    g = gd_torch.gradient_function(X, y)
    with raises(rf"^W must be a numpy array of shape \(3,\) and dtype float64 \(X's\); got {got}$"):
        g(W)


@pytest.mark.parametrize("method", METHODS)
def test_gradient_function_blames_a_nan_W_not_X(problem, method):
    _, X, y = problem
    g = gd_torch.gradient_function(X, y, method=method)
    with raises(r"^W must be finite \(no NaN or inf\); got 'W\[1\] = nan'$"):
        g(np.array([0.0, np.nan, 1.0]))


# ---- data and weights ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, -1, 1.5, True])
def test_init_weights_n_features(n):
    with raises(rf"^n_features must be a positive integer; got {re.escape(repr(n))}$"):
        gd_torch.init_weights(n)


def test_init_weights_unknown_init():
    with raises(r"^init must be one of 'uniform', 'zeros', 'normal'; got 'ones'$"):
        gd_torch.init_weights(3, init="ones")


@pytest.mark.parametrize("n", [0, 2.5, False])
def test_tutorial_data_n_samples(n):
    with raises(rf"^n_samples must be a positive integer; got {re.escape(repr(n))}$"):
        gd_torch.tutorial_data(n)


def test_add_bias_needs_a_2d_X():
    with raises(r"^X must be 2-D with at least one row; got 'an array of shape \(3,\)'$"):
        gd_torch.add_bias(np.ones(3))


def test_load_csv_missing_file(tmp_path):
    with raises(r"^csv file '.*nope.csv' cannot be read: No such file or directory$"):
        gd_torch.load_csv(tmp_path / "nope.csv", "y")


def test_load_csv_missing_label_column(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,y\n1,2,0\n")
    with raises(r"^label column must be one of the csv header's columns \['a', 'b', 'y'\]; got 'label'$"):
        gd_torch.load_csv(path, "label")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("1,2,0\n3,4\n", r"must have 3 values in every row \(one per header column\); line 3 has 2$"),
        ("1,2,0\n3,x,1\n", r"must hold plain decimal numbers only below its header .*; line 3, column 'b' holds 'x'$"),
        ("", r"must have a header row and at least one data row$"),
    ],
)
def test_load_csv_bad_rows(tmp_path, body, message):
    path = tmp_path / "d.csv"
    path.write_text("a,b,y\n" + body)
    with raises(rf"^csv file '.*d.csv' {message}"):
        gd_torch.load_csv(path, "y")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"step": [1e-3, 1e-3]}, r"^step must be a positive finite number or an array of 3 of them"),
        ({"batch": 0}, r"^batch must be None or a positive integer"),
        ({"method": "numeric:backward"}, r"^method must be one of"),
        ({"method": "numeric:complex", "activation": "relu"}, r"^scheme must be 'central', 'forward' or 'richardson'"),
    ],
)
def test_gradient_function_checks_numeric_options_at_construction(problem, options, message):
    _, X, y = problem
    with raises(message):
        gd_torch.gradient_function(X, y, **{"method": "numeric", **options})


# ---- the validators themselves ----------------------------------------------------------------------

from gd_torch.base import memory as _memory  # noqa: E402
from gd_torch.base import validate as _validate  # noqa: E402


@pytest.mark.parametrize("value", [True, False, 2.0, "3", np.float64(3), np.bool_(True), None, [3], 3 + 0j])
def test_integer_refuses_what_is_not_an_integer(value):
    with raises(rf"^n must be a positive integer; got {re.escape(repr(value))}$"):
        _validate.integer("n", value, minimum=1)


@pytest.mark.parametrize("value", [3, np.int8(3), np.uint64(3), np.int64(3)])
def test_integer_accepts_python_and_numpy_integers(value):
    out = _validate.integer("n", value, minimum=1)
    assert out == 3 and type(out) is int


@pytest.mark.parametrize(
    ("kwargs", "value", "words"),
    [
        ({"minimum": 0}, -1, "a non-negative integer"),
        ({"minimum": 8, "maximum": 10}, 11, r"an integer in \[8, 10\]"),
        ({"minimum": 5}, 4, "an integer >= 5"),
        ({"maximum": 5}, 6, "an integer <= 5"),
        ({"minimum": 0, "none_ok": True}, -1, "None or a non-negative integer"),
        ({"minimum": 1, "accepted": "a batch size"}, 0, "a batch size"),
    ],
)
def test_integer_bounds_and_words(kwargs, value, words):
    with raises(rf"^n must be {words}; got {value}$"):
        _validate.integer("n", value, **kwargs)
    assert _validate.integer("n", None, none_ok=True) is None


@pytest.mark.parametrize("value", [True, "1e-3", np.nan, np.inf, -np.inf, 10**400, 1 + 0j, np.array([1.0]), None])
def test_number_refuses_what_is_not_a_finite_real(value):
    with raises(r"^step must be a finite number > 0; got "):
        _validate.number("step", value, above=0)


@pytest.mark.parametrize("value", [1, 0.5, np.float32(0.25), np.int64(2), np.float64(1e300)])
def test_number_accepts_numpy_scalars(value):
    out = _validate.number("alpha", value, above=0)
    assert out == float(value) and type(out) is float


def test_number_bounds():
    with raises(r"^tol must be a finite number >= 0 and <= 1; got 2$"):
        _validate.number("tol", 2, minimum=0, maximum=1)
    with raises(r"^x must be a finite number > 0; got 0$"):
        _validate.number("x", 0, above=0)
    assert _validate.number("tol", 0, minimum=0) == 0.0


# ---- what problem() accepts and returns ------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("requires_grad", [False, True])
def test_torch_tensors_are_accepted(problem, method, requires_grad):
    W, X, y = problem
    Wt = torch.tensor(W, requires_grad=requires_grad)
    Xt, yt = torch.tensor(X), torch.tensor(y)
    g = gd_torch.gradient(Wt, Xt, yt, method=method)
    np.testing.assert_array_equal(g, gd_torch.gradient(W, X, y, method=method))
    assert Wt.grad is None  # the caller's graph is not touched


def test_torch_tensor_dtypes_numpy_cannot_hold(problem):
    W, X, y = problem
    with raises(
        r"^X must be a dense tensor of a numpy dtype \(float32 or float64\); got 'a tensor of dtype torch.bfloat16"
    ):
        gd_torch.gradient(W, torch.tensor(X).bfloat16(), y)
    with raises(r"^X must be a dense tensor .*layout torch.sparse_coo"):
        gd_torch.gradient(W, torch.tensor(X).to_sparse(), y)


@pytest.mark.parametrize(
    "X",
    [[[1.0, 2.0], [3.0]], [[1.0, 2.0], [3.0, [4.0]]], [[torch.tensor(1.0, requires_grad=True), 2.0]]],
    ids=["ragged", "nested", "tensor-in-list"],
)
def test_what_numpy_cannot_make_into_one_array(X):
    with raises(r"^X must be an array or a rectangular nested list of numbers; got 'a list numpy cannot make"):
        gd_torch.objective(np.ones(2), X, np.ones(len(X)))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("which", ["W", "X", "y"])
def test_read_only_arrays_give_no_torch_warning(problem, method, which):
    # the suite runs with -W error: torch's "The given NumPy array is not writable" would fail it
    args = dict(zip("WXy", problem, strict=True))
    args[which] = args[which].copy()
    args[which].flags.writeable = False
    g = gd_torch.gradient(args["W"], args["X"], args["y"], method=method)
    np.testing.assert_array_equal(g, gd_torch.gradient(*problem, method=method))


def test_problem_copies_only_what_torch_cannot_share(problem):
    W, X, y = problem
    _, X2, _ = _validate.problem(W, X, y)
    assert X2 is X  # writeable, positive strides: used as it is
    ro = np.broadcast_to(X, X.shape)
    _, X3, _ = _validate.problem(W, ro, y)
    assert X3 is not ro and X3.flags.writeable
    _, X4, _ = _validate.problem(W, X[::-1], y[::-1])
    assert all(s > 0 for s in X4.strides)
    _, X5, _ = _validate.problem(W, np.asfortranarray(X), y)
    assert X5.flags.f_contiguous  # kept as it is: torch shares Fortran arrays


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble, np.float32])
def test_a_float_W_of_another_dtype_is_refused_not_cast(problem, dtype):
    W, X, y = problem
    if np.dtype(dtype) == np.float64:
        pytest.skip("longdouble is float64 on this platform")
    with raises(rf"^W must be of X's dtype \(float64\); .*; got 'an array of dtype {np.dtype(dtype)}'$"):
        gd_torch.gradient(W.astype(dtype), X, y)


def test_integer_W_and_y_are_converted(problem):
    _, X, y = problem
    g = gd_torch.gradient([1, 0, 2], X, y.astype(np.int64))
    np.testing.assert_array_equal(g, gd_torch.gradient(np.array([1.0, 0.0, 2.0]), X, y))


def test_longdouble_X_is_refused(problem):
    W, X, y = problem
    if np.dtype(np.longdouble) == np.float64:
        pytest.skip("longdouble is float64 on this platform")
    with raises(r"^X must be of dtype float32 or float64; got 'an array of dtype float128'$"):
        gd_torch.gradient(W, X.astype(np.longdouble), y)


def test_y_beyond_float32_is_an_error_not_an_overflow_warning(problem):
    W, X, y = problem
    y = y.copy()
    y[4] = 1e300
    with raises(r"^y must be within the range of float32 \(\|value\| <= 3.403e\+38\); got 'y\[4\] = 1e\+300'$"):
        gd_torch.gradient(W.astype(np.float32), X.astype(np.float32), y, loss="mse")


def test_y_of_another_float_dtype_is_converted_silently(problem):
    W, X, y = problem
    g = gd_torch.gradient(W.astype(np.float32), X.astype(np.float32), y.astype(np.float64))
    assert g.dtype == np.float32


# ---- data arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cluster_std": -1}, r"^cluster_std must be a finite number >= 0.0; got -1$"),
        ({"cluster_std": np.nan}, r"^cluster_std must be a finite number >= 0.0; got nan$"),
        ({"cluster_std": "1"}, r"^cluster_std must be a finite number >= 0.0; got '1'$"),
        (
            {"cluster_std": 1e300, "dtype": "float32"},
            r"^cluster_std must be small enough that every sample is finite in float32",
        ),
        ({"seed": 2**32}, r"^seed must be a non-negative integer < 2\*\*32; got 4294967296$"),
        ({"seed": True}, r"^seed must be a non-negative integer < 2\*\*32; got True$"),
        (
            {"n_features": np.float64(2)},
            rf"^n_features must be a positive integer; got {re.escape(repr(np.float64(2)))}$",
        ),
    ],
)
def test_tutorial_data_checks_every_argument(kwargs, message):
    with raises(message):
        gd_torch.tutorial_data(**kwargs)


def test_tutorial_data_refuses_what_memory_cannot_hold(monkeypatch):
    monkeypatch.setattr(_memory, "available_bytes", lambda: 10 * 2**30)
    with raises(
        r"^the blobs \(X of 1000000000 x 3 float64 and y\) needs about 82.0 GiB but 10.0 GiB is available; "
        r"lower n_samples or n_features$"
    ):
        gd_torch.tutorial_data(10**9)


def test_init_weights_refuses_what_memory_cannot_hold():
    with raises(r"^W \(1000000000000000 float64\) needs about .* is available; lower n_features$"):
        gd_torch.init_weights(10**15)


# ---- _memory -----------------------------------------------------------------------------------------


def test_available_bytes_reads_meminfo(tmp_path, monkeypatch):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       32000000 kB\nMemFree: 100 kB\nMemAvailable:   22020096 kB\n")
    monkeypatch.setattr(_memory, "MEMINFO", meminfo)
    monkeypatch.setattr(_memory, "CGROUP_MAX", tmp_path / "absent")
    assert _memory.available_bytes() == 22020096 * 1024


def test_available_bytes_under_a_cgroup_limit(tmp_path, monkeypatch):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemAvailable:   22020096 kB\n")
    (tmp_path / "max").write_text("1073741824\n")
    (tmp_path / "current").write_text("73741824\n")
    monkeypatch.setattr(_memory, "MEMINFO", meminfo)
    monkeypatch.setattr(_memory, "CGROUP_MAX", tmp_path / "max")
    monkeypatch.setattr(_memory, "CGROUP_CURRENT", tmp_path / "current")
    assert _memory.available_bytes() == 10**9


def test_available_bytes_falls_back_to_sysconf(tmp_path, monkeypatch):
    monkeypatch.setattr(_memory, "MEMINFO", tmp_path / "absent")
    monkeypatch.setattr(_memory, "CGROUP_MAX", tmp_path / "absent")
    monkeypatch.setattr(_memory.os, "sysconf", lambda name: {"SC_AVPHYS_PAGES": 1000, "SC_PAGE_SIZE": 4096}[name])
    assert _memory.available_bytes() == 4096000


def test_available_bytes_unknown_refuses_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(_memory, "MEMINFO", tmp_path / "absent")
    monkeypatch.setattr(_memory, "CGROUP_MAX", tmp_path / "absent")
    monkeypatch.setattr(_memory, "_sysconf_available", lambda: None)
    assert _memory.available_bytes() is None
    _memory.require(10**30, "anything", "--nothing")


def test_require_message(monkeypatch):
    monkeypatch.setattr(_memory, "available_bytes", lambda: int(21.0 * 2**30))
    nbytes = _memory.array_bytes((10**9, 3), "float64")
    with raises(
        r"^the weight history \(1000000000 x 3 float64\) needs about 22.4 GiB but 21.0 GiB is available; lower --epochs$"
    ) as info:
        _memory.require(nbytes, "the weight history (1000000000 x 3 float64)", "--epochs")
    assert (info.value.needed, info.value.available) == (nbytes, int(21.0 * 2**30))
    _memory.require(2**30, "a small thing", "--epochs")  # fits: returns


def test_array_bytes_never_overflows():
    assert _memory.array_bytes((2**40, 2**40), np.float32) == 2**82
    assert (_memory.gib(1536), _memory.gib(3 * 2**20), _memory.gib(100)) == ("1.5 KiB", "3.0 MiB", "100 bytes")
