"""gd_torch.fit: the tutorial's run, reproducibility, every method, stopping rules, divergence, mini-batches."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gd_torch import GdTorchError, add_bias, fit, gradient, init_weights, objective, tutorial_data
from gd_torch.gradients import METHODS
from gd_torch.train.loop import STOP_REASONS, FitResult


@pytest.fixture(scope="module")
def small():
    # small enough for the numeric method (2 D + 1 evaluations of the loss per step)
    return tutorial_data(n_samples=40, seed=3)


def test_tutorial_run_trains(blobs):
    X, y = blobs
    r = fit(X, y, method="tutorial", seed=42)
    assert isinstance(r, FitResult)
    assert r.epochs_run == 100 and r.stop_reason == "epochs"
    assert r.loss_history.shape == (101,) and r.weights_history.shape == (101, 3)
    assert r.final_accuracy >= 0.98
    assert r.loss_history[-1] < 0.2 * r.loss_history[0]
    # the history is the tutorial's: row 0 is the seeded uniform [0, 1) start, losses are its sse
    np.testing.assert_array_equal(r.weights_history[0], init_weights(3, "uniform", 42))
    for k in (0, 50, 100):
        assert r.loss_history[k] == pytest.approx(objective(r.weights_history[k], X, y, loss="sse"), rel=1e-12)
    np.testing.assert_array_equal(r.weights, r.weights_history[-1])


def test_accuracy_history_matches_predictions(blobs):
    X, y = blobs
    r = fit(X, y, method="tutorial", seed=1, epochs=30)
    assert r.accuracy_history.shape == (31,)
    for k in (0, 7, 30):
        a = 1 / (1 + np.exp(-(X @ r.weights_history[k])))
        assert r.accuracy_history[k] == np.mean((a >= 0.5) == y)


@pytest.mark.parametrize("batch_size", [None, 16])
def test_seeded_runs_are_bit_for_bit(blobs, batch_size):
    X, y = blobs
    a = fit(X, y, seed=7, epochs=20, batch_size=batch_size)
    b = fit(X, y, seed=7, epochs=20, batch_size=batch_size)
    c = fit(X, y, seed=8, epochs=20, batch_size=batch_size)
    np.testing.assert_array_equal(a.weights_history, b.weights_history)
    np.testing.assert_array_equal(a.loss_history, b.loss_history)
    assert not np.array_equal(a.weights_history, c.weights_history)


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize(("loss", "activation"), [("sse", "sigmoid"), ("bce", "sigmoid"), ("mse", "tanh")])
def test_first_step_is_the_methods_gradient(small, method, loss, activation):
    # the loop's step is exactly W - alpha * gradient(W, method=...), bit for bit, whichever route it takes
    X, y = small
    alpha = 0.03
    r = fit(X, y, method=method, loss=loss, activation=activation, alpha=alpha, epochs=2, seed=5)
    for k in (0, 1):
        W = r.weights_history[k]
        expected = W - alpha * gradient(W, X, y, method=method, loss=loss, activation=activation)
        np.testing.assert_array_equal(r.weights_history[k + 1], expected)


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("loss", ["sse", "mse", "bce"])
def test_every_method_trains(small, method, loss):
    X, y = small
    alpha = {"sse": 0.005, "mse": 0.5, "bce": 0.5}[loss]
    r = fit(X, y, method=method, loss=loss, alpha=alpha, epochs=60, init="zeros")
    assert r.final_accuracy >= 0.95
    assert r.loss_history[-1] < r.loss_history[0]


@pytest.mark.parametrize(
    ("activation", "init", "alpha"), [("tanh", "zeros", 0.1), ("identity", "zeros", 0.01), ("relu", "uniform", 0.01)]
)
def test_other_activations_train(small, activation, init, alpha):
    X, y = small
    r = fit(X, y, loss="mse", activation=activation, alpha=alpha, epochs=200, init=init, seed=0)
    assert r.final_accuracy >= 0.9
    assert r.loss_history[-1] < r.loss_history[0]


def test_float32_stays_float32(blobs):
    X, y = blobs
    r = fit(X.astype(np.float32), y.astype(np.float32), method="tutorial", seed=42, epochs=30)
    assert r.weights.dtype == np.float32 and r.weights_history.dtype == np.float32
    assert r.loss_history.dtype == np.float64
    r64 = fit(X, y, method="tutorial", seed=42, epochs=30)
    eps32 = np.finfo(np.float32).eps
    # 30 steps of float32 rounding on weights of size ~1, against the float64 run
    np.testing.assert_allclose(r.weights, r64.weights, rtol=0, atol=30 * 64 * eps32)


# ---- stopping rules ------------------------------------------------------------------


def test_stop_on_epochs(blobs):
    X, y = blobs
    r = fit(X, y, method="tutorial", seed=0, epochs=13)
    assert (r.epochs_run, r.stop_reason) == (13, "epochs")
    assert len(r.loss_history) == 14


@pytest.mark.parametrize("tol", [10.0, 10, np.float32(10.0), np.int64(10)], ids=repr)
def test_stop_on_tol(blobs, tol):
    X, y = blobs
    r = fit(X, y, method="tutorial", seed=1, epochs=1000, tol=tol)
    assert r.stop_reason == "tol"
    assert r.loss_history[-1] <= 10.0
    assert (r.loss_history[:-1] > 10.0).all()
    assert r.epochs_run == len(r.loss_history) - 1 < 1000


def test_stop_on_patience(blobs):
    X, y = blobs
    # seed 0 with the exact sse gradient jumps into saturation and never gets back below its best
    patience = 5
    r = fit(X, y, method="analytic", seed=0, epochs=1000, patience=patience)
    assert r.stop_reason == "patience"
    best_before = r.loss_history[:-patience].min()
    assert (r.loss_history[-patience:] >= best_before).all()
    assert r.epochs_run < 1000


def test_callback_sees_every_epoch_and_can_stop(blobs):
    X, y = blobs
    seen = []

    def cb(k, W, L):
        seen.append((k, W.copy(), L))
        return k == 3

    r = fit(X, y, seed=0, epochs=10, callback=cb)
    assert (r.epochs_run, r.stop_reason) == (3, "callback")
    assert [k for k, _, _ in seen] == [0, 1, 2, 3]
    for k, W, L in seen:
        np.testing.assert_array_equal(W, r.weights_history[k])
        assert L == r.loss_history[k]
    assert set(STOP_REASONS) == {"epochs", "tol", "patience", "callback"}


def test_fit_prints_nothing(blobs, capsys):
    X, y = blobs
    fit(X, y, seed=0, epochs=5, batch_size=50)
    assert capsys.readouterr() == ("", "")


# ---- divergence ------------------------------------------------------------------------


def test_a_saturated_run_is_reported_as_stalled(blobs):
    # the analytic SSE gradient's first step saturates the sigmoid; half the samples then stay wrong
    X, y = blobs
    r = fit(X, y, method="analytic", seed=0)
    assert r.final_accuracy == 0.5 and r.stop_reason == "epochs"
    assert r.stall is not None and r.stall.startswith("training stalled: ")
    assert "125 of 250 samples misclassified: f'(z) ~ 0 on the misclassified samples" in r.stall


def test_a_dead_relu_is_reported_as_stalled(blobs):
    X, y = blobs
    r = fit(X, y, method="analytic", activation="relu", init="normal", seed=2)
    assert np.all(X @ r.weights <= 0)  # dead: no sample has z > 0
    assert r.stall is not None and "every unit dead (f'(z) = 0 on all 250 samples)" in r.stall


def test_a_minimum_with_errors_or_a_clean_run_is_not_a_stall(blobs):
    from sklearn.datasets import make_blobs

    X, y = blobs
    assert fit(X, y, method="tutorial", seed=42).stall is None  # the tutorial's run: 250/250
    Xo, yo = make_blobs(n_samples=200, centers=2, cluster_std=4, random_state=1)  # overlapping classes
    r = fit(add_bias(Xo), yo, method="analytic", loss="bce", alpha=0.5, epochs=2000, seed=0)
    assert r.final_accuracy < 1 and r.loss_history[-11] - r.loss_history[-1] < 1e-8  # a plateau, with errors
    assert r.stall is None  # at the minimum f'(z) is not ~0 on the misclassified: their pulls balance


def test_a_runaway_loss_stops_before_it_reaches_inf(blobs):
    # identity + analytic at alpha 0.01 grows without bound: it used to end at loss 4e159, exit 0
    from gd_torch import TrainingDiverged
    from gd_torch.train.loop import DIVERGENCE_FACTOR

    X, y = blobs
    with pytest.raises(TrainingDiverged, match=r"times its start, and growing") as info:
        fit(X, y, method="analytic", activation="identity", epochs=30, seed=42)
    err = info.value
    assert err.loss_history[-1] <= DIVERGENCE_FACTOR * err.loss_history[0] or err.epoch >= 3
    assert np.isfinite(err.loss_history).all() and err.epoch < 30


def test_a_converging_run_is_not_called_divergent(blobs):
    X, y = blobs
    r = fit(X, y, method="analytic", loss="bce", alpha=0.5, epochs=300, seed=1)
    assert r.stop_reason == "epochs"


def test_divergence_names_epoch_and_alpha(blobs):
    X, y = blobs
    with pytest.raises(
        GdTorchError,
        match=r"diverged at epoch \d+: the loss became (inf|nan|\S+ \(\S+ times its start, and growing\)) with alpha=1; try a smaller",
    ) as info:
        fit(X, y, activation="identity", alpha=1.0, seed=0)
    err = info.value
    assert err.alpha == 1.0 and 1 <= err.epoch <= 100
    assert np.isfinite(err.weights).all()
    assert len(err.loss_history) == err.epoch and np.isfinite(err.loss_history).all()
    # the weights on the error are the last ones with a finite loss
    assert math.isfinite(objective(err.weights, X, y, activation="identity"))


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("batch_size", [None, 8])
def test_divergence_with_every_method(small, method, batch_size):
    X, y = small
    with pytest.raises(GdTorchError, match="diverged at epoch") as info:
        fit(X, y, method=method, activation="identity", alpha=1.0, seed=0, batch_size=batch_size, epochs=500)
    assert np.isfinite(info.value.weights).all()
    assert info.value.alpha == 1.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_autograd_on_cuda_matches_cpu(blobs):
    X, y = blobs
    gpu = fit(X, y, method="autograd", seed=2, epochs=20, device="cuda")
    cpu = fit(X, y, method="autograd", seed=2, epochs=20)
    # rounding differences of ~eps per operation (another summation order on the GPU), over 20 steps
    np.testing.assert_allclose(gpu.weights_history, cpu.weights_history, rtol=1e6 * np.finfo(np.float64).eps, atol=0)


def test_nan_in_X_is_named_not_called_divergence(small):
    X, y = small
    X = X.copy()
    X[5, 1] = np.nan
    with pytest.raises(GdTorchError, match="X must be finite: row 5"):
        fit(X, y, seed=0)


# ---- mini-batches ----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["analytic", "tutorial", "autograd", "numeric"])
@pytest.mark.parametrize("loss", ["sse", "mse"])
def test_mini_batch_epoch_is_the_batch_gradients(small, method, loss):
    # one epoch = a seeded reshuffle, then W -= alpha * (gradient of the loss on each batch's rows)
    X, y = small
    seed, b, alpha = 11, 12, 0.01
    r = fit(X, y, method=method, loss=loss, alpha=alpha, epochs=2, batch_size=b, seed=seed)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    order = np.arange(X.shape[0])
    W = r.weights_history[0].copy()
    for k in (1, 2):
        rng.shuffle(order)
        Xs, ys = X[order], y[order]
        for s in range(0, X.shape[0], b):
            W -= alpha * gradient(W, Xs[s : s + b], ys[s : s + b], method=method, loss=loss)
        np.testing.assert_array_equal(r.weights_history[k], W)


def test_mini_batch_trains(blobs):
    X, y = blobs
    r = fit(X, y, method="analytic", loss="bce", alpha=0.1, epochs=20, batch_size=25, seed=0)
    assert r.final_accuracy >= 0.98
    assert r.batch_size == 25


# ---- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha": 0}, "alpha must be a finite number > 0"),
        ({"alpha": -0.1}, "alpha must be"),
        ({"alpha": math.nan}, "alpha must be"),
        ({"alpha": math.inf}, "alpha must be"),
        ({"alpha": "0.1"}, "alpha must be"),
        ({"epochs": 0}, "epochs must be a positive integer; got 0"),
        ({"epochs": 1.5}, "epochs must be a positive integer; got 1.5"),
        ({"epochs": True}, "epochs must be"),
        ({"batch_size": 0}, "batch_size must be None or an integer from 1 to n_samples = 40; got 0"),
        ({"batch_size": 41}, "batch_size must be .* n_samples = 40; got 41"),
        ({"batch_size": 2.5}, "batch_size must be"),
        ({"tol": math.nan}, "tol must be"),
        ({"patience": 0}, "patience must be"),
        ({"seed": -1}, "seed must be None or a non-negative integer; got -1"),
        ({"seed": 1.5}, "seed must be"),
        ({"callback": 3}, "callback must be"),
        ({"method": "adam"}, "method must be one of 'analytic', 'autograd', 'numeric:central', .*; got 'adam'"),
        ({"loss": "hinge"}, "loss must be one of"),
        ({"activation": "softmax"}, "activation must be one of"),
        ({"loss": "bce", "activation": "tanh"}, "activation must be one of 'sigmoid' with loss='bce'"),
        ({"init": "ones"}, "init must be one of 'uniform', 'zeros', 'normal'; got 'ones'"),
        ({"device": "cuda"}, "device must be 'cpu' for method='analytic'"),
        ({"method": "autograd", "device": "tpu"}, "device must be 'cpu', 'cuda' or 'cuda:N'; got 'tpu'"),
    ],
)
def test_bad_arguments(small, kwargs, match):
    X, y = small
    with pytest.raises(GdTorchError, match=match):
        fit(X, y, **kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal where there is no CUDA device")
def test_missing_cuda_is_refused_before_training(small):
    X, y = small
    with pytest.raises(GdTorchError, match="device must be available: got 'cuda'"):
        fit(X, y, method="autograd", device="cuda")


def test_labels_must_be_binary(small):
    X, y = small
    y = y.copy()
    y[3] = 2
    with pytest.raises(GdTorchError, match=r"y must be 0 or 1 .*; got 'y\[3\] = 2.0'"):
        fit(X, y)


def test_lengths_must_match(small):
    X, y = small
    with pytest.raises(GdTorchError, match=r"y must be of shape \(40,\)"):
        fit(X, y[:-1])


def test_bias_column_is_the_callers_job(small):
    # fit trains on X as given: add_bias gives the tutorial's layout, and W gets one weight per column
    X, y = small
    r = fit(add_bias(X[:, 1:]), y, epochs=3, seed=0)
    assert r.weights.shape == (3,)
