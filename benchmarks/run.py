"""Run the benchmark from a checkout: ``python benchmarks/run.py [options]`` is ``gd-torch bench``.

    python benchmarks/run.py --out benchmarks/results          # the full CPU grid, the committed results
    python benchmarks/run.py --quick                           # a small grid
    python benchmarks/run.py --device cuda --out benchmarks/results

Everything lives in the package (gd_torch.bench); this script only makes the checkout's
gd_torch importable, for itself and for the worker processes it starts, when it is not installed.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

if importlib.util.find_spec("gd_torch") is None:  # a checkout without an install: use its gd_torch
    ROOT = str(Path(__file__).resolve().parents[1])
    sys.path.insert(0, ROOT)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)

from gd_torch.cli.app import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
