"""What every sub-command shares: --version, no abbreviations, one seed default and type, one method
vocabulary, plain ASCII numbers, and errors that name the flag and the value typed, on one line."""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from gd_torch import GdTorchError
from gd_torch._errors import bad_value
from gd_torch.cli.app import build_parser, main
from gd_torch.cli.commands import _types
from gd_torch.cli.commands._common import DEFAULT_SEED, method_names
from gd_torch.cli.flags import in_flags

#: the sub-commands this module covers (bench's options belong to benchmarks/run.py)
MINE = ("check", "explain", "landscape", "sweep", "train")


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def run_cli(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def assert_refused(rc, out, err, message):
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"gd-torch: error: {message}"), err
    assert not err.startswith("gd-torch: error: gd-torch")  # the program name once


def test_version_is_the_package_metadata(capsys):
    rc, out, _ = run_cli(capsys, "--version")
    assert rc == 0 and out == f"gd-torch {metadata.version('gd-torch')}\n"


def test_python_m_gd_torch_is_gd_torch():
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-m", "gd_torch", "--version"], capture_output=True, text=True, cwd=root)
    assert r.returncode == 0 and r.stdout == f"gd-torch {metadata.version('gd-torch')}\n"


def test_help_exits_0(capsys):
    rc, out, _ = run_cli(capsys, "train", "--help")
    assert rc == 0 and "--out DIR" in out and "--seed SEED" in out


@pytest.mark.parametrize(
    ("command", "prefix"),
    [("train", "--epoch"), ("check", "--meth"), ("sweep", "--alpha"), ("landscape", "--res"), ("explain", "--activ")],
)
def test_abbreviations_are_refused(capsys, command, prefix):
    rc, out, err = run_cli(capsys, command, prefix, "5")
    assert_refused(rc, out, err, f"unrecognized arguments: {prefix} 5")


def test_every_command_abbreviation_off():
    assert all(not p.allow_abbrev for p in subparsers().values())
    assert not build_parser().allow_abbrev


@pytest.mark.parametrize("command", ["check", "explain", "landscape", "train"])
def test_one_default_seed_and_one_seed_type(command):
    p = subparsers()[command]
    assert p.parse_args([]).seed == DEFAULT_SEED == 42
    (action,) = [a for a in p._actions if "--seed" in a.option_strings]
    assert action.type is _types.seed


def _typed_actions(words):
    # the flags whose type parses an integer the constraint of which says ``words``
    for name, p in subparsers().items():
        if name in MINE:
            for a in p._actions:
                constraint = getattr(a.type, "constraint", None)
                if getattr(constraint, "words", None) == words and type(constraint).__name__ == "Integer":
                    yield name, a.option_strings[0]


def test_the_integer_flags_are_found():
    assert {("train", "--epochs"), ("train", "--patience"), ("sweep", "--batch-size"), ("explain", "--hidden")} <= set(
        _typed_actions("a positive integer")
    )
    assert {("check", "--seed"), ("train", "--data-seed")} <= set(_typed_actions("a non-negative integer"))


@pytest.mark.parametrize(("command", "flag"), sorted(set(_typed_actions("a positive integer"))))
@pytest.mark.parametrize("text", ["\uff15", "1_0", "+3", "1.0", " 7"])
def test_positive_integer_flags_take_plain_ascii_digits_only(capsys, command, flag, text):
    rc, out, err = run_cli(capsys, command, f"{flag}={text}")
    assert_refused(rc, out, err, f"{flag} must be a positive integer; got {text!r}")


@pytest.mark.parametrize(("command", "flag"), sorted(set(_typed_actions("a non-negative integer"))))
@pytest.mark.parametrize("text", ["\uff10", "-1", "1e3"])
def test_seed_flags_take_plain_ascii_digits_only(capsys, command, flag, text):
    rc, out, err = run_cli(capsys, command, f"{flag}={text}")
    assert_refused(rc, out, err, f"{flag} must be a non-negative integer; got {text!r}")


@pytest.mark.parametrize("text", ["0.01", "1e-3", ".5", "2", "+1.5E2"])
def test_positive_float_accepts_plain_decimal_numbers(text):
    assert _types.positive_float(text) == float(text)


@pytest.mark.parametrize("text", ["nan", "inf", "1e999", "0", "-0.1", "1_0", "\uff11", "0x10", "1,5", ""])
def test_positive_float_refuses_the_rest(text):
    with pytest.raises(argparse.ArgumentTypeError, match=f"must be a finite number > 0; got {text!r}"):
        _types.positive_float(text)


def test_one_method_vocabulary():
    expected = {"analytic", "autograd", "tutorial", "numeric"}
    expected |= {f"numeric:{s}" for s in ("central", "forward", "richardson", "complex")}
    assert set(method_names()) == expected
    p = subparsers()
    for command in ("train", "landscape"):
        for name in method_names():
            assert p[command].parse_args(["--method", name]).method == name
    for command in ("check", "sweep"):
        assert p[command].parse_args(["--methods", ",".join(method_names())]).methods == method_names()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--batch-size", "1000"], "--batch-size must be at most the number of samples, 250; got 1000"),
        (["landscape", "--weights", "1,7"], "--weights must be two weight indices from 0 to 2; got '1,7'"),
        (["train", "--method", "analytic:bce"], "--method must be one of analytic, autograd"),
        (
            ["check", "--methods", "analytic,numeric:bce"],
            "--methods must be a comma-separated list of gradient methods",
        ),
        (["explain", "--loss", "bce", "--activation", "tanh"], "--activation must be one of 'sigmoid' with loss='bce'"),
        (["check", "--mode", "directional", "--seed", "-1"], "--seed must be a non-negative integer; got '-1'"),
        (["sweep", "--device", "cuda", "--methods", "analytic"], "--device must be 'cpu' for method='analytic'"),
        (["nope"], "argument COMMAND: invalid choice: 'nope'"),
        (["train", "--epochs"], "argument --epochs: expected one argument"),
    ],
)
def test_errors_name_the_flag_and_the_value(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert_refused(*run_cli(capsys, *argv), message)
    assert list(tmp_path.iterdir()) == []


def test_library_parameters_become_flags_in_one_place():
    p = subparsers()

    def named(exc, command):
        return str(in_flags(exc, p[command].parse_args([])))

    assert named(bad_value("batch_size", 0, "None or a positive integer"), "train").startswith("--batch-size must")
    assert named(bad_value("alpha", 0, "> 0", where="fit"), "train") == "fit: --alpha must be > 0; got 0"
    assert named(bad_value("y", "y[2] = 2.0", "0 or 1"), "train") == "y must be 0 or 1; got 'y[2] = 2.0'"  # data
    assert named(GdTorchError("training diverged at epoch 3"), "train") == "training diverged at epoch 3"
    assert named(GdTorchError("losses must be distinct", param="losses"), "landscape") == "--surfaces must be distinct"
    assert named(GdTorchError("j must be a weight index", param="j"), "landscape") == "--weights must be a weight index"
    assert named(GdTorchError("scheme must be central", param="scheme"), "check") == "--methods must be central"
    assert named(GdTorchError("method must be one of", param="method"), "sweep") == "--methods must be one of"


def test_an_error_from_the_parser_is_a_gd_torch_error():
    with pytest.raises(GdTorchError, match=r"^--epochs must be a positive integer; got 'x'$"):
        build_parser().parse_args(["train", "--epochs", "x"])


def test_output_into_a_closed_pipe_ends_quietly(tmp_path):
    import os
    import subprocess
    import sys

    # `gd-torch train | head -1` when the reader has gone: stdout is a pipe with no reader, so
    # the first write fails (EPIPE) whatever the timing; no BrokenPipeError traceback, exit 141
    code = "import sys; from gd_torch.cli.app import main_exit; sys.argv = ['gd-torch', 'train', '--no-plots', '--epochs', '5']; main_exit()"
    r, w = os.pipe()
    os.close(r)
    try:
        p = subprocess.run([sys.executable, "-c", code], stdout=w, stderr=subprocess.PIPE, cwd=tmp_path, timeout=60)
    finally:
        os.close(w)
    err = p.stderr.decode()
    assert p.returncode == 141 and "Traceback" not in err, err
