"""Gradient descent on one neuron: one loop for every gradient method.

For z = X @ W, a = f(z), L = loss(a, y), each epoch takes the step

    W <- W - alpha * dL/dW

on the whole data (``batch_size=None``, the tutorial's vanilla descent) or on mini-batches
of a reshuffled copy (``batch_size=b``).  The pieces are apart: :func:`fit` validates its
arguments once (:mod:`gd_torch.train.fit_args`), picks a :class:`Stepper` (full batch or
mini-batch, :mod:`gd_torch.train.steppers`), and :func:`run_loop` runs epochs until a stop rule
holds.  The loop reports through a callback and never prints.  A loss that runs away (NaN,
inf, or more than DIVERGENCE_FACTOR times its start and still growing) raises
:class:`TrainingDiverged` with the epoch, the learning rate and the last good weights.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .._errors import TrainingDiverged
from ..base import validate as _validate
from ..model.activations import Activation, predicts_one
from ..model.forward import init_weights
from .fit_args import FitArgs, fit_args
from .steppers import Stepper, make_stepper

#: why a run stopped
StopReason = Literal["epochs", "tol", "patience", "callback"]
STOP_REASONS: tuple[StopReason, ...] = ("epochs", "tol", "patience", "callback")
#: a loss above this multiple of its start that grew for GROWING epochs in a row is a divergence
#: (reported before it reaches inf; a converging run never multiplies its loss by 1e10)
DIVERGENCE_FACTOR = 1e10
GROWING = 3
#: a run stalled when it ends with misclassified samples, its loss fell by less than
#: STALL_FRACTION of itself over its last STALL_EPOCHS epochs, and f'(z) ~ 0 (mean below
#: FLAT_SLOPE) on the misclassified samples: they no longer move W.  A plateau where f' is not
#: ~0 there is a minimum of the loss (the samples' pulls balance), not a stall.
STALL_FRACTION = 1e-4
STALL_EPOCHS = 10
FLAT_SLOPE = 1e-3


def stall_tally(X: np.ndarray, y: np.ndarray, W: np.ndarray, act: Activation) -> np.ndarray:
    """[misclassified, samples, sum of f'(z) on the misclassified, samples with f'(z) != 0] of
    one block of rows: the stall rule's counts, added over the blocks of a dataset."""
    a, d = slopes(X, W, act)
    wrong = predicts_one(a) != y
    return np.array([np.count_nonzero(wrong), y.shape[0], np.sum(d[wrong]), np.count_nonzero(d)], dtype=np.float64)


def stall_line(L: np.ndarray, epochs_run: int, activation: str, tally) -> str | None:
    """The stall rule (STALL_FRACTION above) on a loss history L; ``tally()`` gives the final
    weights' :func:`stall_tally` over all the data, called only when the loss has flattened."""
    if epochs_run == 0:
        return None
    before = L[max(0, L.shape[0] - 1 - STALL_EPOCHS)]
    if not before - L[-1] < STALL_FRACTION * abs(before):
        return None
    wrong, n, slope_sum, alive = tally()
    if not wrong or slope_sum / wrong >= FLAT_SLOPE:
        return None
    epochs = min(STALL_EPOCHS, epochs_run)
    head = (
        f"training stalled: the loss changed by {L[-1] - before:.2g} over the last {epochs} epochs "
        f"with {int(wrong)} of {int(n)} samples misclassified"
    )
    if not alive:
        return f"{head}: every unit dead (f'(z) = 0 on all {int(n)} samples), so no gradient reaches W"
    return (
        f"{head}: f'(z) ~ 0 on the misclassified samples (mean {slope_sum / wrong:.2g}; "
        f"{activation} saturated there), so they barely move W"
    )


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
    stop_reason: StopReason
    method: str
    loss: str
    activation: str
    alpha: float
    batch_size: int | None
    seed: int | None
    #: the training data (references, not copies), for accuracy_history
    data: tuple[np.ndarray, np.ndarray] = field(repr=False, compare=False)
    #: the activation function, for accuracy_history
    f: Callable[[np.ndarray], np.ndarray] = field(repr=False, compare=False, default=None)  # type: ignore[assignment]
    #: the activation itself (a registered one or a user's own), for its z* (the decision boundary)
    act: Activation | None = field(repr=False, compare=False, default=None)

    @functools.cached_property
    def accuracy_history(self) -> np.ndarray:
        """Shape (epochs_run + 1,): the fraction of training samples with predict_labels(a) == y for each
        row of weights_history, a = f(X W_k).  Computed on first use, in one batched pass
        (the training loop does not pay for it)."""
        X, y = self.data
        out = np.empty(self.weights_history.shape[0], dtype=np.float64)
        rows = max(1, (4 << 20) // (X.shape[0] * X.itemsize))  # blocks of A of about 4 MiB
        with np.errstate(over="ignore", invalid="ignore"):
            for s in range(0, out.shape[0], rows):
                A = self.f(self.weights_history[s : s + rows] @ X.T)  # (rows, n_samples)
                out[s : s + rows] = np.count_nonzero(predicts_one(A) == y, axis=1)
        return out / X.shape[0]

    @functools.cached_property
    def stall(self) -> str | None:
        """None, or why training stalled, in one line (rule: STALL_FRACTION above): every unit
        dead (f'(z) = 0 on every sample, as for a ReLU with z <= 0 everywhere), or f'(z) ~ 0 on
        the misclassified samples (a saturated activation).  Computed on first use, from the
        final weights and the loss history."""
        if self.act is None:
            return None
        X, y = self.data
        return stall_line(
            self.loss_history, self.epochs_run, self.act.name, lambda: stall_tally(X, y, self.weights, self.act)
        )

    @property
    def final_loss(self) -> float:
        return float(self.loss_history[-1])

    @property
    def final_accuracy(self) -> float:
        return float(self.accuracy_history[-1])


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
    method : a gradient method of :data:`gd_torch.METHODS` ('analytic', 'autograd',
        'numeric' (= 'numeric:central'), 'numeric:<scheme>', 'tutorial' (X^T (f(XW) - y) / N))
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
    device : 'cpu', or 'cuda'/'cuda:N' for a method that runs on torch
    callback : called as ``callback(k, W_k, L_k)`` for k = 0, 1, ..., epochs_run once the loss of
        the weights after k epochs is known; ``W_k`` is a row of the result's history (do not
        modify it).  Returning True stops the run (stop_reason 'callback').  The rules are
        checked in the order epochs, tol, patience, callback; the first that holds is the reason.

    Returns
    -------
    FitResult

    Raises
    ------
    GdTorchError
        On bad input, naming the parameter, the value and what is accepted.
    TrainingDiverged
        When the loss runs away (a GdTorchError with ``.epoch``, ``.alpha``, ``.weights`` = the
        last good weights, ``.loss_history``).
    """
    a = fit_args(X, y, method, loss, activation, alpha, epochs, batch_size, tol, patience, init, seed, device, callback)
    W0 = init_weights(a.X.shape[1], a.init, a.seed, a.X.dtype)
    stepper = make_stepper(a)
    weights, losses, k, reason = run_loop(W0, stepper, a)
    return FitResult(
        weights=weights[k].copy(),
        loss_history=losses,
        weights_history=weights,
        epochs_run=k,
        stop_reason=reason,
        method=a.method.name,
        loss=a.lo.name,
        activation=a.act.name,
        alpha=a.alpha,
        batch_size=a.batch_size,
        seed=a.seed,
        data=(a.X, a.y),
        f=a.act.f,
        act=a.act,
    )


def run_loop(W0: np.ndarray, stepper: Stepper, a: FitArgs) -> tuple[np.ndarray, np.ndarray, int, StopReason]:
    """Epochs 0, 1, ... until a stop rule holds: (weights history, loss history, epochs run, reason).

    The epochs run in blocks, one per size of the history (:class:`_History`): within a block
    the loop only evaluates L, writes it and W into rows of the history (two row views per epoch,
    nothing else allocated by the loop), compares L with the divergence bound, and runs the
    tol, patience and callback rules only when one of them is set.
    The stepper's arithmetic runs under ``np.errstate(all="ignore")`` (an overflow is a
    divergence, which the loop reports); a callback runs under the caller's error state."""
    history = _History(W0, a.epochs + 1)
    stop = _StopRules(a, np.geterr())
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        k, reason = 0, None
        while reason is None:
            k, reason = _block(history, stepper, stop, a, k)
    return history.weights[: k + 1], history.losses[: k + 1].copy(), k, reason


def _block(h: _History, stepper: Stepper, stop: _StopRules, a: FitArgs, first: int) -> tuple[int, StopReason | None]:
    # epochs first, first + 1, ... while the history has their rows: (k, reason) where a rule held, or
    # (the first row of the next block, None) after growing the history
    weights, losses, loss, step, alpha, rules = h.weights, h.losses, stepper.loss, stepper.step, a.alpha, stop.rules
    last = min(weights.shape[0] - 1, a.epochs)
    limit = h.limit
    for k in range(first, last):
        W = weights[k]
        L = loss(W)  # L at the weights after k epochs, on all the data
        losses[k] = L
        if not L <= limit:  # NaN, inf, or above DIVERGENCE_FACTOR times the start (or epoch 0)
            limit = _check_divergence(k, L, h, alpha)
        if rules is not None and (reason := rules(k, W, L)) is not None:
            return k, reason
        W_next = weights[k + 1]
        W_next[:] = W
        step(W_next, alpha)  # one epoch: W_{k+1} = W_k - alpha dL/dW, in place
    h.limit = limit
    if last < a.epochs:
        h.next_row(last)
        return last, None
    W = weights[last]
    L = loss(W)
    losses[last] = L
    if not L <= limit:
        _check_divergence(last, L, h, alpha)
    return last, stop.last(last, W, L)


class _StopRules:
    # the rules in the order epochs, tol, patience, callback: ``rules(k, W, L)`` (None when only
    # the epochs rule is set) gives the first that holds before the last epoch, ``last`` at it;
    # a callback is called at every k, under the error state ``err`` of fit's caller
    def __init__(self, a: FitArgs, err: dict) -> None:
        self.a, self.err, self.best, self.since = a, err, math.inf, 0
        self.rules = None if a.callback is None and a.tol is None and a.patience is None else self.before_last

    def _callback(self, k: int, W: np.ndarray, L: float) -> bool:
        with np.errstate(**self.err):
            return bool(self.a.callback(k, W, L))

    def before_last(self, k: int, W: np.ndarray, L: float) -> StopReason | None:
        a = self.a
        by_callback = a.callback is not None and self._callback(k, W, L)
        if L < self.best:
            self.best, self.since = L, 0
        else:
            self.since += 1
        if a.tol is not None and L <= a.tol:
            return "tol"
        if a.patience is not None and self.since >= a.patience:
            return "patience"
        return "callback" if by_callback else None

    def last(self, k: int, W: np.ndarray, L: float) -> StopReason:
        if self.a.callback is not None:
            self._callback(k, W, L)
        return "epochs"  # first in the order: it holds at k = epochs whatever the others say


class _History:
    # weights and losses per epoch, grown up to epochs + 1 rows (not preallocated at epochs x D):
    # doubling while that stays under a quarter of the final size, then straight to it, so that
    # at a growth the old rows beside the new array never exceed 1.5 times the final size (what
    # gd_torch.train.fit_args estimates before training).  ``limit``: the divergence rule's bound
    # on L (see _check_divergence), -inf until the loss at epoch 0 is known.
    def __init__(self, W0: np.ndarray, rows: int | None = None) -> None:
        self.rows = rows
        start = rows if rows is not None and rows <= 2 * _FIRST_ROWS else _FIRST_ROWS
        self.weights = np.empty((start, W0.shape[0]), dtype=W0.dtype)
        self.weights[0] = W0
        self.losses = np.empty(self.weights.shape[0], dtype=np.float64)
        self.limit = -math.inf

    def _grown(self, c: int) -> int:
        # from c rows: 2c, or the final size once 4c reaches it (c < final / 2 then: c + final <= 1.5 final)
        return 2 * c if self.rows is None or 4 * c < self.rows else self.rows

    def next_row(self, k: int) -> np.ndarray:
        if k + 1 >= self.weights.shape[0]:
            n = self._grown(self.weights.shape[0])
            weights, losses = np.empty((n, self.weights.shape[1]), self.weights.dtype), np.empty(n)
            weights[: k + 1], losses[: k + 1] = self.weights[: k + 1], self.losses[: k + 1]
            self.weights, self.losses = weights, losses
        return self.weights[k + 1]


#: rows of the history before its first growth
_FIRST_ROWS = 16
#: the largest float: the divergence bound on L when the start L0 <= 0
_LARGEST = sys.float_info.max


def _check_divergence(k: int, L: float, h: _History, alpha: float) -> float:
    # NaN or inf, or more than DIVERGENCE_FACTOR times the start and growing for GROWING epochs;
    # otherwise the bound below which L needs no check: DIVERGENCE_FACTOR L0 (the largest float
    # when L0 <= 0, so that only inf and NaN fail it)
    L0 = float(h.losses[0])
    recent = h.losses[max(0, k - GROWING) : k + 1]
    running_away = L0 > 0 and L > DIVERGENCE_FACTOR * L0 and k >= GROWING and bool(np.all(np.diff(recent) > 0))
    if math.isfinite(L) and not running_away:
        return min(DIVERGENCE_FACTOR * L0, _LARGEST) if L0 > 0 else _LARGEST
    if k == 0:
        raise TrainingDiverged(
            f"the loss at the initial weights is {L}: X's values are too large for this loss; scale X",
            epoch=0,
            alpha=alpha,
            weights=h.weights[0].copy(),
            loss_history=h.losses[:0].copy(),
        )
    how = f"{L:.3g}" + (f" ({L / L0:.2g} times its start, and growing)" if math.isfinite(L) else "")
    raise TrainingDiverged(
        f"training diverged at epoch {k}: the loss became {how} with alpha={alpha:g}; "
        f"try a smaller learning rate, e.g. alpha={alpha / 10:g}",
        epoch=k,
        alpha=alpha,
        weights=h.weights[k - 1].copy(),
        loss_history=h.losses[:k].copy(),
    )


def epoch_label(k: int, last: int) -> str:
    """How a run's printout names row k of ``weights_history`` (of rows 0 .. last): "epoch #k+1"
    for the weights epoch k+1 starts from (the tutorial's "epoch #k, loss=..." lines), and for the
    last row "after epoch #last's update" ("at the initial weights" when no epoch ran)."""
    if k < last:
        return f"epoch #{k + 1}"
    return f"after epoch #{k}'s update" if k else "at the initial weights"


def slopes(X: np.ndarray, W: np.ndarray, act: Activation) -> tuple[np.ndarray, np.ndarray]:
    """(a, f'(z)) at z = X W, each of shape (n_samples,), overflow tolerated (a saturates)."""
    with np.errstate(over="ignore"):
        z = X @ W
        a = act.f(z)
        return a, act.df(z, a)


def predict_labels(a: np.ndarray) -> np.ndarray:
    """The tutorial's threshold: label 1 where the activation a >= 0.5, else 0 (int array).

    The one rule (:func:`gd_torch.model.activations.predicts_one`) that the accuracy and the drawn
    boundary z = z* (:attr:`gd_torch.Activation.threshold`) also follow."""
    return predicts_one(a).astype(np.int64)


__all__ = [
    "DIVERGENCE_FACTOR",
    "STOP_REASONS",
    "FitResult",
    "StopReason",
    "epoch_label",
    "fit",
    "predict_labels",
    "run_loop",
    "slopes",
]
_ = _validate  # validation lives in _fit_args
