"""The package as installed: python -m gd_torch, --version, py.typed, the declared extras, and
gd-torch bench's options coming from the package (not from a checkout's benchmarks/ folder)."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

import gd_torch
from gd_torch.cli.app import main

ROOT = Path(__file__).resolve().parents[1]


def test_python_dash_m_gd_torch_is_the_cli_from_any_folder(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "gd_torch", "--version"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"gd-torch {version('gd-torch')}\n"
    assert not list(tmp_path.iterdir())


def test_the_package_has_a_version_and_the_metadata_is_built_from_it():
    # gd_torch.__version__ is the one place the version is written (pyproject reads it)
    assert re.fullmatch(r"\d+\.\d+\.\d+", gd_torch.__version__)
    assert gd_torch.__version__ == version("gd-torch")


def test_the_package_ships_py_typed_and_declares_it():
    assert (Path(gd_torch.__file__).parent / "py.typed").is_file()
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["gd_torch"]
    assert project["project"]["optional-dependencies"]["jax"] == ["jax>=0.4"]


def test_bench_options_come_from_the_package(capsys):
    assert main(["bench", "--help"]) == 0  # argparse's exit after --help becomes the return code
    text = capsys.readouterr().out
    for flag in ("--quick", "--out", "--compare", "--force", "--calibration-tolerance", "--methods"):
        assert flag in text, flag
    source = (ROOT / "gd_torch" / "cli" / "commands" / "bench.py").read_text()
    assert "benchmarks" not in source  # no path into a checkout
