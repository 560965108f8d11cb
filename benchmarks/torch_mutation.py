"""check_torch on the mutation suite, beside gradcheck and assert_close with default tolerances.

    python benchmarks/torch_mutation.py [SEED ...]   # writes benchmarks/results/torch_mutation.{json,md}

For each case of ``tests/torch_functions.py`` (13 custom autograd Functions, 28 realistic bugs) x
dtype (float64, float32, bfloat16, float16) x seed (default the odd seeds 1 to 15: those the study of
benchmarks/torch_study.py did not calibrate K on):

* check_torch(fn, *inputs, reference=...) with its defaults: a false alarm is a correct backward
  not OK; a miss is a bug with effect > 10 (tests/torch_effect.py: the bug alone in units of the
  dtype's measured rounding, norm-wise) reported OK.  Time per check (this CPU, shared).
* torch.autograd.gradcheck (defaults, inputs in the dtype) and torch.testing.assert_close of fn's
  vector-Jacobian product against the reference's in the same dtype (default tolerances), on the
  same inputs and one cotangent.
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("gd_torch") is None:  # a checkout without an install
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from torch_effect import DETECTABLE, effect  # noqa: E402
from torch_functions import CASES, DTYPES, vjp  # noqa: E402

from gd_torch import check_torch  # noqa: E402
from gd_torch.base.files import write_text  # noqa: E402

SEEDS = (1, 3, 5, 7, 9, 11, 13, 15)
OUT = ROOT / "benchmarks" / "results"
CHECKS = ("check_torch", "gradcheck", "assert_close")


def _name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _gradcheck(fn, inputs) -> bool:
    # True when gradcheck passes (an exception in low precision counts as a flag)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return bool(torch.autograd.gradcheck(fn.apply, inputs, raise_exception=False))
        except Exception:  # noqa: BLE001 - what gradcheck does with low precision is the data
            return False


def _assert_close(case, fn, inputs, seed: int) -> bool:
    # True when fn's vjp is assert_close (defaults) to the reference's, same dtype and cotangent
    out = case.reference(*inputs)
    v = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(out.dtype)
    try:
        for a, b in zip(vjp(fn.apply, inputs, v), vjp(case.reference, inputs, v), strict=True):
            torch.testing.assert_close(a, b)
    except AssertionError:
        return False
    return True


def _row(case, bug, fn, dtype, seed: int) -> dict:
    x = case.inputs(dtype, "cpu", seed)
    t0 = time.perf_counter()
    ok = check_torch(fn.apply, *x, reference=case.reference).ok
    seconds = time.perf_counter() - t0
    size = effect(case, fn, dtype, seed) if bug else 0.0
    return {
        "case": case.name,
        "bug": bug,
        "dtype": _name(dtype),
        "seed": seed,
        "effect": size,
        "seconds": seconds,
        "passes": {"check_torch": ok, "gradcheck": _gradcheck(fn, x), "assert_close": _assert_close(case, fn, x, seed)},
    }


def run(seeds: tuple[int, ...]) -> list[dict]:
    rows = []
    for case in CASES:
        for dtype in DTYPES:
            for seed in seeds:
                rows.append(_row(case, "", case.function, dtype, seed))
                rows += [_row(case, b.name, b.function, dtype, seed) for b in case.bugs]
    return rows


def _rate(n: int, of: int) -> str:
    return f"{n}/{of} ({100 * n / of:.1f}%)" if of else "-"


def markdown(rows: list[dict], seeds: tuple[int, ...]) -> str:
    lines = [
        "# torch_mutation: check_torch vs gradcheck vs assert_close on the mutation suite",
        "",
        f"13 custom autograd Functions x 28 bugs x 4 dtypes, seeds {list(seeds)}, check_torch defaults; "
        f"torch {torch.__version__}. A bug is detectable when its effect > {DETECTABLE:g}x the dtype's "
        "measured rounding (tests/torch_effect.py).",
        "",
        "| check | dtype | false alarms | missed detectable bugs | missed any bug | largest missed effect |",
        "|---|---|---|---|---|---|",
    ]
    for check in CHECKS:
        for dtype in map(_name, DTYPES):
            mine = [r for r in rows if r["dtype"] == dtype]
            correct = [r for r in mine if not r["bug"]]
            bugs = [r for r in mine if r["bug"]]
            big = [r for r in bugs if r["effect"] > DETECTABLE]
            false = sum(not r["passes"][check] for r in correct)
            missed = [r for r in big if r["passes"][check]]
            largest = max((r["effect"] for r in bugs if r["passes"][check]), default=0.0)
            lines.append(
                f"| {check} | {dtype} | {_rate(false, len(correct))} | {_rate(len(missed), len(big))} | "
                f"{_rate(sum(r['passes'][check] for r in bugs), len(bugs))} | {largest:.3g} |"
            )
    times = [r["seconds"] for r in rows]
    lines += [
        "",
        f"check_torch time per check (this CPU, shared by other jobs): median {statistics.median(times):.3f} s, "
        f"max {max(times):.3f} s over {len(times)} checks.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    seeds = tuple(int(a) for a in argv) or SEEDS
    torch.set_num_threads(1)
    rows = run(seeds)
    OUT.mkdir(parents=True, exist_ok=True)
    write_text(OUT / "torch_mutation.json", json.dumps(rows, indent=1) + "\n")
    text = markdown(rows, seeds)
    write_text(OUT / "torch_mutation.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
