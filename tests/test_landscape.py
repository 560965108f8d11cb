"""gd_torch.teach.landscape: the surface is the objective on a grid; sse has the saturated plateau, bce not."""

from __future__ import annotations

import re

import numpy as np
import pytest

import gd_torch
from gd_torch.cli.app import main
from gd_torch.teach.landscape import landscape, plot, surface


@pytest.fixture(scope="module")
def path(blobs):
    # a descent path made here with the tutorial's rule (no dependence on gd_torch.train)
    X, y = blobs
    g = gd_torch.gradient_function(X, y, method="tutorial")
    W = gd_torch.init_weights(3, seed=0)
    rows = [W]
    for _ in range(50):
        rows.append(rows[-1] - 0.01 * g(rows[-1]))
    return np.array(rows)


@pytest.mark.parametrize("loss", ["sse", "bce", "mse"])
def test_surface_is_the_objective_on_the_grid(blobs, loss):
    X, y = blobs
    W = np.array([0.3, -0.2, 0.5])
    gi, gj = np.linspace(-2, 2, 7), np.linspace(-1, 3, 5)
    S = surface(W, X, y, i=0, j=2, grid_i=gi, grid_j=gj, loss=loss)
    assert S.shape == (5, 7)
    for r, c in [(0, 0), (4, 6), (2, 3), (1, 5)]:
        Wp = W.copy()
        Wp[0], Wp[2] = gi[c], gj[r]
        assert S[r, c] == pytest.approx(gd_torch.objective(Wp, X, y, loss=loss), rel=8 * np.finfo(float).eps)


def test_sse_has_the_saturated_plateau_and_bce_does_not(blobs, path):
    X, y = blobs
    scape = landscape(path, X, y, limits=((-6, 6), (-6, 6)), resolution=61)
    assert set(scape.surfaces) == {"sse", "bce"} and scape.surfaces["sse"].shape == (61, 61)
    sse, bce = scape.plateau_fraction("sse"), scape.plateau_fraction("bce")
    assert sse > 0.2 and bce < 0.05, (sse, bce)
    # on the plateau the squared error has saturated: every term is ~0 or ~1, so L sits near an integer
    S = scape.surfaces["sse"][scape.plateau["sse"]]
    assert np.median(np.abs(S - np.round(S))) < 0.05
    # and it is high: far above the basin's floor
    assert S.min() > scape.surfaces["sse"].min() + 0.1 * np.ptp(scape.surfaces["sse"])


def test_default_limits_hold_the_path_and_center(blobs, path):
    X, y = blobs
    scape = landscape(path, X, y, resolution=16)
    np.testing.assert_array_equal(scape.center, path[-1])
    for k, grid in ((scape.i, scape.grid_i), (scape.j, scape.grid_j)):
        assert grid[0] < path[:, k].min() and path[:, k].max() < grid[-1]


def test_plot_writes_a_png(blobs, path, tmp_path):
    X, y = blobs
    scape = landscape(path, X, y, resolution=24, label="tutorial")
    out = plot(scape, tmp_path / "scape.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["scape.png"]  # written atomically: no temporary left


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"path": np.zeros((5, 2))}, r"path must be of shape \(epochs \+ 1, 3\)"),
        ({"path": np.array([[0.0, 1.0, np.nan]])}, "path must be finite weights"),
        ({"i": 1, "j": 1}, "j must be a weight index other than i = 1"),
        ({"i": 3}, "i must be a weight index from 0 to 2"),
        ({"resolution": 3}, "resolution must be an integer from 8 to 1001"),
        ({"activation": "tanh"}, "activation must be one of 'sigmoid' with loss='bce'"),
        ({"losses": ("sse", "hinge")}, "loss must be one of"),
        ({"losses": ("sse", "bce", "sse")}, r"losses must be distinct loss names; got \('sse', 'bce', 'sse'\)"),
        ({"limits": ((1, 0), (0, 1))}, "limits must be"),
    ],
)
def test_bad_input(blobs, path, kwargs, match):
    X, y = blobs
    args = {"path": path, **kwargs}
    with pytest.raises(gd_torch.GdTorchError, match=match):
        landscape(args.pop("path"), X, y, **args)


def test_unwritable_or_misnamed_png(blobs, path, tmp_path):
    X, y = blobs
    scape = landscape(path, X, y, resolution=8)
    with pytest.raises(gd_torch.GdTorchError, match="out must be a path ending in .png"):
        plot(scape, tmp_path / "scape.jpg")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(gd_torch.GdTorchError, match=r"could not write '.*file/scape\.png': Not a directory"):
        plot(scape, blocker / "scape.png")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / "planted.png").symlink_to(victim)
    plot(scape, tmp_path / "planted.png")  # the planted link is replaced, never written through
    assert victim.read_text() == "keep me" and not (tmp_path / "planted.png").is_symlink()


def test_cli_landscape(capsys, tmp_path):
    out = tmp_path / "scape"
    argv = ["landscape", "--method", "analytic", "--epochs", "20", "--resolution", "41", "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    png = out / "landscape.png"
    assert png.read_bytes()[:4] == b"\x89PNG" and text.endswith(f"wrote {png}\n")
    assert "sse: min" in text and "bce: min" in text
    assert [p.name for p in out.iterdir()] == ["landscape.png"]


def test_cli_landscape_draws_the_path_train_takes(capsys, tmp_path):
    # one default seed: the path starts at the initial W that gd-torch train prints
    assert main(["train", "--no-plots", "--epochs", "1"]) == 0
    w0 = re.search(r"^initial W: uniform on \[0, 1\) with seed 42: \[(.*)\]$", capsys.readouterr().out, re.M)[1]
    assert main(["landscape", "--epochs", "1", "--resolution", "8", "--out", str(tmp_path)]) == 0
    start = re.search(r"^path: .*, W from \[(.*)\] to", capsys.readouterr().out, re.M)[1]
    np.testing.assert_allclose([float(v) for v in start.split(",")], [float(v) for v in w0.split()], atol=5e-7)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--weights", "1"], "--weights must be two different weight indices 'i,j', e.g. '1,2'; got '1'"),
        (["--weights", "0,0"], "--weights must be two different weight indices 'i,j', e.g. '1,2'; got '0,0'"),
        (["--weights", "1,3"], "--weights must be two weight indices from 0 to 2; got '1,3'"),
        (["--weights=-1,2"], "--weights must be two different weight indices 'i,j', e.g. '1,2'; got '-1,2'"),
        (["--resolution", "3"], "--resolution must be an integer from 8 to 1001; got 3"),
        (["--surfaces", "sse,sse"], "--surfaces must be a comma-separated list of distinct losses; got 'sse,sse'"),
        (["--surfaces", "sse,hinge"], "--surfaces must be a comma-separated list of losses from: sse, mse, bce"),
        (["--activation", "relu"], "--activation must be one of 'sigmoid' with loss='bce'"),
        (["--alpha", "0"], "--alpha must be a finite number > 0; got '0'"),
    ],
)
def test_cli_landscape_bad_input(capsys, tmp_path, extra, message):
    assert main(["landscape", "--epochs", "2", "--out", str(tmp_path / "x"), *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"gd-torch: error: {message}"), err
    assert not (tmp_path / "x").exists()  # refused before the folder was made


def test_cli_landscape_unwritable_out(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["landscape", "--epochs", "2", "--resolution", "8", "--out", str(blocker / "x")]) == 2
    err = capsys.readouterr().err
    assert err == f"gd-torch: error: --out folder '{blocker / 'x'}' cannot be created: Not a directory\n"


@pytest.mark.parametrize(
    ("lo", "hi", "ticks"),
    [
        (0.46, 206.8, [0.5, 1, 2, 5, 10, 20, 50, 100, 200]),  # the tutorial's sse surface
        (0.01979, 7.117, [0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5]),  # its bce surface
        (1.5, 4.2, [2, 3, 4]),  # fewer than three of 1, 2, 5: every m x 10^k
        (3.1, 3.9, [3.2, 3.4, 3.6, 3.8]),  # within one decade: nice linear steps
    ],
)
def test_colour_bar_ticks_are_round_values(lo, hi, ticks):
    from gd_torch.teach.landscape import round_ticks

    assert round_ticks(lo, hi) == ticks


def test_round_ticks_refuses_a_range_a_log_scale_cannot_show():
    from gd_torch import GdTorchError
    from gd_torch.teach.landscape import round_ticks

    with pytest.raises(GdTorchError, match=r"^lo, hi must be 0 < lo < hi < inf; got \(0.0, 1.0\)"):
        round_ticks(0.0, 1.0)


@pytest.mark.parametrize("surfaces", ["sse", "sse,bce"])
def test_every_title_fits_inside_the_figure(capsys, tmp_path, monkeypatch, surfaces):
    # the suptitle (data, held weights, plateau rule) was one line wider than a one-panel figure
    from gd_torch.train import plots

    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, out: figures.append(fig))
    argv = ["landscape", "--surfaces", surfaces, "--epochs", "5", "--resolution", "16", "--out", str(tmp_path / "s")]
    assert main(argv) == 0, capsys.readouterr().err
    (fig,) = figures
    fig.canvas.draw()
    box = fig.bbox
    texts = [fig._suptitle] + [ax.title for ax in fig.axes]
    assert "activation=sigmoid" in fig._suptitle.get_text()
    for t in texts:
        e = t.get_window_extent()
        assert box.x0 <= e.x0 and e.x1 <= box.x1 and box.y0 <= e.y0 and e.y1 <= box.y1, (t.get_text(), e, box)


def _needed(X, y, g, **kw):
    # the bytes surface's memory refusal counts for this grid (refused under 1 byte available)
    from gd_torch.base import memory as _memory

    with pytest.MonkeyPatch.context() as m:
        m.setattr(_memory, "available_bytes", lambda: 1)
        with pytest.raises(_memory.NotEnoughMemory) as info:
            surface(np.zeros(X.shape[1]), X, y, i=1, j=2, grid_i=g, grid_j=g, **kw)
    return info.value.needed


@pytest.mark.parametrize(("n", "r", "loss"), [(2000, 150, "sse"), (3000, 20, "logcosh"), (500, 150, "logcosh")])
def test_the_memory_refusal_covers_what_surface_allocates(n, r, loss):
    # measured peak within the estimate (row blocks of >= 16 rows x k grid points per group
    # in flight, the loss's temporaries): a grid that passes the refusal does not end in MemoryError.
    # 2000 rows x 150^2 points: blocks at the 16-row floor, as at 300^2 (peak 0.54 of the estimate
    # there, 0.57 at 300^2, which took over 10 times as long)
    import tracemalloc

    rng = np.random.default_rng(0)
    X = np.c_[np.ones(n), rng.standard_normal((n, 2))]
    y = (X[:, 1] > 0).astype(float)
    g = np.linspace(-5, 5, r)
    surface(np.zeros(3), X[:20], y[:20], i=1, j=2, grid_i=g[:3], grid_j=g[:3], loss=loss)  # imports loaded
    tracemalloc.start()
    try:
        surface(np.zeros(3), X, y, i=1, j=2, grid_i=g, grid_j=g, loss=loss)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    estimate = _needed(X, y, g, loss=loss)
    assert peak <= estimate, f"peak {peak} bytes > estimate {estimate}"


def test_a_grid_too_large_for_the_memory_is_refused_naming_both_sizes(monkeypatch):
    from gd_torch.base import memory as _memory

    monkeypatch.setattr(_memory, "available_bytes", lambda: 256 << 20)
    X = np.c_[np.ones(2000), np.random.default_rng(0).standard_normal((2000, 2))]
    g = np.linspace(-5, 5, 1500)  # 2.25e6 points: about 2.4 GiB traced on 2 threads (was estimated 257 MiB)
    with pytest.raises(
        gd_torch.GdTorchError,
        match=r"^len\(grid_i\) must be at most \d+ here: the surface over grid_j x grid_i = 1500 x 1500 = 2250000 points",
    ):
        surface(np.zeros(3), X, (X[:, 1] > 0).astype(float), i=1, j=2, grid_i=g, grid_j=g)
