"""gd-torch bench: time every gradient method against the machine's floor (runs benchmarks/run.py).

The benchmark lives in the source checkout's ``benchmarks/`` folder, beside the package:
it starts one worker process per library, which an installed package alone cannot ship.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from types import ModuleType

from .._errors import GdTorchError

RUNNER = Path(__file__).resolve().parents[2] / "benchmarks" / "run.py"


def _runner() -> ModuleType | None:
    if not RUNNER.is_file():
        return None
    spec = importlib.util.spec_from_file_location("gd_torch_benchmarks_run", RUNNER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def add_arguments(p: argparse.ArgumentParser) -> None:
    runner = _runner()
    if runner is None:
        p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        return
    runner.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    runner = _runner()
    if runner is None:
        raise GdTorchError(
            f"gd-torch bench needs the source checkout's benchmarks/run.py, expected at {RUNNER}; "
            "clone the repository and run it from there"
        )
    return runner.run(args)
