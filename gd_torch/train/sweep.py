"""Final loss and accuracy of gradient descent over gradient methods x losses x learning rates x seeds.

Each cell is one run of :func:`gd_torch.fit`.  Besides the loss and the accuracy it records
how saturated the activation is where the errors are:

    slope = mean f'(z_i) over the misclassified samples i at the final W

For the sigmoid f'(z) = a (1 - a) <= 1/4; near 0 the misclassified samples' terms of the
exact squared-error gradient, 2 (a_i - y_i) a_i (1 - a_i) X_i, vanish and descent is stuck,
while the tutorial's rule X^T (a - y) / N, which has no a (1 - a) factor, keeps moving.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import GdTorchError, bad_value
from ..base import memory as _memory
from ..base import validate as _validate
from ..gradients import gradient_function
from ..model.activations import predicts_one
from ..model.forward import init_weights, resolve
from .loop import fit, slopes

#: a run counts as trained when its final accuracy reaches this
TRAINED = 0.9


@dataclass(frozen=True)
class Cell:
    """One run: ``final_loss`` and ``accuracy`` are NaN when it diverged (``diverged_at`` is
    then the epoch); ``slope`` is the mean f'(z) over the misclassified samples at the final
    weights (NaN when none is misclassified or the run diverged)."""

    method: str
    loss: str
    alpha: float
    seed: int
    final_loss: float
    accuracy: float
    slope: float
    diverged_at: int | None

    @property
    def trained(self) -> bool:
        return self.diverged_at is None and self.accuracy >= TRAINED


@dataclass(frozen=True)
class Finding:
    """At ``alpha``, the row ``worse`` (method, loss) stays below TRAINED for ``seeds`` where
    the row ``better`` trains; ``n_better`` and ``n_worse`` count the seeds each trains."""

    alpha: float
    better: tuple[str, str]
    worse: tuple[str, str]
    seeds: tuple[int, ...]
    n_better: int
    n_worse: int


@dataclass(frozen=True, eq=False)
class SweepResult:
    """Every cell of one sweep, with the grid it ran over.  ``rows`` are the (method, loss)
    pairs in order; ``initial_slopes[k]`` is the mean f'(z) over the data at the initial W of
    ``seeds[k]``, how saturated the activation is before the first step."""

    methods: tuple[str, ...]
    losses: tuple[str, ...]
    alphas: tuple[float, ...]
    seeds: tuple[int, ...]
    epochs: int
    activation: str
    init: str
    cells: tuple[Cell, ...]
    initial_slopes: tuple[float, ...]

    @property
    def rows(self) -> list[tuple[str, str]]:
        return [(m, lo) for m in self.methods for lo in self.losses]

    @functools.cached_property
    def _index(self) -> dict[tuple[str, str, float, int], Cell]:
        return {(c.method, c.loss, c.alpha, c.seed): c for c in self.cells}

    def cell(self, method: str, loss: str, alpha: float, seed: int) -> Cell:
        return self._index[(method, loss, alpha, seed)]

    def trained_seeds(self, method: str, loss: str, alpha: float) -> tuple[int, ...]:
        return tuple(s for s in self.seeds if self.cell(method, loss, alpha, s).trained)

    def findings(self) -> list[Finding]:
        """Every (alpha, better row, worse row) where one trains a seed the other does not: measured, not assumed."""
        out = []
        for alpha in self.alphas:
            ok = {row: set(self.trained_seeds(*row, alpha)) for row in self.rows}
            for a in self.rows:
                for b in self.rows:
                    stuck = tuple(sorted(ok[a] - ok[b]))
                    if a != b and stuck:
                        out.append(Finding(alpha, a, b, stuck, len(ok[a]), len(ok[b])))
        return out


def sweep(
    X: Any,
    y: Any,
    *,
    methods: Sequence[str] = ("tutorial", "analytic"),
    losses: Sequence[str] = ("sse",),
    alphas: Sequence[float] = (0.001, 0.01, 0.1, 1.0),
    seeds: Sequence[int] = tuple(range(10)),
    activation: Any = "sigmoid",
    epochs: int = 100,
    batch_size: int | None = None,
    init: str = "uniform",
    device: str = "cpu",
) -> SweepResult:
    """Train every (method, loss, alpha, seed) with :func:`gd_torch.fit`; a run that diverges is
    recorded (``Cell.diverged_at``), not raised.

    X : array of shape (n_samples, n_features); y : shape (n_samples,), labels 0 or 1
    methods, losses : distinct names of gd_torch.METHODS and gd_torch.LOSSES; every method
        runs with every loss (the tutorial's rule ignores the loss for its step, and the loss
        is then only what is reported)
    alphas : distinct finite learning rates > 0; seeds : distinct integers >= 0, the seeds of
        the initial weights; activation a name or a gd_torch.Activation; the rest as :func:`gd_torch.fit`
    """
    methods, losses = _names("methods", methods), _names("losses", losses)
    alphas = _alphas(alphas)
    runs = len(methods) * len(losses) * len(alphas)
    if hasattr(seeds, "__len__"):  # range(10**9): refused before a list of it is made
        _memory.at_most("seeds", len(seeds), runs * CELL_BYTES + SEED_BYTES, f"the results of {runs} runs per seed")
    seeds = _seeds(seeds)
    for method in methods:  # every name and pair, the data and the device: refused before any run
        for loss in losses:
            gradient_function(X, y, method=method, loss=loss, activation=activation, device=device)
    cells = [
        _run(
            X,
            y,
            m,
            lo,
            alpha,
            seed,
            activation=activation,
            epochs=epochs,
            batch_size=batch_size,
            init=init,
            device=device,
        )
        for m in methods
        for lo in losses
        for alpha in alphas
        for seed in seeds
    ]
    X = np.asarray(X)
    slopes = tuple(mean_slope(X, init_weights(X.shape[1], init, s, X.dtype), activation) for s in seeds)
    return SweepResult(methods, losses, alphas, seeds, epochs, activation, init, tuple(cells), slopes)


#: memory per result cell (a Cell with its floats) and per seed (the int, its slope, the list entries)
CELL_BYTES = 512
SEED_BYTES = 256


def mean_slope(X: np.ndarray, W: np.ndarray, activation: Any, y: np.ndarray | None = None) -> float:
    """How saturated the activation is at W: the mean of f'(z), z = X W, over the data, or with
    ``y`` over the misclassified samples only (predicts_one(a) != y: a >= 0.5 predicts 1); NaN when there are none."""
    a, d = slopes(X, W, resolve("sse", activation)[1])
    if y is not None:
        d = d[predicts_one(a) != y]
    return float(np.mean(d)) if d.size else math.nan


def _run(X, y, method, loss, alpha, seed, **options) -> Cell:
    try:
        r = fit(X, y, method=method, loss=loss, alpha=alpha, seed=seed, **options)
    except GdTorchError as exc:
        epoch = getattr(exc, "epoch", None)
        if not epoch:  # not a divergence, or the loss was not finite at the start: the data's fault
            raise
        return Cell(method, loss, alpha, seed, math.nan, math.nan, math.nan, epoch)
    slope = mean_slope(r.data[0], r.weights, options["activation"], r.data[1])
    return Cell(method, loss, alpha, seed, r.final_loss, r.final_accuracy, slope, None)


def _distinct(name: str, values: Any, accepted: str) -> list:
    # a non-empty collection of distinct values (the results are keyed by them: a repeat would run twice)
    try:
        items = None if isinstance(values, str | bytes) else list(values)
        ok = bool(items) and len(set(items)) == len(items)
    except TypeError:  # not iterable, or an item that is not hashable
        ok = False
    if not ok:
        raise bad_value(name, values, f"a non-empty sequence of distinct {accepted}")
    return items


def _names(name: str, values: Any) -> tuple[str, ...]:
    items = _distinct(name, values, "names")
    for v in items:
        if not isinstance(v, str):
            raise bad_value(name, values, "a non-empty sequence of distinct names")
    return tuple(items)


def _alphas(values: Any) -> tuple[float, ...]:
    accepted = "finite learning rates > 0"
    items = _distinct("alphas", values, accepted)
    try:
        return tuple(_validate.number("alphas", a, above=0) for a in items)
    except GdTorchError:
        raise bad_value("alphas", values, f"a non-empty sequence of distinct {accepted}") from None


def _seeds(values: Any) -> tuple[int, ...]:
    items = _distinct("seeds", values, "integers >= 0")
    return tuple(_validate.seed("seeds", s, none_ok=False) for s in items)
