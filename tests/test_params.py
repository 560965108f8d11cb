"""Validation declared once: constraint tables shared by the library and the command line, and
errors that carry their parameter, so that the command line names the flag without reading
the message."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

import gd_torch
from gd_torch import GdTorchError
from gd_torch._errors import bad_value
from gd_torch.base.validate import SEED, Integer, Number, Options, params
from gd_torch.cli.app import build_parser, main
from gd_torch.cli.commands import _launch
from gd_torch.cli.commands import train as train_command
from gd_torch.cli.flags import in_flags
from gd_torch.data.datasets import tutorial_data
from gd_torch.train.fit_args import FIT_PARAMS


def run_cli(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    assert err.count("\n") == 1, err
    return rc, err.removeprefix("gd-torch: error: ").rstrip("\n")


def subparser(command: str) -> argparse.ArgumentParser:
    (action,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return action.choices[command]


# ---- the error carries its parameter -----------------------------------------------------------


def test_bad_value_carries_parameter_value_and_what_is_accepted():
    exc = bad_value("alpha", -1.0, "a finite number > 0", where="fit")
    assert str(exc) == "fit: alpha must be a finite number > 0; got -1.0"
    assert (exc.param, exc.value, exc.accepted, exc.where) == ("alpha", -1.0, "a finite number > 0", "fit")


def test_a_library_refusal_carries_its_parameter():
    X, y = tutorial_data(20)
    with pytest.raises(GdTorchError, match=r"^epochs must be a positive integer; got 0$") as info:
        gd_torch.fit(X, y, epochs=0)
    assert (info.value.param, info.value.value, info.value.accepted) == ("epochs", 0, "a positive integer")
    with pytest.raises(GdTorchError) as info:
        gd_torch.fit(X, y, batch_size=21)
    assert info.value.param == "batch_size" and info.value.accepted == "None or an integer from 1 to n_samples = 20"


def test_naming_puts_the_name_in_place_of_the_parameter():
    assert str(bad_value("alpha", 0, "> 0", where="fit").naming("--alpha")) == "fit: --alpha must be > 0; got 0"
    exc = GdTorchError("standardize needs no constant column", param="standardize")
    assert str(exc.naming("--standardize")) == "--standardize needs no constant column"
    # a message that does not begin with its parameter: the name goes in front
    exc = GdTorchError("label column must be one of the csv header's columns", param="lbl")
    assert str(exc.naming("--label")) == "--label: label column must be one of the csv header's columns"


# ---- the command line maps the parameter, never the message ------------------------------------


def _raising(exc: GdTorchError):
    def fit(*args, **kwargs):
        raise exc

    return fit


def test_the_flag_comes_from_the_parameter_not_from_the_message(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    # the message does not contain the parameter's name: still named by --alpha
    exc = GdTorchError("the step is too large for this problem", param="alpha")
    monkeypatch.setattr(train_command, "fit", _raising(exc))
    assert run_cli(capsys, "train", "--no-plots") == (2, "--alpha: the step is too large for this problem")
    # a message that looks like a parameter's but carries none is printed as it is
    monkeypatch.setattr(train_command, "fit", _raising(GdTorchError("alpha must be small; got 3")))
    assert run_cli(capsys, "train", "--no-plots") == (2, "alpha must be small; got 3")
    # a parameter set by a flag of another name (the command's FLAGS renames)
    exc = bad_value("scheme", "x", "'central'")
    monkeypatch.setattr(train_command, "fit", _raising(exc))
    assert run_cli(capsys, "train", "--no-plots") == (2, "--method must be 'central'; got 'x'")


def test_the_flag_table_is_the_parsers_dest_to_option_map():
    args = subparser("train").parse_args([])
    assert args._flags["batch_size"] == "--batch-size" and args._flags["data_seed"] == "--data-seed"
    assert "help" not in args._flags
    assert (
        str(in_flags(bad_value("n_samples", 0, "a positive integer"), args))
        == "--n-samples must be a positive integer; got 0"
    )
    assert str(in_flags(bad_value("X", "an array of shape (3,)", "2-D"), args)).startswith("X must be 2-D")


def test_a_rank_names_flags_from_the_launchers_table():
    args = subparser("train").parse_args(["--workers", "2"])
    settings = {k: v for k, v in vars(args).items() if not k.startswith("_")}
    job = json.loads(json.dumps({"command": "train", "module": args._module, "args": settings, "flags": args._flags}))
    rank = _launch._rank_args(job)
    assert str(in_flags(bad_value("batch_size", 0, "a positive integer"), rank)).startswith("--batch-size must")
    exc = GdTorchError("rank 1: alpha must be > 0; got 0", param="alpha", where="rank 1")
    assert str(in_flags(exc, rank)) == "rank 1: --alpha must be > 0; got 0"


# ---- one table drives the library and the command line -----------------------------------------


@pytest.mark.parametrize("name", sorted(FIT_PARAMS))
def test_train_flags_take_fits_constraints(name):
    flag = "--" + name.replace("_", "-")
    (action,) = [a for a in subparser("train")._actions if flag in a.option_strings]
    assert action.type.constraint is FIT_PARAMS[name]


def test_one_constraint_changed_changes_the_library_and_the_command_line(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(FIT_PARAMS, "epochs", Integer(minimum=5))
    X, y = tutorial_data(20)
    with pytest.raises(GdTorchError, match=r"^epochs must be an integer >= 5; got 3$"):
        gd_torch.fit(X, y, epochs=3)
    assert run_cli(capsys, "train", "--epochs", "3") == (2, "--epochs must be an integer >= 5; got '3'")
    monkeypatch.setitem(FIT_PARAMS, "alpha", Number(above=0, maximum=1, note="the learning rate"))
    with pytest.raises(
        GdTorchError, match=r"^alpha must be a finite number > 0 and <= 1 \(the learning rate\); got 2$"
    ):
        gd_torch.fit(X, y, alpha=2)
    assert run_cli(capsys, "train", "--alpha", "2") == (2, "--alpha must be a finite number > 0 and <= 1; got '2'")
    assert run_cli(capsys, "sweep", "--alphas", "0.1,2")[1].startswith("--alphas must be a comma-separated list")


def test_the_unchanged_table_gives_todays_lines(capsys):
    assert run_cli(capsys, "train", "--epochs", "nope") == (2, "--epochs must be a positive integer; got 'nope'")
    assert run_cli(capsys, "train", "--alpha", "-1") == (2, "--alpha must be a finite number > 0; got '-1'")
    assert run_cli(capsys, "train", "--tol", "inf") == (2, "--tol must be a finite number; got 'inf'")
    assert run_cli(capsys, "check", "--mode", "fast") == (2, "--mode must be one of full, directional; got 'fast'")


# ---- the constraints themselves ----------------------------------------------------------------


def test_constraints_check_parse_and_describe():
    assert Integer(minimum=1)("n", 3) == 3 and Integer(minimum=1).words == "a positive integer"
    with pytest.raises(GdTorchError, match=r"^n must be None or a positive integer \(rows\); got 0$"):
        Integer(minimum=1, none_ok=True, note="rows")("n", 0)
    assert [Integer(minimum=0).from_text(t) for t in ("12", "-1", "1.0", "\uff11", "+3")] == [
        12,
        None,
        None,
        None,
        None,
    ]
    assert Number(above=0).from_text("1e-3") == 1e-3 and Number().from_text("nan") is None
    assert Number(above=0).admits(0.5) and not Number(above=0).admits(0.0) and not Number().admits(True)
    assert SEED("seed", None) is None and SEED.words == "a non-negative integer"
    registry = {"a": 1}
    live = Options(registry)
    registry["b"] = 2  # a name registered later is accepted
    assert live("x", "b") == "b" and live.words == "one of a, b"
    with pytest.raises(GdTorchError, match=r"^x must be one of 'a', 'b'; got 'c'$"):
        live("x", "c")


def test_bool_and_dtype_constraints():
    from gd_torch.base.validate import Bool, FloatDtype

    assert Bool()("b", True) is True and not Bool().admits(1) and not Bool().admits(np.bool_(True))
    with pytest.raises(GdTorchError, match=r"^batched must be True or False; got 1$"):
        Bool()("batched", 1)
    assert FloatDtype()("dtype", "float32") == np.float32 and FloatDtype().words == "'float32' or 'float64'"
    assert FloatDtype().admits("float64") and not FloatDtype().admits("float16")


def test_params_checks_exactly_the_tables_parameters():
    table = {"k": Integer(minimum=1), "t": Number(none_ok=True)}
    assert params(table, t=None, k=2) == {"k": 2, "t": None}
    with pytest.raises(TypeError, match="expected the parameters"):
        params(table, k=2)
    with pytest.raises(GdTorchError, match=r"^k must be a positive integer; got True$"):
        params(table, k=True, t=None)


@pytest.mark.parametrize(
    ("command", "flag", "table", "param"),
    [
        ("train", "--n-samples", "TUTORIAL_DATA_PARAMS", "n_samples"),
        ("sweep", "--n-features", "TUTORIAL_DATA_PARAMS", "n_features"),
        ("check", "--mode", "CHECK_PARAMS", "mode"),
        ("explain", "--hidden", "EXPLAIN_MLP_PARAMS", "hidden"),
        ("train", "--timeout", "INIT_PARAMS", "timeout"),
        ("check", "--timeout", "INIT_PARAMS", "timeout"),
    ],
)
def test_flags_take_the_constraint_of_the_parameter_they_set(command, flag, table, param):
    from gd_torch.data import datasets
    from gd_torch.distributed import comm
    from gd_torch.teach import mlp
    from gd_torch.verdict import checker

    tables = {
        "TUTORIAL_DATA_PARAMS": datasets.TUTORIAL_DATA_PARAMS,
        "CHECK_PARAMS": checker.CHECK_PARAMS,
        "EXPLAIN_MLP_PARAMS": mlp.EXPLAIN_MLP_PARAMS,
        "INIT_PARAMS": comm.INIT_PARAMS,
    }
    (action,) = [a for a in subparser(command)._actions if flag in a.option_strings]
    assert action.type.constraint is tables[table][param]


def test_checks_mode_table_drives_check_and_its_flag(capsys, monkeypatch, tmp_path):
    from gd_torch.verdict import checker

    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(checker.CHECK_PARAMS, "mode", Options(("full",)))
    X, y = tutorial_data(20)
    W = np.full(X.shape[1], 0.5)
    with pytest.raises(GdTorchError, match=r"^mode must be one of 'full'; got 'directional'$"):
        gd_torch.check(W, X, y, mode="directional")
    assert run_cli(capsys, "check", "--mode", "directional") == (2, "--mode must be one of full; got 'directional'")
