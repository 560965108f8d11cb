"""The loss surface over two weights, the others held fixed, with a descent path drawn on it.

For weights i and j and a grid of values (w_i, w_j), the surface is

    S(w_i, w_j) = L(f(X W'), y),   W' = W with W'_i = w_i, W'_j = w_j

evaluated for every grid point at once: all grid points are stacked into a (k, D) matrix and
z = X W'^T is one matrix product per chunk (gd_torch.gradients.numeric.evaluate).  With the
sigmoid the squared error saturates: far from the data every a_i is 0 or 1, every term is 0 or 1,
and the surface is flat (the gradient carries the factor a (1 - a) ~ 0), while the
cross-entropy keeps growing linearly in |z|.  Regions where the surface is flat and high (a
plateau, not the basin's floor) are reported (``plateau``) and hatched on the picture.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import bad_value
from ..base import memory as _memory
from ..base import validate as _validate
from ..gradients import _fd_eval
from ..gradients import numeric as _numeric
from ..model.forward import prepare

#: a grid point is on a plateau when the surface's slope there is below FLAT_FRACTION of its
#: largest slope and its loss is above the lowest by more than HIGH_FRACTION of the range
#: (a flat region that is not the basin's floor)
FLAT_FRACTION = 0.01
HIGH_FRACTION = 0.1


@dataclass(frozen=True)
class Landscape:
    """Loss surfaces over weights (i, j) and the path drawn on them.

    ``grid_i`` (shape (R,)) and ``grid_j`` (shape (R,)) are the weight values; ``surfaces[loss]``
    has shape (R, R) with rows along grid_j and columns along grid_i; ``plateau[loss]`` marks the
    grid points where |grad S| < FLAT_FRACTION * max |grad S| and S > min S + HIGH_FRACTION *
    (max S - min S); ``path`` has shape (epochs + 1, D);
    ``center`` is W, the weights the others are held at (the path's last row by default).
    """

    i: int
    j: int
    grid_i: np.ndarray
    grid_j: np.ndarray
    surfaces: dict[str, np.ndarray]
    plateau: dict[str, np.ndarray]
    path: np.ndarray
    center: np.ndarray
    activation: str
    label: str = ""

    def plateau_fraction(self, loss: str) -> float:
        """Fraction of the grid where the surface of ``loss`` is a plateau."""
        return float(self.plateau[loss].mean())


def surface(
    W: Any, X: Any, y: Any, *, i: int, j: int, grid_i: Any, grid_j: Any, loss: str = "sse", activation: str = "sigmoid"
) -> np.ndarray:
    """L over the grid: array of shape (len(grid_j), len(grid_i)), the other weights held at W.

    W : array of shape (n_features,); X : (n_samples, n_features); y : (n_samples,)
    i, j : two different weight indices in [0, n_features)
    grid_i, grid_j : 1-D arrays of finite values for W_i and W_j
    """
    W, X, y, lo, act = prepare(W, X, y, loss, activation)
    i, j = _pair(i, j, W.shape[0])
    gi, gj = _grid("grid_i", grid_i, X.dtype), _grid("grid_j", grid_j, X.dtype)
    # refused before Wb is made: per grid point its row of Wb (D weights) and its two coordinates
    # (np.tile, np.repeat) in X's dtype, and what the blocked evaluation allocates per point
    # (row blocks of >= 16 rows x k points per group in flight, the groups' sums, the result:
    # _fd_eval.blocked_bytes); fixed: the evaluation's blocks of at most _Z_BYTES and X @ W
    fixed, per_eval = _fd_eval.blocked_bytes()
    per_point = (W.shape[0] + 2) * X.dtype.itemsize + per_eval
    fixed += X.shape[0] * X.dtype.itemsize
    k = gi.size * gj.size
    what = (
        f"the surface over grid_j x grid_i = {gj.size} x {gi.size} = {k} points ({W.shape[0]} {X.dtype} weights each)"
    )
    _memory.at_most("len(grid_i)", gi.size, gj.size * per_point, what, fixed=fixed)
    Wb = np.repeat(W[None, :], gi.size * gj.size, axis=0)
    Wb[:, i] = np.tile(gi, gj.size)
    Wb[:, j] = np.repeat(gj, gi.size)
    _validate.finite_z(X @ W)
    return _numeric.evaluate(Wb, X, y, lo, act).reshape(gj.size, gi.size)


#: what landscape's resolution accepts
LANDSCAPE_PARAMS: dict[str, _validate.Constraint] = {
    "resolution": _validate.Integer(minimum=8, maximum=1001, text="an integer from 8 to 1001")
}


def landscape(
    path: Any,
    X: Any,
    y: Any,
    *,
    i: int = 1,
    j: int = 2,
    losses: tuple[str, ...] = ("sse", "bce"),
    activation: str = "sigmoid",
    center: Any = None,
    resolution: int = 121,
    limits: tuple[tuple[float, float], tuple[float, float]] | None = None,
    label: str = "",
) -> Landscape:
    """Surfaces of each loss over weights (i, j) around a descent path.

    Parameters
    ----------
    path : array of shape (epochs + 1, n_features): the weights before each epoch and at the end
        (``gd_torch.fit(...).weights_history``)
    X, y : the data the path was trained on, X of shape (n_samples, n_features)
    i, j : the two weights to vary (default 1 and 2: the two feature weights after the bias)
    losses : the surfaces drawn side by side (default squared error and cross-entropy)
    center : the weights held fixed (default path[-1], the trained weights)
    resolution : grid points per axis, 8 to 1001
    limits : ((lo_i, hi_i), (lo_j, hi_j)); default: the path's range widened to at least
        twice the largest |weight| on it, so that the sigmoid's saturated region is on the map
    label : a name for the path (the method that produced it), shown in the legend
    """
    P = _path(path, X)
    _losses(losses)
    resolution = _validate.params(LANDSCAPE_PARAMS, resolution=resolution)["resolution"]
    W = P[-1] if center is None else center
    W, X, y, _, _ = prepare(W, X, y, losses[0], activation)
    for name in losses[1:]:
        prepare(W, X, y, name, activation)
    if len(set(losses)) != len(losses):  # the surfaces are keyed by name: a repeat would be drawn once
        raise bad_value("losses", losses, "distinct loss names")
    i, j = _pair(i, j, P.shape[1])
    P = P.astype(X.dtype)
    (li, hi), (lj, hj) = _limits(P, W, i, j) if limits is None else _check_limits(limits)
    gi, gj = np.linspace(li, hi, resolution), np.linspace(lj, hj, resolution)
    surfaces, plateau = {}, {}
    for name in losses:
        S = surface(W, X, y, i=i, j=j, grid_i=gi, grid_j=gj, loss=name, activation=activation)
        surfaces[name], plateau[name] = S, _plateau(S, gi, gj)
    return Landscape(i, j, gi, gj, surfaces, plateau, P, W, activation, label)


def _plateau(S: np.ndarray, gi: np.ndarray, gj: np.ndarray) -> np.ndarray:
    # |grad S| < FLAT_FRACTION max |grad S| and S > min S + HIGH_FRACTION (max S - min S)
    dSj, dSi = np.gradient(S, gj, gi)
    slope = np.hypot(dSi, dSj)
    high = S - S.min() > HIGH_FRACTION * (S.max() - S.min())
    return (slope < FLAT_FRACTION * slope.max()) & high


def plot(result: Landscape, out: str | Path, *, title: str = "") -> Path:
    """Draw the surfaces side by side with the path and write a PNG to ``out``.

    Filled contours of each loss (log colour scale for strictly positive ones), hatching where
    the surface is flat, the path from its start (circle) to its end (star).  The file is
    written atomically (:func:`gd_torch.train.plots.save_figure`) into an existing folder.
    """
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, NullLocator

    from ..train.plots import save_figure

    out = Path(out)
    if out.suffix.lower() != ".png":
        raise bad_value("out", str(out), "a path ending in .png")
    names = list(result.surfaces)
    fig = Figure(figsize=(6.2 * len(names), 5.4), dpi=110, layout="constrained")
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    Gi, Gj = np.meshgrid(result.grid_i, result.grid_j)
    pi, pj = result.path[:, result.i], result.path[:, result.j]
    for ax, name in zip(axes, names, strict=True):
        S = result.surfaces[name]
        positive = bool((S > 0).all())
        levels = np.geomspace(S.min(), S.max(), 30) if positive else 30
        cs = ax.contourf(Gi, Gj, S, levels=levels, cmap="viridis", norm=LogNorm() if positive else None)
        cb = fig.colorbar(cs, ax=ax, label=f"{name} loss" + (" (log scale)" if positive else ""))
        if positive:  # ticks at round values 1, 2, 5 x 10^k, not at the contour levels
            cb.set_ticks(round_ticks(float(S.min()), float(S.max())))
            cb.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            cb.ax.yaxis.set_minor_locator(NullLocator())
        ax.contourf(Gi, Gj, result.plateau[name].astype(float), levels=[0.5, 1.5], colors="none", hatches=["..."])
        ax.contour(Gi, Gj, result.plateau[name].astype(float), levels=[0.5], colors="white", linewidths=0.8)
        ax.plot(
            pi,
            pj,
            ".-",
            color="red",
            lw=1.5,
            ms=3,
            label=f"descent path ({result.label})" if result.label else "descent path",
        )
        ax.plot(pi[0], pj[0], "o", color="white", mec="red", ms=7, label="start")
        ax.plot(pi[-1], pj[-1], "*", color="red", mec="white", ms=13, label="end")
        pct = 100 * result.plateau_fraction(name)
        ax.set_title(f"{name} over (w{result.i}, w{result.j}); plateau (hatched): {pct:.0f}% of the map")
        ax.set_xlabel(f"w{result.i}")
        ax.set_ylabel(f"w{result.j}")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=9, frameon=False)
    others = [k for k in range(result.center.shape[0]) if k not in (result.i, result.j)]
    held = ", ".join(f"w{k} = {result.center[k]:.3g}" for k in others)
    lines = [
        title,
        f"activation={result.activation}; other weights held at the path's end ({held})",
        f"hatched plateau: |grad| < {FLAT_FRACTION:g} x max and loss > min + {HIGH_FRACTION:g} x range",
    ]
    fig.suptitle(_fit_width([t for t in lines if t], fig.get_figwidth(), SUPTITLE_POINTS), fontsize=SUPTITLE_POINTS)
    return save_figure(fig, out)


#: the suptitle's font size in points
SUPTITLE_POINTS = 11


def _fit_width(lines: list[str], inches: float, points: float) -> str:
    # each line wrapped at spaces to the figure's width (a character is at most ~0.6 em wide)
    chars = max(20, int(inches * 72 / (0.6 * points)))
    return "\n".join(textwrap.fill(t, chars, break_on_hyphens=False) for t in lines)


def round_ticks(lo: float, hi: float) -> list[float]:
    """Round values in [lo, hi] (0 < lo < hi) for a log colour bar: 1, 2, 5 x 10^k, or every
    m x 10^k (m = 1 .. 9) when that gives fewer than three, or else matplotlib's nice linear steps
    (a range within one decade, such as 3.1 to 3.9)."""
    from matplotlib.ticker import MaxNLocator

    if not (0 < lo < hi and np.isfinite(hi)):
        raise bad_value("lo, hi", (lo, hi), "0 < lo < hi < inf")
    decades = range(int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi))) + 1)
    for subs in ((1, 2, 5), tuple(range(1, 10))):
        # each candidate rounded to a few digits, so that 0.3 is 0.3 and not 0.30000000000000004
        ticks = [float(f"{m * 10.0**k:.6g}") for k in decades for m in subs]
        ticks = [t for t in ticks if lo <= t <= hi]
        if len(ticks) >= 3:
            return ticks
    return [float(f"{t:.6g}") for t in MaxNLocator(5).tick_values(lo, hi) if lo <= t <= hi]


def _path(path: Any, X: Any) -> np.ndarray:
    # the path: (epochs + 1, D) finite weights, D the number of X's columns
    X_arr = np.asarray(X)
    d = X_arr.shape[1] if X_arr.ndim == 2 else -1
    P = np.asarray(path)
    if P.ndim != 2 or P.shape[0] < 1 or P.shape[1] != d or P.dtype.kind not in "biuf":
        raise bad_value(
            "path", f"an array of shape {P.shape}", f"of shape (epochs + 1, {d}): one row of weights per epoch"
        )
    if not np.isfinite(P).all():
        k = int(np.flatnonzero(~np.isfinite(P).all(axis=1))[0])
        raise bad_value("path", f"row {k} = {P[k]}", "finite weights (the run diverged; use a smaller alpha)")
    return P


def _losses(losses: Any) -> None:
    if isinstance(losses, str) or not losses:
        raise bad_value("losses", losses, "a non-empty tuple of loss names such as ('sse', 'bce')")


def _pair(i: Any, j: Any, d: int) -> tuple[int, int]:
    for name, v in (("i", i), ("j", j)):
        _validate.integer(name, v, minimum=0, maximum=d - 1, accepted=f"a weight index from 0 to {d - 1}")
    if i == j:
        raise bad_value("j", j, f"a weight index other than i = {i}")
    if d < 2:
        raise bad_value("W", f"{d} weight", "at least two weights to draw a surface over")
    return int(i), int(j)


def _grid(name: str, values: Any, dt: np.dtype) -> np.ndarray:
    g = np.asarray(values)
    if g.ndim != 1 or g.size < 2 or g.dtype.kind not in "biuf" or not np.isfinite(g).all():
        raise bad_value(name, values, "a 1-D array of at least two finite numbers")
    return g.astype(dt)


def _limits(P: np.ndarray, W: np.ndarray, i: int, j: int) -> tuple[tuple[float, float], tuple[float, float]]:
    # the path's box, widened on each side to at least twice the largest |w| on the path (and 1)
    pts = np.vstack([P[:, [i, j]], W[[i, j]]])
    reach = max(1.0, 2 * float(np.abs(pts).max()))
    out = []
    for k in range(2):
        lo, hi = float(pts[:, k].min()), float(pts[:, k].max())
        mid = (lo + hi) / 2
        half = max((hi - lo) / 2 * 1.2, reach)
        out.append((mid - half, mid + half))
    return out[0], out[1]


def _check_limits(limits: Any) -> tuple[tuple[float, float], tuple[float, float]]:
    try:
        (li, hi), (lj, hj) = limits
        vals = [float(v) for v in (li, hi, lj, hj)]
    except (TypeError, ValueError):
        raise bad_value("limits", limits, "((lo_i, hi_i), (lo_j, hi_j)) with lo < hi") from None
    if not (np.isfinite(vals).all() and vals[0] < vals[1] and vals[2] < vals[3]):
        raise bad_value("limits", limits, "((lo_i, hi_i), (lo_j, hi_j)) with finite lo < hi")
    return (vals[0], vals[1]), (vals[2], vals[3])
