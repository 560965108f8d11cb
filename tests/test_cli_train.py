"""gd-torch train: the tutorial run, its printout, the pictures, bad input (sweep: test_cli_sweep.py)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gd_torch import fit, tutorial_data
from gd_torch.cli.app import main


def run_cli(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line_error(rc, out, err, *fragments):
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gd-torch: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def assert_image(path: Path, fmt: str, frames: int = 1):
    assert path.is_file()
    with Image.open(path) as im:
        assert im.format == fmt
        assert getattr(im, "n_frames", 1) == frames
        w, h = im.size
        assert w > 100 and h > 100


def test_default_run_reproduces_the_tutorial(tmp_path, capsys):
    out_dir = tmp_path / "out"
    rc, out, err = run_cli(capsys, "train", "--out", str(out_dir))
    assert rc == 0, err
    # the tutorial's run: its data, its update rule, 100 epochs, alpha 0.01, W uniform [0, 1), seed 42
    X, y = tutorial_data()
    r = fit(X, y, method="tutorial", loss="sse", alpha=0.01, epochs=100, seed=42)
    epochs = re.findall(r"^epoch #(\d+), loss=([0-9.]+)$", out, flags=re.M)
    assert [int(k) for k, _ in epochs] == list(range(1, 101))
    for k, value in epochs:
        assert value == f"{r.loss_history[int(k) - 1]:.7f}"
    # the epoch lines say which loss they show, and the final line which one it is: both true of r
    header = "(epoch #k, loss=...: the loss before epoch k's update, as the tutorial prints it)\nepoch #1, loss="
    assert header in out
    assert f"final: loss={r.loss_history[100]:.7f} (sse) after epoch #100's update, accuracy=" in out
    assert r.loss_history[100] < r.loss_history[99]  # the last epoch line shows the loss before that step
    assert "gradient: tutorial" in out and "binary cross-entropy" in out and "not of the loss printed (sse" in out
    assert "initial W: uniform on [0, 1) with seed 42" in out
    samples = re.findall(r"sample +(\d+): activation=([0-9.]+); predicted_label=(\d), true_label=(\d)", out)
    assert len(samples) == 10 and len({i for i, *_ in samples}) == 10
    for i, a, pred, true in samples:
        a_lib = 1 / (1 + np.exp(-(X[int(i)] @ r.weights)))
        assert float(a) == pytest.approx(a_lib, abs=5e-5)  # printed with 4 decimals
        assert int(pred) == (a_lib >= 0.5) and int(true) == y[int(i)]
    assert f"accuracy={r.final_accuracy:.4f}" in out and r.final_accuracy >= 0.98
    assert "stalled" not in out
    assert out.endswith(
        f"wrote {out_dir}/loss.png\nwrote {out_dir}/boundary.png\n"
        f"wrote {out_dir}/boundary.gif (101 frames: epoch #1 to #100, then after epoch #100's update)\n"
    )
    assert_image(out_dir / "loss.png", "PNG")
    assert_image(out_dir / "boundary.png", "PNG")
    assert_image(out_dir / "boundary.gif", "GIF", frames=101)
    assert sorted(p.name for p in out_dir.iterdir()) == ["boundary.gif", "boundary.png", "loss.png"]


@pytest.mark.parametrize(
    ("argv", "cause"),
    [
        (("--method", "analytic", "--seed", "0"), "f'(z) ~ 0 on the misclassified samples"),
        (("--method", "analytic", "--activation", "relu", "--init", "normal", "--seed", "2"), "every unit dead"),
    ],
)
def test_a_stalled_run_says_so_in_one_line(capsys, argv, cause):
    rc, out, err = run_cli(capsys, "train", "--no-plots", "--quiet", *argv)
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("final: loss=") and "accuracy=0.5000" in lines[0]
    assert len(lines) == 2 and lines[1].startswith("training stalled: ") and cause in lines[1], out


def test_gif_frames_are_named_as_the_epoch_lines_are(tmp_path, capsys, monkeypatch):
    # frame k shows the weights "epoch #k+1, loss=..." starts from; the last one the final line's
    from matplotlib.text import Text

    titles = []
    set_text = Text.set_text
    monkeypatch.setattr(Text, "set_text", lambda self, s: (titles.append(str(s)), set_text(self, s))[1])
    rc, out, err = run_cli(capsys, "train", "--epochs", "30", "--out", str(tmp_path / "o"))
    assert rc == 0, err
    named = [t.split("\n")[0] for t in titles if t.startswith(("epoch #", "after epoch #"))]
    # one entry per frame: matplotlib 3.7 sets the same title three times per frame (3.10 once)
    frames = [t for i, t in enumerate(named) if i == 0 or t != named[i - 1]]
    printed = re.findall(r"^(epoch #\d+), loss=([0-9.]+)$", out, flags=re.M)
    assert len(printed) == 30 and len(frames) == 31
    for (name, loss), frame in zip(printed, frames, strict=False):
        assert frame == f"{name}, loss={float(loss):.4f}"
    final = re.search(r"^final: loss=([0-9.]+) \(sse\) (after epoch #30's update),", out, flags=re.M)
    assert frames[-1] == f"{final[2]}, loss={float(final[1]):.4f}"
    assert "(31 frames: epoch #1 to #30, then after epoch #30's update)" in out


def test_default_folder_is_fresh_and_named(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, _ = run_cli(capsys, "train", "--epochs", "3", "--quiet")
    assert rc == 0
    (folder,) = list(tmp_path.iterdir())
    assert re.fullmatch(r"gd-torch-train-\d{8}-\d{6}", folder.name)
    assert f"wrote {folder.name}/boundary.gif (4 frames: epoch #1 to #3, then after epoch #3's update)" in out
    assert_image(folder / "boundary.gif", "GIF", frames=4)
    assert not re.search(r"^\(?epoch #", out, flags=re.M)  # --quiet: no epoch lines


def test_no_plots_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, _ = run_cli(capsys, "train", "--epochs", "2", "--no-plots", "--method", "analytic")
    assert rc == 0
    assert list(tmp_path.iterdir()) == []
    assert "gradient: analytic, dL/dW by the chain rule" in out and "the loss printed" in out


def test_many_epochs_give_a_progress_bar_not_thousands_of_lines(capsys):
    rc, out, err = run_cli(capsys, "train", "--epochs", "1000", "--no-plots")
    assert rc == 0
    assert len(re.findall(r"^epoch #", out, flags=re.M)) == 20  # epochs 1, 51, ..., 951
    assert "(epoch #k, loss=...: the loss before epoch k's update, as the tutorial prints it, every 50 epochs)" in out
    assert "\r[" in err and "100%" in err


def test_options_reach_fit(tmp_path, capsys):
    argv = ["train", "--no-plots", "--method", "analytic", "--loss", "bce", "--alpha", "0.5", "--epochs", "50"]
    argv += ["--batch-size", "25", "--seed", "3", "--init", "zeros", "--tol", "0.05"]
    rc, out, _ = run_cli(capsys, *argv)
    assert rc == 0
    X, y = tutorial_data()
    r = fit(X, y, method="analytic", loss="bce", alpha=0.5, epochs=50, batch_size=25, seed=3, init="zeros", tol=0.05)
    assert r.stop_reason == "tol"
    assert f"final: loss={r.final_loss:.7f} (bce) after epoch #{r.epochs_run}'s update" in out
    assert f"stopped after {r.epochs_run} epochs: loss <= tol=0.05" in out


def test_tol_met_at_the_start_prints_no_epoch_line(capsys):
    rc, out, _ = run_cli(capsys, "train", "--no-plots", "--tol", "1000")
    assert rc == 0
    assert not re.search(r"^\(?epoch #", out, flags=re.M)
    assert "(sse) at the initial weights, accuracy=" in out and "stopped after 0 epochs" in out


def test_breast_cancer_has_no_boundary_picture(tmp_path, capsys):
    rc, out, _ = run_cli(capsys, "train", "--dataset", "breast-cancer", "--epochs", "5", "--out", str(tmp_path))
    assert rc == 0
    assert "no boundary.png/boundary.gif: the data has 30 features" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loss.png"]


def test_csv_dataset(tmp_path, capsys):
    X, y = tutorial_data(n_samples=30)
    csv = tmp_path / "d.csv"
    csv.write_text("x1,x2,label\n" + "\n".join(f"{a},{b},{int(c)}" for (_, a, b), c in zip(X, y, strict=True)))
    rc, out, _ = run_cli(capsys, "train", "--dataset", str(csv), "--label", "label", "--epochs", "5", "--no-plots")
    assert rc == 0
    assert "label 'label'" in out


# ---- bad input: one line, exit 2, nothing left behind ----------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--epochs", "1.5"], "--epochs must be a positive integer; got '1.5'"),
        (["--epochs", "0"], "--epochs must be a positive integer; got '0'"),
        (["--epochs", "\uff15"], "--epochs must be a positive integer; got '\uff15'"),  # a full-width 5
        (["--epochs", "1_0"], "--epochs must be a positive integer; got '1_0'"),
        (["--epoch", "5"], "unrecognized arguments: --epoch 5"),  # no abbreviations
        (["--alpha", "0"], "--alpha must be a finite number > 0; got '0'"),
        (["--alpha", "nan"], "--alpha must be a finite number > 0; got 'nan'"),
        (["--alpha", "-1"], "--alpha must be a finite number > 0; got '-1'"),
        (["--alpha", "1e999"], "--alpha must be a finite number > 0; got '1e999'"),
        (["--tol", "inf"], "--tol must be a finite number; got 'inf'"),
        (["--batch-size", "1000"], "--batch-size must be at most the number of samples, 250; got 1000"),
        (["--batch-size", "0"], "--batch-size must be a positive integer; got '0'"),
        (["--patience", "-2"], "--patience must be a positive integer; got '-2'"),
        (["--dataset", "iris"], "--dataset must be one of blobs, breast-cancer or a path ending in .csv; got 'iris'"),
        (["--method", "adam"], "--method must be one of analytic, autograd, "),
        (["--loss", "hinge"], "--loss must be one of sse, mse, bce, logcosh or FILE.py:NAME (your own); got 'hinge'"),
        (["--init", "ones"], "--init must be one of uniform, zeros, normal; got 'ones'"),
        (["--loss", "bce", "--activation", "relu"], "--activation must be one of 'sigmoid' with loss='bce'"),
        (["--seed", "-3"], "--seed must be a non-negative integer; got '-3'"),
        (["--device", "cuda:0", "--method", "analytic"], "--device must be 'cpu' for method='analytic'"),
        (["--out", ""], "--out must be a folder path; got ''"),
        # the library's parameter 'scheme' is part of --method here
        (
            ["--method", "numeric:complex", "--activation", "relu"],
            "--method must be 'central', 'forward' or 'richardson'",
        ),
    ],
)
def test_bad_options(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run_cli(capsys, "train", *argv)
    assert_one_line_error(rc, out, err, f"gd-torch: error: {message}")
    assert list(tmp_path.iterdir()) == []  # no output folder left behind


def test_csv_problems(tmp_path, capsys):
    missing = tmp_path / "missing.csv"
    rc, out, err = run_cli(capsys, "train", "--no-plots", "--dataset", str(missing), "--label", "y")
    assert_one_line_error(rc, out, err, "missing.csv", "cannot be read")
    good = tmp_path / "d.csv"
    good.write_text("a,b,y\n1,2,0\n3,4,1\n")
    rc, out, err = run_cli(capsys, "train", "--no-plots", "--dataset", str(good), "--label", "target")
    assert_one_line_error(rc, out, err, "label column must be", "'target'")
    rc, out, err = run_cli(capsys, "train", "--no-plots", "--dataset", str(good))
    assert_one_line_error(rc, out, err, "--label")
    binary = tmp_path / "bin.bin.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    rc, out, err = run_cli(capsys, "train", "--no-plots", "--dataset", str(binary), "--label", "y")
    assert_one_line_error(rc, out, err, "cannot be read")
    three = tmp_path / "three.csv"
    three.write_text("a,y\n1,0\n2,1\n3,2\n")
    rc, out, err = run_cli(capsys, "train", "--no-plots", "--dataset", str(three), "--label", "y")
    assert_one_line_error(rc, out, err, "y must be 0 or 1", "y[2] = 2.0")


def test_unwritable_out_folder(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    rc, out, err = run_cli(capsys, "train", "--epochs", "2", "--out", str(blocker / "sub"))
    assert_one_line_error(rc, out, err, f"--out folder '{blocker / 'sub'}' cannot be created: Not a directory")
    rc, out, err = run_cli(capsys, "train", "--epochs", "2", "--out", str(blocker))
    assert_one_line_error(rc, out, err, f"--out must be a folder; got '{blocker}', which is a file")
    assert out == ""  # refused before training


def test_divergence_exits_2_and_leaves_no_files(tmp_path, capsys):
    out_dir = tmp_path / "new"
    rc, out, err = run_cli(capsys, "train", "--activation", "identity", "--alpha", "1", "--out", str(out_dir))
    assert_one_line_error(rc, out, err, "diverged at epoch", "alpha=1", "smaller learning rate")
    assert not out_dir.exists()  # this run created it, and removed it again empty


def test_seeded_cli_runs_are_identical(capsys):
    a = run_cli(capsys, "train", "--no-plots", "--epochs", "20", "--batch-size", "10", "--seed", "5")
    b = run_cli(capsys, "train", "--no-plots", "--epochs", "20", "--batch-size", "10", "--seed", "5")
    assert a == b and a[0] == 0
    assert np.isfinite(float(re.search(r"final: loss=([0-9.]+)", a[1]).group(1)))


# ---- plots ---------------------------------------------------------------------------


def test_boundary_line_is_where_z_is_zero():
    from gd_torch.train.plots import boundary_line

    w = np.array([0.5, -2.0, 4.0])
    x1 = np.array([-1.0, 0.0, 3.0])
    x2 = boundary_line(w, x1, "sigmoid")
    np.testing.assert_allclose(w[0] + w[1] * x1 + w[2] * x2, 0.0, rtol=0, atol=8 * np.finfo(float).eps)
    assert boundary_line(np.array([1.0, 2.0, 0.0]), x1, "sigmoid") is None


def _drawn_boundary(monkeypatch, X, y, w, activation):
    # the figure plot_boundary draws, and the (x1, x2) points of its red line
    from gd_torch.train import plots

    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: figures.append(fig))
    plots.plot_boundary(X, y, w, "unused.png", activation=activation)
    (fig,) = figures
    (line,) = [ln for ln in fig.axes[0].get_lines() if ln.get_color() == "r"]
    return fig, np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "identity", "softplus"])
def test_the_drawn_boundary_separates_the_predicted_labels(monkeypatch, activation):
    # the run's predictions (label 1 where f(z) >= 0.5) lie on one side of the drawn line each
    from gd_torch import ACTIVATIONS
    from gd_torch.train.loop import predict_labels

    X, y = tutorial_data()
    r = fit(X, y, method="tutorial", activation=activation, seed=42)
    labels = predict_labels(ACTIVATIONS[activation].f(X @ r.weights))
    assert 0 < labels.sum() < len(labels)  # both labels predicted: a line to test
    _, (xa, xb), (ya, yb) = _drawn_boundary(monkeypatch, X, y, r.weights, activation)
    side = (xb - xa) * (X[:, 2] - ya) - (yb - ya) * (X[:, 1] - xa) > 0  # left of the drawn segment
    wrong = min(np.count_nonzero(side != labels), np.count_nonzero(side == labels))
    assert wrong == 0, f"{wrong} of {len(labels)} points on the wrong side of the line drawn for {activation}"


def test_activation_thresholds_are_where_f_is_one_half():
    import math

    from gd_torch import ACTIVATIONS, Activation
    from gd_torch.train.plots import boundary_line

    for act in ACTIVATIONS.values():  # the label flips within a few roundings of z*
        z, h = act.threshold, 16 * np.finfo(float).eps
        assert act.f(np.array([z - h]))[0] < 0.5 <= act.f(np.array([z + h]))[0], act.name
    # softplus declares no z*: the bisection finds log(e^0.5 - 1)
    assert ACTIVATIONS["softplus"].threshold == pytest.approx(math.log(math.expm1(0.5)), rel=4e-16)
    low = Activation("low", lambda z: 0.4 / (1 + np.exp(-z)), lambda z, a: a * (1 - a / 0.4), "a = 0.4 s(z)", "-")
    bump = Activation("bump", lambda z: np.exp(-z * z), lambda z, a: -2 * z * a, "a = exp(-z^2)", "-")
    assert low.z_halves == () and low.threshold is None
    assert bump.z_halves == pytest.approx((-math.sqrt(math.log(2)), math.sqrt(math.log(2))), rel=1e-15)
    assert bump.threshold is None
    assert boundary_line(np.array([0.0, 1.0, 1.0]), np.array([0.0, 1.0]), low) is None


@pytest.mark.parametrize(("z", "shown"), [(float("nan"), "nan"), (float("inf"), "inf"), (True, "True"), ("x", "'x'")])
def test_bad_declared_threshold_is_refused(z, shown):
    from gd_torch import Activation, GdTorchError

    with pytest.raises(GdTorchError, match=rf"^Activation\.z_half must be a finite float, None .*; got {shown}$"):
        Activation("x", np.tanh, lambda z, a: 1 - a * a, "a = tanh(z)", "-", z_half=z)


def test_the_boundary_picture_says_when_there_is_no_line(monkeypatch):
    from gd_torch import Activation

    X, y = tutorial_data(n_samples=40)
    low = Activation("low", lambda z: 0.4 / (1 + np.exp(-z)), lambda z, a: a * (1 - a / 0.4), "a = 0.4 s(z)", "-")
    fig, xs, _ = _drawn_boundary(monkeypatch, X, y, np.array([0.0, 1.0, -1.0]), low)
    assert xs.size == 0
    assert "no boundary: low never reaches 0.5, every sample is labelled 0" in fig.axes[0].get_title()


def test_animation_stride_keeps_frames_bounded(tmp_path):
    from gd_torch.train.plots import MAX_FRAMES, animate_boundary

    X, y = tutorial_data(n_samples=30)
    r = fit(X, y, method="tutorial", seed=0, epochs=999)
    stride, frames = animate_boundary(X, y, r.weights_history, tmp_path / "b.gif")
    assert stride == 10 and frames == 101 <= MAX_FRAMES  # epochs 0, 10, ..., 990 and the last, 999
    assert_image(tmp_path / "b.gif", "GIF", frames=101)


def test_a_failed_write_leaves_no_file(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from gd_torch.train import plots

    def broken(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken)
    from gd_torch import GdTorchError

    with pytest.raises(GdTorchError, match=r"could not write '.*loss\.png': disk full"):
        plots.plot_loss([3.0, 2.0, 1.0], tmp_path / "loss.png")
    assert list(tmp_path.iterdir()) == []  # neither loss.png nor its temporary file


def test_plots_refuse_data_without_two_features(tmp_path):
    from gd_torch import GdTorchError
    from gd_torch.train.plots import plot_boundary

    X, y = tutorial_data(n_samples=20, n_features=3)
    with pytest.raises(GdTorchError, match=r"X must have 3 columns \(bias, x1, x2\).*got shape \(20, 4\)"):
        plot_boundary(X, y, np.zeros(4), tmp_path / "b.png")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_replaces_a_planted_symlink_and_keeps_the_old_file_on_failure(tmp_path):
    from gd_torch import GdTorchError
    from gd_torch.base import files as _io

    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    target = tmp_path / "out.txt"
    target.symlink_to(victim)
    _io.write_text(target, "new")
    assert victim.read_text() == "keep me"  # the link was replaced, not written through
    assert not target.is_symlink() and target.read_text() == "new"
    with pytest.raises(GdTorchError, match="could not write"), _io.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise OSError(28, "No space left on device")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt", "victim.txt"]
    (tmp_path / ".out.1-abc.partial.txt").write_text("stale")
    assert [p.name for p in _io.remove_stale_partials(tmp_path)] == [".out.1-abc.partial.txt"]


def test_the_readme_shows_the_real_tutorial_run(capsys):
    # the README's `gd-torch train` block, line by line ("..." skips lines; the folder name differs)
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"```console\n\$ gd-torch train\n(.*?)```", readme, flags=re.S)[1]
    shown = [ln for ln in block.splitlines() if not ln.startswith("wrote ")]
    rc, out, _ = run_cli(capsys, "train", "--no-plots")
    assert rc == 0
    real = out.splitlines()
    k, skipping = 0, False
    for line in shown:
        if line == "...":
            skipping = True
            continue
        while skipping and k < len(real) and real[k] != line:
            k += 1
        assert k < len(real) and real[k] == line, f"README line not next in the real output: {line}"
        k, skipping = k + 1, False
    assert k == len(real)
    wrote = [ln.split("/", 1)[1] for ln in block.splitlines() if ln.startswith("wrote ")]
    assert wrote == [
        "loss.png",
        "boundary.png",
        "boundary.gif (101 frames: epoch #1 to #100, then after epoch #100's update)",
    ]
