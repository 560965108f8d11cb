"""The tutorial's pictures: the loss curve, the decision boundary and its animation.

Figures are built as ``matplotlib.figure.Figure`` objects (no pyplot, no global backend
state) and rendered by Agg.  Every file is written to a temporary name in the target
folder and renamed into place once complete, so an interrupted run leaves no file that
looks finished.

The decision boundary of a = f(w0 + w1 x1 + w2 x2) with label 1 where a >= 0.5 is the line
z = z*, where z* is the activation's own f(z*) = 0.5 (:attr:`gd_torch.Activation.threshold`:
0 for the sigmoid, atanh(0.5) for tanh, 0.5 for relu and identity, log(e^0.5 - 1) for softplus):

    x2 = (z* - w0 - w1 x1) / w2        drawn over the data's range of x1

(the tutorial, for the sigmoid, fed its whole design matrix, bias column included, into
x2 = -(w0 + w1 x1) / w2).  An activation that never reaches 0.5 labels every sample 0 and has
no boundary; the picture says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from .._errors import GdTorchError, bad_value
from ..base import validate as _validate
from ..base.files import atomic_path
from ..model.activations import ACTIVATIONS, Activation
from ..model.forward import _part
from .loop import epoch_label

#: most frames a boundary animation gets by default (the stride grows with the epochs)
MAX_FRAMES = 101


def boundary_line(w: np.ndarray, x1: np.ndarray, activation: str | Activation) -> np.ndarray | None:
    """x2 = (z* - w0 - w1 x1) / w2 at the points x1, for weights w = (w0, w1, w2) and the
    activation's z* (f(z*) = 0.5, where the predicted label flips); None when w2 = 0 (the
    boundary is then vertical, or absent) or when the activation has no single z* (never
    reaches 0.5, or crosses it more than once)."""
    z = _part("activation", activation, ACTIVATIONS, Activation).threshold
    w0, w1, w2 = (float(v) for v in w)
    if w2 == 0 or z is None:
        return None
    return (z - w0 - w1 * np.asarray(x1, dtype=np.float64)) / w2


def plot_loss(
    loss_history: Sequence[float], path: str | Path, *, title: str = "Training loss", ylabel: str = "loss"
) -> Path:
    """Loss against epoch (entry k: the loss of the weights after k epochs) as a PNG."""
    losses = np.asarray(loss_history, dtype=np.float64)
    if losses.ndim != 1 or losses.shape[0] == 0:
        raise bad_value("loss_history", f"an array of shape {losses.shape}", "a non-empty 1-D sequence")
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.subplots()
    ax.plot(np.arange(losses.shape[0]), losses, color="tab:blue")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    return save_figure(fig, path)


def plot_boundary(
    X: Any,
    y: Any,
    w: Any,
    path: str | Path,
    *,
    activation: str | Activation = "sigmoid",
    title: str = "Decision boundary",
) -> Path:
    """The data (x1, x2) coloured by label and the line x2 = (z* - w0 - w1 x1) / w2 where the
    activation's label flips (module docstring), as a PNG; the title says when there is no line.

    X : array of shape (n_samples, 3), the bias column first; y : shape (n_samples,); w : shape (3,).
    """
    X, y, w = _boundary_inputs(X, y, w)
    act = _part("activation", activation, ACTIVATIONS, Activation)
    fig, ax, line = _boundary_figure(X, y, title, act)
    missing = _no_line(act)
    if missing or not _set_line(line, w, (X[:, 1].min(), X[:, 1].max()), act):
        ax.set_title(f"{title}\n({missing or 'the boundary is outside the plotted area'})")
    return save_figure(fig, path)


def animate_boundary(
    X: Any,
    y: Any,
    weights_history: Any,
    path: str | Path,
    *,
    stride: int | None = None,
    losses: Sequence[float] | None = None,
    fps: int = 10,
    activation: str | Activation = "sigmoid",
) -> tuple[int, int]:
    """An animated GIF of the boundary as it is learned: one frame per ``stride`` rows of
    ``weights_history`` (shape (n_epochs + 1, 3); row k = the weights after k epochs), and
    always the last row.  Each frame is named as ``gd-torch train`` prints its epochs
    (:func:`gd_torch.train.loop.epoch_label`): row k < n_epochs is "epoch #k+1" with
    ``losses[k]``, the printed loss of that line; the last row is "after epoch #n's update".
    ``stride=None`` picks the smallest stride giving at most MAX_FRAMES frames.
    Returns (stride, number of frames)."""
    H = np.asarray(weights_history, dtype=np.float64)
    if H.ndim != 2 or H.shape[0] == 0:
        raise bad_value("weights_history", f"an array of shape {H.shape}", "of shape (n_epochs + 1, 3)")
    X, y, _ = _boundary_inputs(X, y, H[0])
    act = _part("activation", activation, ACTIVATIONS, Activation)
    if stride is None:
        stride = max(1, math.ceil((H.shape[0] - 1) / (MAX_FRAMES - 1)))
    stride = _validate.integer("stride", stride, minimum=1)
    rows = list(range(0, H.shape[0], stride))
    if rows[-1] != H.shape[0] - 1:
        rows.append(H.shape[0] - 1)
    fig, ax, line = _boundary_figure(X, y, "epoch 0\n", act)
    x1_range = (X[:, 1].min(), X[:, 1].max())
    # blitting: the data, axes and legend are drawn once; each frame redraws the line and title
    fig.set_dpi(80)
    canvas = FigureCanvasAgg(fig)
    title = ax.title
    line.set_animated(True)
    title.set_animated(True)
    canvas.draw()
    fig.set_layout_engine("none")
    background = canvas.copy_from_bbox(fig.bbox)
    frames = []
    for k in rows:
        seen = _set_line(line, H[k], x1_range, act)
        extra = f", loss={losses[k]:.4f}" if losses is not None else ""
        note = _no_line(act) or ("" if seen else "boundary off the plot")
        title.set_text(f"{epoch_label(k, rows[-1])}{extra}\n{note and f'({note})'}")
        canvas.restore_region(background)
        ax.draw_artist(line)
        ax.draw_artist(title)
        rgb = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba()).convert("RGB")
        frames.append(rgb.quantize(colors=64, palette=frames[0] if frames else None))
    path = Path(path)
    with atomic_path(path) as tmp:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=1000 // fps, loop=0)
    return stride, len(rows)


def plot_sweep(result: Any, path: str | Path) -> Path:
    """A heatmap of final accuracy per (alpha, seed), one panel per (method, loss) row of a
    :class:`gd_torch.train.sweep.SweepResult`, as a PNG.  The colour scale runs from 0.5, chance
    level for two balanced classes, to 1 (cividis: readable with every common colour-vision
    deficiency and in grey); each cell also prints its value ('div': the run diverged)."""
    rows, alphas, seeds = result.rows, result.alphas, result.seeds
    width = max(6.4, 1.8 + 0.55 * len(seeds))
    height = 0.8 + len(rows) * (0.9 + 0.32 * len(alphas))
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(len(rows), 1, squeeze=False)[:, 0]
    for ax, (method, loss) in zip(axes, rows, strict=True):
        acc = np.array([[result.cell(method, loss, a, s).accuracy for s in seeds] for a in alphas])
        im = ax.imshow(acc, vmin=0.5, vmax=1.0, cmap="cividis", aspect="auto")
        for i in range(len(alphas)):
            for j in range(len(seeds)):
                v = acc[i, j]
                # light text on the dark (low) end of cividis, dark text elsewhere and on NaN (blank)
                colour = "white" if v < 0.8 else "black"
                ax.text(j, i, "div" if np.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize=7, color=colour)
        ax.set_yticks(range(len(alphas)), [f"{a:g}" for a in alphas])
        ax.set_xticks(range(len(seeds)), [str(s) for s in seeds])
        ax.set_ylabel("alpha")
        ax.set_title(f"{method} gradient, loss {loss}", fontsize=9)
    axes[-1].set_xlabel("seed of the initial weights")
    fig.suptitle(f"final accuracy after {result.epochs} epochs (0.5 = chance level)", fontsize=10)
    fig.colorbar(im, ax=list(axes), label="final accuracy (0.5 = chance)")
    return save_figure(fig, path)


# ---- helpers ---------------------------------------------------------------------------


def _boundary_inputs(X: Any, y: Any, w: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    w = np.asarray(w, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 3:
        raise GdTorchError(
            f"X must have 3 columns (bias, x1, x2) to draw a decision boundary in the plane; got shape {X.shape}"
        )
    if y.shape != (X.shape[0],):
        raise bad_value("y", f"an array of shape {y.shape}", f"of shape ({X.shape[0]},)")
    if w.shape != (3,):
        raise bad_value("w", f"an array of shape {w.shape}", "of shape (3,): (w0, w1, w2)")
    return X, y, w


def _no_line(act: Activation) -> str:
    # why there is no boundary line for this activation ("" when there is one)
    zs = act.z_halves
    if not zs:
        return f"no boundary: {act.name} never reaches 0.5, every sample is labelled 0"
    if len(zs) > 1:
        return f"no single line: {act.name} crosses 0.5 at z = {', '.join(f'{z:.4g}' for z in zs)}"
    return ""


def _line_label(act: Activation) -> str:
    # the legend's formula of the drawn line, with the activation's z*
    z = act.threshold
    if z is None:
        return "boundary: none"
    if z == 0:
        return "x2 = -(w0 + w1 x1) / w2  (z = 0)"
    return f"x2 = ({z:.4g} - w0 - w1 x1) / w2  (z = {z:.4g}: {act.name} = 0.5)"


def _boundary_figure(X: np.ndarray, y: np.ndarray, title: str, act: Activation):
    fig = Figure(figsize=(6.4, 4.8), layout="constrained")
    ax = fig.subplots()
    for label, colour in zip(np.unique(y), ("tab:blue", "tab:orange", "tab:green"), strict=False):
        sel = y == label
        ax.scatter(X[sel, 1], X[sel, 2], s=14, color=colour, label=f"y = {label:g}")
    (line,) = ax.plot([], [], "r-", lw=2, label=_line_label(act))
    # fixed limits: the data's range plus a margin, so the line never rescales the axes
    for setter, col in ((ax.set_xlim, X[:, 1]), (ax.set_ylim, X[:, 2])):
        lo, hi = float(col.min()), float(col.max())
        pad = 0.05 * (hi - lo or 1.0)
        setter(lo - pad, hi + pad)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_title(title)
    fig.legend(loc="outside lower center", ncols=3, fontsize="small", frameon=False)
    return fig, ax, line


def _set_line(line, w: np.ndarray, x1_range: tuple[float, float], act: Activation) -> bool:
    # draw the boundary z = z* over the data's x1 range; return whether any of it is inside the axes
    x1 = np.linspace(x1_range[0], x1_range[1], 2)
    x2 = boundary_line(w, x1, act)
    ylo, yhi = line.axes.get_ylim()
    if x2 is not None:
        line.set_data(x1, x2)
        return bool(x2.min() <= yhi and x2.max() >= ylo)
    if w[1] != 0 and act.threshold is not None:  # w2 = 0: the vertical line x1 = (z* - w0) / w1
        x = (act.threshold - w[0]) / w[1]
        line.set_data([x, x], [ylo, yhi])
        return bool(x1_range[0] <= x <= x1_range[1])
    line.set_data([], [])
    return False


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Render ``fig`` with Agg into ``path`` (format from its suffix) atomically; return the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=100)
    return path
