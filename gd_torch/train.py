"""Gradient descent on one neuron: one loop for every gradient method.

For z = X @ W, a = f(z), L = loss(a, y), each epoch takes the step

    W <- W - alpha * dL/dW

on the whole data (``batch_size=None``, the tutorial's vanilla descent) or on mini-batches
of a reshuffled copy (``batch_size=b``).  The gradient comes from the registry of
:mod:`gd_torch.gradients`; the loop is plain numpy, reports through a callback and never
prints.  Divergence (a NaN or inf loss) raises :class:`GdTorchError` with the epoch, the
learning rate and the last finite weights.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _validate
from ._errors import GdTorchError, bad_value
from .gradients import METHODS, analytic, gradient_function, tutorial
from .model import ACTIVATIONS, Activation, Loss, check_labels, init_weights, reduce, resolve

#: why a run stopped
STOP_REASONS = ("epochs", "tol", "patience", "callback")


@dataclass(frozen=True, eq=False)
class FitResult:
    """What :func:`fit` learned and how it got there.

    Row k of ``weights_history`` holds the weights after k epochs (row 0: the initial
    weights); ``loss_history[k]`` and ``accuracy_history[k]`` belong to those weights, so
    ``loss_history[k - 1]`` is the loss the tutorial prints as "epoch #k" (the loss of the
    weights epoch k starts from) and ``loss_history[-1]`` is the final loss.
    """

    #: final weights, shape (n_features,), bias first when X has the bias column first
    weights: np.ndarray
    #: shape (epochs_run + 1,): L at the weights of each row of weights_history (float64)
    loss_history: np.ndarray
    #: shape (epochs_run + 1, n_features)
    weights_history: np.ndarray
    #: number of epochs (passes over the data) run
    epochs_run: int
    #: one of STOP_REASONS
    stop_reason: str
    method: str
    loss: str
    activation: str
    alpha: float
    batch_size: int | None
    seed: int | None
    #: the training data (references, not copies), for accuracy_history
    data: tuple[np.ndarray, np.ndarray] = field(repr=False, compare=False)

    @functools.cached_property
    def accuracy_history(self) -> np.ndarray:
        """Shape (epochs_run + 1,): the fraction of training samples with (a >= 0.5) == y for each
        row of weights_history, a = f(X W_k).  Computed on first use, in one batched pass
        (the training loop does not pay for it)."""
        X, y = self.data
        act = ACTIVATIONS[self.activation]
        out = np.empty(self.weights_history.shape[0], dtype=np.float64)
        rows = max(1, (4 << 20) // (X.shape[0] * X.itemsize))  # blocks of A of about 4 MiB
        with np.errstate(over="ignore", invalid="ignore"):
            for s in range(0, out.shape[0], rows):
                A = act.f(self.weights_history[s : s + rows] @ X.T)  # (rows, n_samples)
                out[s : s + rows] = np.count_nonzero((A >= 0.5) == y, axis=1)
        return out / X.shape[0]

    @property
    def final_loss(self) -> float:
        return float(self.loss_history[-1])

    @property
    def final_accuracy(self) -> float:
        return float(self.accuracy_history[-1])


# Methods that are a formula in z = X @ W reuse the z and a = f(z) the loop has already
# computed for the loss (one pass over X per step instead of two), through their module's from_z.
_FROM_Z: dict[str, Callable[..., np.ndarray]] = {"analytic": analytic.from_z, "tutorial": tutorial.from_z}


def fit(
    X: Any,
    y: Any,
    *,
    method: str = "analytic",
    loss: str = "sse",
    activation: str = "sigmoid",
    alpha: float = 0.01,
    epochs: int = 100,
    batch_size: int | None = None,
    tol: float | None = None,
    patience: int | None = None,
    init: str = "uniform",
    seed: int | None = None,
    device: str = "cpu",
    callback: Callable[[int, np.ndarray, float], bool | None] | None = None,
) -> FitResult:
    r"""Train one neuron a = f(X W) by gradient descent: :math:`W \leftarrow W - \alpha\, \partial L / \partial W`.

    Parameters
    ----------
    X : array of shape (n_samples, n_features), float32 or float64, with the bias column
        already in it if one is wanted (see :func:`gd_torch.add_bias`; the tutorial's data has it first)
    y : array of shape (n_samples,), labels 0 or 1
    method : a gradient method of :data:`gd_torch.METHODS`: 'analytic', 'autograd', 'numeric'
        (central differences, its default scheme) or 'tutorial' (X^T (f(XW) - y) / N)
    loss, activation : see :func:`gd_torch.objective`
    alpha : learning rate, finite and > 0
    epochs : maximum number of passes over the data, a positive integer
    batch_size : None for full-batch descent (one step per epoch, the tutorial's); an integer
        b in [1, n_samples] for mini-batch descent: each epoch reshuffles the rows with the
        seeded generator and steps once per batch of b rows (the last one may be smaller).
        A batch step follows the gradient of the loss *on that batch* as the loss defines it:
        'sse' sums the batch's terms (a step is about b/N of a full-batch step, so an epoch moves
        about as far as one full-batch step), 'mse' and 'bce' average them (each step estimates
        the full gradient, and an epoch makes ceil(N/b) of them); 'tutorial' divides by b.
    tol : stop once the loss is at or below tol (None: never)
    patience : stop once the loss has not improved (decreased) for this many epochs (None: never)
    init : 'uniform' (on [0, 1), the tutorial's), 'zeros' or 'normal'
    seed : seeds the initial weights (as :func:`gd_torch.init_weights`) and, through an
        independent stream, the mini-batch shuffles; a seeded run is reproducible bit for bit
        on the CPU.  None draws fresh entropy.
    device : 'cpu', or 'cuda'/'cuda:N' for method='autograd'
    callback : called as ``callback(k, W_k, L_k)`` for k = 0, 1, ..., epochs_run once the loss of
        the weights after k epochs is known; ``W_k`` is a row of the result's history (do not
        modify it).  Returning True stops the run (stop_reason 'callback').  The rules are
        checked in the order epochs, tol, patience, callback; the first that holds is the reason.

    Returns
    -------
    FitResult
        ``loss_history[k]`` is L at the weights after k epochs, computed on the whole data
        from the same z = X W the next full-batch step uses; ``accuracy_history`` is computed
        from ``weights_history`` in one batched pass when first read.

    Raises
    ------
    GdTorchError
        On bad input, naming the parameter, the value and what is accepted; and when the
        loss becomes NaN or inf (``.epoch``, ``.alpha``, ``.weights`` = the last weights
        with a finite loss, ``.loss_history``).
    """
    lo, act = resolve(loss, activation)
    X, y = _xy(X, y)
    check_labels(lo, y)
    _validate.binary_labels(y, "fit trains a binary classifier; map the two classes to 0 and 1")
    n, d = X.shape
    alpha = _alpha(alpha)
    epochs = _count("epochs", epochs, "a positive integer")
    if batch_size is not None:
        batch_size = _count("batch_size", batch_size, f"None or an integer from 1 to n_samples = {n}")
        if batch_size > n:
            raise bad_value("batch_size", batch_size, f"None or an integer from 1 to n_samples = {n}")
    real = int | float | np.integer | np.floating  # np.float32(10.0) is a number too
    if tol is not None and (isinstance(tol, bool) or not isinstance(tol, real) or not math.isfinite(tol)):
        raise bad_value("tol", tol, "None or a finite number (stop once the loss is at or below it)")
    if patience is not None:
        patience = _count("patience", patience, "None or a positive integer (epochs without improvement)")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0):
        raise bad_value("seed", seed, "None or a non-negative integer")
    if callback is not None and not callable(callback):
        raise bad_value("callback", callback, "None or a callable callback(epoch, weights, loss)")
    # names, device and method options are checked here, once
    g_full = gradient_function(X, y, method=method, loss=loss, activation=activation, device=device)
    if method == "autograd":
        METHODS[method].load().resolve_device(device)  # gradient_function defers this to the first call
    from_z = _FROM_Z.get(method)
    batch_grad = None if from_z is not None else _batch_gradient(method, lo, act, device)

    # work arrays, allocated once; row k of weights is W after k epochs, the step writes row k + 1
    weights = np.empty((epochs + 1, d), dtype=X.dtype)
    weights[0] = init_weights(d, init, None if seed is None else int(seed), X.dtype)
    losses = np.empty(epochs + 1, dtype=np.float64)
    z = np.empty(n, dtype=X.dtype)
    XT = X.T
    if batch_size is not None:
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
        order = np.arange(n)
        Xs = np.empty_like(X)
        ys = np.empty_like(y)
    f, terms = act.f, lo.terms
    best, since, reason = math.inf, 0, "epochs"

    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        # overflow is an expected outcome of a too-large alpha: the loss check below reports it
        for k in range(epochs + 1):
            W = weights[k]
            np.matmul(X, W, out=z)
            a = f(z)
            L = float(reduce(lo, terms(z, a, y)))
            if not math.isfinite(L):
                _diverged(k, L, z, alpha, weights, losses)
            losses[k] = L
            stop = callback is not None and bool(callback(k, W, L))
            if k == epochs:
                break
            if tol is not None and L <= tol:
                reason = "tol"
                break
            if patience is not None:
                best, since = (L, 0) if L < best else (best, since + 1)
                if since >= patience:
                    reason = "patience"
                    break
            if stop:
                reason = "callback"
                break
            try:
                if batch_size is None:
                    # W_{k+1} = W_k - alpha dL/dW(W_k), the gradient from the z above when it is a formula in z
                    g = from_z(XT, z, a, y, lo, act) if from_z is not None else g_full(W)
                    np.subtract(W, alpha * g, out=weights[k + 1])
                    continue
                W = weights[k + 1]
                W[:] = weights[k]
                rng.shuffle(order)
                np.take(X, order, axis=0, out=Xs)
                np.take(y, order, out=ys)
                for s in range(0, n, batch_size):
                    Xb, yb = Xs[s : s + batch_size], ys[s : s + batch_size]
                    if from_z is not None:
                        zb = Xb @ W
                        W -= alpha * from_z(Xb.T, zb, f(zb), yb, lo, act)
                    else:
                        W -= alpha * batch_grad(W, Xb, yb)
            except GdTorchError:
                # a method's own check refused z = X W: X was finite at epoch 0, so if W or X W is
                # not finite now, W blew up; anything else is not a divergence
                if np.isfinite(W).all() and np.isfinite(X @ W).all():
                    raise
                _diverged(k + 1, math.nan, z, alpha, weights, losses)

    return FitResult(
        weights=weights[k].copy(),
        loss_history=losses[: k + 1],
        weights_history=weights[: k + 1],
        epochs_run=k,
        stop_reason=reason,
        method=method,
        loss=lo.name,
        activation=act.name,
        alpha=alpha,
        batch_size=batch_size,
        seed=None if seed is None else int(seed),
        data=(X, y),
    )


def predict_labels(a: np.ndarray) -> np.ndarray:
    """The tutorial's threshold: label 1 where the activation a >= 0.5, else 0 (int array)."""
    return (a >= 0.5).astype(np.int64)


# ---- helpers ---------------------------------------------------------------------------


def _xy(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    # the core's shape/dtype checks on X and y alone
    _, X, y = _validate.problem(_validate.zero_weights(X), X, y)
    return X, y


def _alpha(alpha: Any) -> float:
    ok = isinstance(alpha, int | float | np.floating | np.integer) and not isinstance(alpha, bool)
    if not ok or not math.isfinite(alpha) or alpha <= 0:
        raise bad_value("alpha", alpha, "a finite number > 0 (the learning rate)")
    return float(alpha)


def _count(name: str, value: Any, accepted: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise bad_value(name, value, accepted)
    return int(value)


def _batch_gradient(method: str, lo: Loss, act: Activation, device: str) -> Callable[..., np.ndarray]:
    # mini-batch steps of the methods that are not a formula in z: the module's grad on the
    # batch's rows (already validated as part of X and y)
    module = METHODS[method].load()
    options = {"device": device} if method == "autograd" else {}

    def grad(W: np.ndarray, Xb: np.ndarray, yb: np.ndarray) -> np.ndarray:
        g = module.grad(W, Xb, yb, lo, act, **options)
        return g if isinstance(g, np.ndarray) else g.grad

    return grad


def _diverged(k: int, L: float, z: np.ndarray, alpha: float, weights: np.ndarray, losses: np.ndarray) -> None:
    if k == 0:
        _validate.finite_z(z)  # a NaN or inf in X shows here first
        raise GdTorchError(
            f"the loss at the initial weights is {L}: X's values are too large for this loss; scale X",
            epoch=0,
            alpha=alpha,
            weights=weights[0].copy(),
            loss_history=losses[:0].copy(),
        )
    raise GdTorchError(
        f"training diverged at epoch {k}: the loss became {L} with alpha={alpha:g}; "
        f"try a smaller learning rate, e.g. alpha={alpha / 10:g}",
        epoch=k,
        alpha=alpha,
        weights=weights[k - 1].copy(),
        loss_history=losses[:k].copy(),
    )
