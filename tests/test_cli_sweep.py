"""gd_torch.train.sweep (the library function and its result) and gd-torch sweep (tables and heatmap)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from PIL import Image

from gd_torch import GdTorchError, fit, tutorial_data
from gd_torch.cli.app import main
from gd_torch.train.sweep import TRAINED, mean_slope, sweep


def run_cli(capsys, *argv):
    rc = main(["sweep", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def saturation(blobs):
    # the README's grid at alpha 0.01: the tutorial's rule and the exact sse gradient, seeds 0-9
    X, y = blobs
    return sweep(X, y, methods=("tutorial", "analytic"), losses=("sse",), alphas=(0.01,), seeds=range(10))


def test_sweep_shows_the_saturation_effect(saturation):
    # measured, not assumed: at alpha 0.01 the tutorial's rule trains every seed, the exact sse gradient not
    r = saturation
    assert r.trained_seeds("tutorial", "sse", 0.01) == tuple(range(10))
    trained = r.trained_seeds("analytic", "sse", 0.01)
    stuck = sorted(set(range(10)) - set(trained))
    assert stuck, "the exact sse gradient trained every seed"
    for seed in stuck:
        c = r.cell("analytic", "sse", 0.01, seed)
        # stuck because the sigmoid is saturated on the misclassified samples: f'(z) = a (1 - a)
        # there is far below its peak of 1/4, so their terms 2 (a - y) a (1 - a) x vanish
        assert c.slope < 0.01
        assert c.final_loss > 100  # about half the 250 samples wrong, each costing ~1
    (finding,) = r.findings()
    assert finding.better == ("tutorial", "sse") and finding.worse == ("analytic", "sse")
    assert list(finding.seeds) == stuck and (finding.n_better, finding.n_worse) == (10, len(trained))


def test_cells_are_fit_runs(blobs, saturation):
    X, y = blobs
    c = saturation.cell("analytic", "sse", 0.01, 0)  # a stuck seed: it has misclassified samples
    f = fit(X, y, method="analytic", loss="sse", alpha=0.01, seed=0)
    assert (c.final_loss, c.accuracy, c.diverged_at) == (f.final_loss, f.final_accuracy, None)
    assert c.slope == mean_slope(X, f.weights, "sigmoid", y)
    assert len(saturation.cells) == 20 and saturation.rows == [("tutorial", "sse"), ("analytic", "sse")]
    W0 = fit(X, y, epochs=1, seed=0).weights_history[0]
    assert saturation.initial_slopes[0] == mean_slope(X, W0, "sigmoid")


def test_mean_slope_over_the_errors():
    X = np.array([[1.0, 0.0], [1.0, 2.0], [1.0, -2.0]])
    W = np.array([0.0, 1.0])  # z = 0, 2, -2
    a = 1 / (1 + np.exp(-X @ W))
    assert mean_slope(X, W, "sigmoid") == pytest.approx(np.mean(a * (1 - a)))
    y = np.array([1.0, 0.0, 0.0])  # sample 1 (a = 0.88) is the only error
    assert mean_slope(X, W, "sigmoid", y) == pytest.approx(a[1] * (1 - a[1]))
    assert math.isnan(mean_slope(X, W, "sigmoid", np.array([1.0, 1.0, 0.0])))


def test_every_method_with_every_loss_and_divergence_recorded(blobs):
    X, y = blobs
    r = sweep(
        X, y, methods=("tutorial", "analytic"), losses=("sse", "bce"), alphas=(0.1,), seeds=(0,), epochs=5,
        activation="sigmoid",
    )  # fmt: skip
    assert r.rows == [("tutorial", "sse"), ("tutorial", "bce"), ("analytic", "sse"), ("analytic", "bce")]
    # the tutorial's rule follows the same step whatever the loss: only the loss reported differs
    t_sse, t_bce = r.cell("tutorial", "sse", 0.1, 0), r.cell("tutorial", "bce", 0.1, 0)
    assert t_sse.accuracy == t_bce.accuracy and t_sse.final_loss != t_bce.final_loss
    big = sweep(X, y, methods=("analytic",), losses=("sse",), alphas=(1e6,), seeds=(0,), activation="identity")
    (cell,) = big.cells
    assert cell.diverged_at is not None and math.isnan(cell.accuracy) and not cell.trained


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"methods": "analytic"}, r"methods must be a non-empty sequence of distinct names; got 'analytic'"),
        ({"methods": ()}, r"methods must be a non-empty sequence"),
        ({"methods": ("analytic", "analytic")}, r"methods must be a non-empty sequence of distinct names"),
        ({"methods": ("adam",)}, r"method must be one of"),
        ({"losses": ("hinge",)}, r"loss must be one of"),
        ({"alphas": (0.1, 1e-1)}, r"alphas must be a non-empty sequence of distinct finite learning rates > 0"),
        ({"alphas": (0.1, float("nan"))}, r"alphas must be"),
        ({"alphas": (True,)}, r"alphas must be"),
        ({"alphas": 0.1}, r"alphas must be"),
        ({"seeds": (0, -1)}, r"seeds must be a non-negative integer; got -1"),
        ({"seeds": (1, 1)}, r"seeds must be a non-empty sequence of distinct integers >= 0"),
        ({"losses": ("bce",), "activation": "relu"}, r"activation must be one of 'sigmoid' with loss='bce'"),
    ],
)
def test_bad_input_is_refused_before_any_run(blobs, kwargs, match, monkeypatch):
    import gd_torch.train.sweep as sweep_module

    def no_fit(*args, **kw):
        raise AssertionError("a run started before the input was checked")

    monkeypatch.setattr(sweep_module, "fit", no_fit)
    X, y = blobs
    args = {"methods": ("tutorial",), "losses": ("sse",), "alphas": (0.01,), "seeds": (0,)} | kwargs
    with pytest.raises(GdTorchError, match=match):
        sweep(X, y, **args)


def test_sweep_cli_table_and_heatmap(tmp_path, capsys):
    rc, out, err = run_cli(capsys, "--alphas", "0.01,0.1", "--seeds", "3", "--epochs", "30", "--out", str(tmp_path))
    assert rc == 0, err
    for header in ("final accuracy", "final loss", "f'(z) on the errors"):
        assert f"\n{header}\nmethod    loss   alpha |" in out
    # one row per method and loss in each of the three tables
    assert len(re.findall(r"^(tutorial|analytic)  sse\s+0\.01 \|", out, flags=re.M)) == 6
    assert out.endswith(f"wrote {tmp_path}/heatmap.png\n")
    with Image.open(tmp_path / "heatmap.png") as im:
        assert im.format == "PNG" and im.size[0] > 300


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "identity", "softplus"])
def test_sweep_cli_states_the_activations_derivative_whole(capsys, activation):
    from gd_torch import ACTIVATIONS

    argv = ("--activation", activation, "--alphas", "0.01", "--seeds", "2", "--epochs", "3", "--no-plots")
    rc, out, err = run_cli(capsys, *argv)
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[3] == f"f'(z) of {activation}: {ACTIVATIONS[activation].dformula}"  # relu's was cut at its 2nd '='
    assert re.fullmatch(r"mean f'\(z\) over the data at the initial W, per seed: 0:\S+  1:\S+", lines[4])


def test_sweep_cli_cells_never_run_together(capsys):
    # a loss of 1.14e+03 filled its 8-character column and touched its neighbour ('6801.14e+03')
    argv = ("--activation", "relu", "--methods", "tutorial", "--alphas", "0.001", "--epochs", "20", "--no-plots")
    rc, out, err = run_cli(capsys, *argv)
    assert rc == 0, err
    lines = out.splitlines()
    row = lines[lines.index("final loss") + 3]
    cells = row.split("|")[1].split()
    assert len(cells) == 10 and any("e+" in c for c in cells), row


def test_sweep_cli_methods_and_losses_are_separate_flags(capsys):
    argv = ["--methods", "analytic,numeric:central", "--losses", "sse,bce", "--alphas", "0.5", "--seeds", "1"]
    rc, out, err = run_cli(capsys, *argv, "--epochs", "3", "--no-plots")
    if rc == 2 and "numeric:central" in err:  # the registry of today trains with 'numeric' only
        pytest.skip(f"fit does not take 'numeric:central' yet: {err.strip()}")
    assert rc == 0, err
    rows = re.findall(r"^(\S+)\s+(sse|bce)\s+0\.5 \|", out.split("final loss")[0], flags=re.M)
    assert rows == [("analytic", "sse"), ("analytic", "bce"), ("numeric:central", "sse"), ("numeric:central", "bce")]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--alphas", "0.1,x"], "--alphas must be a comma-separated list of learning rates > 0; got '0.1,x'"),
        (["--alphas", "-1"], "--alphas must be a comma-separated list of learning rates > 0; got '-1'"),
        (["--alphas", "0.1,1e-1"], "--alphas must be a comma-separated list of distinct learning rates > 0; got"),
        (["--methods", "adam"], "--methods must be a comma-separated list of gradient methods from: analytic, "),
        # 'METHOD:LOSS' is gone: after a colon comes a numeric scheme, the loss has its own flag
        (["--methods", "analytic:bce"], "--methods must be a comma-separated list of gradient methods from: "),
        (["--methods", "analytic,analytic"], "--methods must be a comma-separated list of distinct gradient methods"),
        (
            ["--losses", "hinge"],
            "--losses must be a comma-separated list of losses from: sse, mse, bce, logcosh; got 'hinge'",
        ),
        (["--losses", "bce", "--activation", "tanh"], "--activation must be one of 'sigmoid' with loss='bce'"),
        (["--rules", "analytic"], "unrecognized arguments: --rules analytic"),
        (["--seeds", "0"], "--seeds must be a positive integer; got '0'"),
        (["--batch-size", "251"], "--batch-size must be at most the number of samples, 250; got 251"),
    ],
)
def test_sweep_bad_options(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run_cli(capsys, *argv)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"gd-torch: error: {message}"), err
    assert list(tmp_path.iterdir()) == []


def test_heatmap_is_colour_blind_safe_and_states_chance(blobs, tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from gd_torch.train import plots

    X, y = tutorial_data(n_samples=40)
    r = sweep(X, y, methods=("tutorial",), alphas=(0.01, 1e6), seeds=(0, 1), activation="identity")
    seen = {}
    real_save = plots.save_figure

    def spy(fig: Figure, path):
        seen["fig"] = fig
        return real_save(fig, path)

    monkeypatch.setattr(plots, "save_figure", spy)
    plots.plot_sweep(r, tmp_path / "h.png")
    fig = seen["fig"]
    (ax, cbar) = fig.axes
    (im,) = ax.get_images()
    assert im.get_cmap().name == "cividis" and im.get_clim() == (0.5, 1.0)
    suptitle = fig._suptitle.get_text()  # Figure.get_suptitle is matplotlib >= 3.8; the floor is 3.7
    assert "0.5 = chance" in suptitle and "chance" in cbar.get_ylabel()
    texts = [t.get_text() for t in ax.texts]
    assert texts.count("div") == 2 and len(texts) == 4  # alpha 1e6 diverges for both seeds
    assert TRAINED == 0.9


def test_the_readme_states_what_the_sweep_measures(saturation):
    # the README's sweep paragraph, rebuilt from the measurement: which seeds train, f'(z) on the errors
    # of the stuck ones, and that seed 0 starts unsaturated while seeds 2 and 3 start more saturated than 9
    from pathlib import Path

    readme = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text().split())
    r = saturation
    trained = r.trained_seeds("analytic", "sse", 0.01)
    assert f"the exact squared-error gradient only {len(trained)} (seeds 1, 2, 3 and 8)" in readme
    assert trained == (1, 2, 3, 8)
    slope = {s: f"{r.cell('analytic', 'sse', 0.01, s).slope:.4f}" for s in (0, 4, 5, 6, 7, 9)}
    assert {slope[s] for s in (0, 5, 6, 9)} == {"0.0000"}
    assert f"is 0.0000 for seeds 0, 5, 6 and 9, {slope[4]} for seed 4 and {slope[7]} for seed 7" in readme
    start = dict(zip(r.seeds, r.initial_slopes, strict=True))
    assert f"the mean `f'(z)` over the data at its initial W is {start[0]:.3f})" in readme
    assert f"seeds 2 and 3 start more saturated ({start[2]:.3f}) than seed 9 ({start[9]:.3f})" in readme
    assert max(start[2], start[3]) < start[9] and f"{start[3]:.3f}" == f"{start[2]:.3f}"


def test_no_plots_without_out_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, _ = run_cli(capsys, "--alphas", "0.1", "--seeds", "1", "--epochs", "2", "--no-plots")
    assert rc == 0 and list(tmp_path.iterdir()) == [] and "wrote" not in out
