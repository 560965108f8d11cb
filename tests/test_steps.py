"""gd_torch.teach.steps: the finite-difference error against the step h, its predictions, the picture, the CLI."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from gd_torch import GdTorchError
from gd_torch.cli import app as cli
from gd_torch.gradients.step_rules import default_steps
from gd_torch.teach.steps import step_sweep
from gd_torch.teach.steps_plot import plot_steps


@pytest.fixture(scope="module", params=[0, 1, 2], ids=lambda j: f"j={j}")
def sweep(request):
    """The tutorial's problem (W from seed 0), each coordinate, float64 beside float32."""
    return step_sweep(coordinate=request.param)


def test_central_float64_best_error_at_the_predicted_optimum(sweep):
    sw = sweep.sweeps["float64"]
    c = sw.curves["central"]
    step, error = c.best
    # the predicted optimum balances h^2 |d3| / 6 against eps |f| / h: about eps^(2/3) relative
    assert 0.1 < c.predicted_error / sw.eps ** (2 / 3) < 10
    assert c.predicted_error / 10 <= error <= 10 * c.predicted_error, (error, c.predicted_error)
    assert c.predicted_step / 10 <= step <= 10 * c.predicted_step, (step, c.predicted_step)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_slopes_in_the_truncation_regime(sweep, dtype):
    curves = sweep.sweeps[dtype].curves
    if dtype == "float64":  # in float32 rounding leaves forward too few truncation-dominated steps
        assert curves["forward"].truncation_regime.sum() >= 3
        assert abs(curves["forward"].slope() - 1) <= 0.2
    assert curves["central"].truncation_regime.sum() >= 3
    assert abs(curves["central"].slope() - 2) <= 0.3


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_complex_step_stays_at_rounding_level_down_to_1e_16(sweep, dtype):
    sw = sweep.sweeps[dtype]
    cx, central = sw.curves["complex"], sw.curves["central"]
    small = cx.truncation <= sw.eps  # every step whose truncation is below rounding, down to 1e-16
    assert small.sum() > 40 and cx.steps[small].min() == pytest.approx(1e-16)
    assert (cx.errors[small] <= sw.floor).all(), cx.errors[small].max() / sw.floor
    # while central differences at h = 1e-16 have lost at least 4 more digits to the subtraction,
    # as the rounding line eps |f| / h predicts (to within the factor of a few it overestimates), or
    # all of them (error 1) where W_j + h rounds to W_j and nothing is left to subtract (float32)
    assert central.errors[-1] > 1e4 * sw.floor
    assert central.errors[-1] >= min(1.0, 0.01 * central.rounding[-1])


def test_predictions_rest_on_the_derivatives_of_the_problem(sweep):
    for sw in sweep.sweeps.values():
        # d1 by nested autograd in float64 is the long-double gradient
        assert sw.derivatives[1] == pytest.approx(sw.exact, rel=1e-13)
        for name, c in sw.curves.items():
            assert c.chosen_step == default_steps(sweep.W.astype(sw.dtype), name)[sweep.coordinate]
            assert np.all(np.diff(np.log(c.truncation)) < 0)  # C h^p falls as h falls


def test_relu_has_no_complex_step_and_refuses_one():
    r = step_sweep(activation="relu", dtypes=("float64",), steps=np.logspace(0, -8, 9))
    assert list(r.sweeps["float64"].curves) == ["forward", "central", "richardson"]
    with pytest.raises(GdTorchError, match=r"^scheme must be 'central', 'forward' or 'richardson'"):
        step_sweep(activation="relu", schemes=("complex",))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"coordinate": 3}, r"^coordinate must be a weight index from 0 to 2; got 3"),
        ({"coordinate": True}, r"^coordinate must be a weight index"),
        ({"dtypes": "float64"}, r"^dtypes must be a non-empty sequence"),
        ({"dtypes": ("float16",)}, r"^dtypes must be 'float32' or 'float64'"),
        ({"dtypes": ("float64", "float64")}, r"^dtypes must be distinct dtypes"),
        ({"schemes": ("backward",)}, r"^schemes must be one of 'forward', 'central', 'richardson', 'complex'"),
        ({"steps": [1e-3, 0.0]}, r"^steps must be a 1-D array of at least two positive finite steps"),
        ({"steps": [1e-3, np.nan]}, r"^steps must be a 1-D array"),
        ({"W": [1.0, 2.0]}, r"^W must be of shape \(n_features,\) = \(3,\)"),
        ({"loss": "hinge"}, r"^loss must be one of"),
    ],
)
def test_bad_input_is_refused(kwargs, message):
    with pytest.raises(GdTorchError, match=message):
        step_sweep(**kwargs)


def test_plot_writes_a_readable_png(tmp_path):
    r = step_sweep(steps=np.logspace(0, -16, 33))
    path = plot_steps(r, tmp_path / "s.png")
    with Image.open(path) as im:
        assert im.size[0] > 1000 and im.size[1] > 500
        assert np.asarray(im.convert("L")).std() > 10  # not a blank canvas
    with pytest.raises(GdTorchError, match=r"^path must be a path ending in \.png"):
        plot_steps(r, tmp_path / "s.jpg")
    with pytest.raises(GdTorchError, match=r"^result must be a StepsResult"):
        plot_steps("nothing", tmp_path / "t.png")


def test_cli_prints_the_table_and_writes_steps_png(tmp_path, capsys):
    assert cli.main(["steps", "--out", str(tmp_path / "o"), "--dtype", "float64", "--coordinate", "1"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "dL/dW_1 of loss=sse, activation=sigmoid, N=250, D=3" in out
    rows = [ln.split() for ln in out.splitlines() if ln.strip().startswith("1e-")]
    assert len(rows) == 16 and all(len(r) == 5 for r in rows)  # one per decade, four schemes
    assert out.rstrip().endswith(f"wrote {tmp_path / 'o' / 'steps.png'}")
    assert (tmp_path / "o" / "steps.png").stat().st_size > 20_000


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--coordinate", "3"], "--coordinate must be a weight index from 0 to 2; got 3"),
        (["--coordinate", "-1"], "--coordinate must be a non-negative integer; got '-1'"),
        (["--dtype", "float16"], "--dtype must be one of 'both', 'float64', 'float32'; got 'float16'"),
        (["--loss", "hinge"], "--loss must be one of"),
        (["--loss", "bce", "--activation", "tanh"], "activation must be one of 'sigmoid' with loss='bce'"),
    ],
)
def test_cli_bad_flags_exit_2_with_one_line(argv, message, capsys, tmp_path):
    assert cli.main(["steps", "--out", str(tmp_path), *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and message in err and "Traceback" not in err


def test_cli_unwritable_out_names_the_flag(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli.main(["steps", "--out", str(blocker / "sub")]) == 2
    assert "--out folder" in capsys.readouterr().err


def test_cli_table_has_no_nan_and_says_why_a_slope_is_missing(tmp_path, capsys):
    # float32 Richardson has fewer than 3 steps where truncation dominates: its slope is not fitted
    assert cli.main(["steps", "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert not re.search(r"\bnan\b", out, flags=re.I)
    rows = [ln for ln in out.splitlines() if ln.startswith("richardson ")]
    assert len(rows) == 2 and rows[0].endswith("4.00 (4)") and rows[1].endswith("| no fit (4)")
    assert "no fit (richardson): fewer than 3 steps where truncation dominates" in out


def test_legend_says_what_the_rounding_factor_is(monkeypatch):
    from gd_torch.gradients.schemes import SCHEMES
    from gd_torch.teach import steps_plot as plots_steps

    figures = []
    monkeypatch.setattr(plots_steps, "save_figure", lambda fig, path: figures.append(fig))
    plot_steps(step_sweep(steps=np.logspace(0, -16, 17)), "unused.png")
    (fig,) = figures
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    (rounding,) = [t for t in labels if t.startswith("predicted rounding")]
    assert not re.search(r"\bamp\b", rounding)  # the bare "amp" said nothing
    for scheme, name in (("forward", "forward"), ("central", "central"), ("richardson", "Richardson")):
        assert f"{SCHEMES[scheme].noise_amplification:g} {name}" in rounding
    assert "noise amplification" in rounding and "complex step: eps" in rounding
