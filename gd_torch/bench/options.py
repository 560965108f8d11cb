"""The benchmark's command-line options and their validation into one :class:`Config`."""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass

from .._errors import GdTorchError, bad_value
from .plan import DTYPES, LIBRARIES, catalog
from .timing import CALIBRATION_REPEATS

N_GRID = (250, 10_000, 100_000, 1_000_000)
D_GRID = (3, 64, 512)
#: (N, D, seconds of timing per method, budget per numeric call) of the full grid and of --quick
#: and how many worker processes time each row (the median across them is reported)
FULL = {"n": N_GRID, "d": D_GRID, "min_run_time": 0.5, "budget_s": 3.0, "repeats": 3}
QUICK = {"n": (250, 10_000), "d": (3, 64), "min_run_time": 0.05, "budget_s": 0.05, "repeats": 1}
#: --repeats at most: each repeat runs every worker over the whole plan again
MAX_REPEATS = 15
#: a cell whose calibration kernel moved by this fraction or more is retried, then marked
CALIBRATION_TOLERANCE = 0.2


@dataclass(frozen=True)
class Config:
    """A validated benchmark run (see add_arguments for each field's meaning)."""

    n: tuple[int, ...]
    d: tuple[int, ...]
    dtype: tuple[str, ...]
    methods: tuple[str, ...]
    device: str
    threads: int
    min_run_time: float
    budget_s: float
    train: bool
    seed: int
    quick: bool
    explicit_sizes: bool
    calibration_tolerance: float
    retries: int
    #: --reference, and what was read from it (machine.idle_reference) once the run starts
    reference: str | None = None
    idle_reference: dict | None = None
    verbose: bool = False
    calibration_repeats: int = CALIBRATION_REPEATS
    #: worker processes per library, each timing every row; a row reports the median across them
    repeats: int = 1


def _int_list(text: str) -> tuple[int, ...]:
    out = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value >= 1 and value == int(value)):
            raise argparse.ArgumentTypeError(
                f"must be positive integers separated by commas (1e5 is fine), got {text!r}"
            )
        out.append(int(value))
    return tuple(out)


def _str_list(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def _float_where(ok, words: str):
    # argparse type: a finite float for which ok(value) holds
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and ok(value)):
            raise argparse.ArgumentTypeError(f"must be {words}, got {text!r}")
        return value

    return parse


_positive = _float_where(lambda v: v > 0, "a positive number")
_at_least_zero = _float_where(lambda v: v >= 0, "a number >= 0")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The benchmark's options (``gd-torch bench`` and ``python benchmarks/run.py``)."""
    _grid_arguments(p.add_argument_group("grid"))
    _timing_arguments(p.add_argument_group("timing"))
    _output_arguments(p.add_argument_group("output"))


def _grid_arguments(g) -> None:
    g.add_argument("--quick", action="store_true", help="a small grid (N in 250,1e4; D in 3,64), short timings")
    g.add_argument("--n", type=_int_list, default=None, help="sample counts, comma-separated (default 250,1e4,1e5,1e6)")
    g.add_argument("--d", type=_int_list, default=None, help="feature counts, comma-separated (default 3,64,512)")
    g.add_argument("--dtype", type=_str_list, default=None, help="float64,float32 (default both)")
    g.add_argument(
        "--methods", type=_str_list, default=None, help=f"rows, comma-separated (default all: {', '.join(catalog())})"
    )
    g.add_argument(
        "--device", default="cpu", help="'cpu' (default) or 'cuda': also time the torch and JAX rows on CUDA"
    )
    g.add_argument("--no-train", action="store_true", help="skip the training runs at the tutorial's size")


def _timing_arguments(t) -> None:
    t.add_argument(
        "--threads", type=int, default=None, help="threads for BLAS, torch and JAX (default: this process's cores)"
    )
    t.add_argument(
        "--min-run-time", type=_positive, default=None, help="seconds of timing per row (default 0.5; quick 0.05)"
    )
    t.add_argument(
        "--budget",
        type=_positive,
        default=None,
        help="skip a numeric row estimated over this many seconds a call (3; quick 0.05)",
    )
    t.add_argument(
        "--calibration-tolerance",
        type=_at_least_zero,
        default=CALIBRATION_TOLERANCE,
        help=f"retry, then mark, a cell whose calibration moved by this fraction or more ({CALIBRATION_TOLERANCE})",
    )
    t.add_argument(
        "--calibration-repeats",
        type=int,
        default=CALIBRATION_REPEATS,
        help=f"runs of the calibration kernel before and after each cell, the fastest counting ({CALIBRATION_REPEATS}; "
        "fewer: a shorter run whose calibration is noisier, e.g. for tests)",
    )
    t.add_argument(
        "--reference",
        default=None,
        metavar="FILE.json",
        help="an idle run's result on this machine: its calibration is the idle reference "
        "(default: the checkout's benchmarks/results/cpu.json)",
    )
    t.add_argument("--retries", type=int, default=1, help="how often a cell whose calibration moved is timed again (1)")
    t.add_argument(
        "--repeats",
        type=int,
        default=None,
        help=f"worker processes timing each row, the median across them reported ({FULL['repeats']}; quick {QUICK['repeats']})",
    )
    t.add_argument("--seed", type=int, default=0, help="seed of the random data (0)")


def _output_arguments(o) -> None:
    o.add_argument("--out", default=None, help="output folder (default: a fresh gd-torch-bench-<time> folder here)")
    o.add_argument(
        "--verbose",
        action="store_true",
        help="one progress line per row on stderr (default: one updating line on a terminal)",
    )
    o.add_argument("--tag", default=None, help="file name stem (default: cpu, cuda, quick or compare)")
    o.add_argument("--force", action="store_true", help="replace earlier results even when cells were marked contended")
    o.add_argument(
        "--assemble",
        default=None,
        metavar="FILE.jsonl",
        help="only rebuild .json/.md/plots from a rows file (beside it, or into --out)",
    )
    o.add_argument(
        "--compare",
        default=None,
        metavar="FILE.json",
        help="re-time a sample of FILE's cells; list those off by > 1.5x",
    )
    o.add_argument("--sample", type=int, default=6, help="--compare: how many cells to re-time (6)")


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1


def _methods(asked: tuple[str, ...] | None) -> tuple[str, ...]:
    rows = catalog()
    for m in asked or ():
        if m not in rows:
            raise bad_value("--methods", m, "one of " + ", ".join(rows))
        for lib in set(rows[m].workers.values()):
            missing = LIBRARIES[lib].missing()
            if missing is not None:  # asked by name: refused; by default: skipped with the reason
                raise GdTorchError(f"--methods {m} needs {missing}")
    methods = tuple(asked) if asked else tuple(rows)
    # every row needs its floor, every training run through fit its bare loops
    refs = ((m.name, (m.baseline_of, m.overhead_of)) for m in rows.values())
    bare = tuple(name for name, of in refs if any(x in methods for x in of if x) and name not in methods)
    return ("floor",) * ("floor" not in methods) + methods + bare


#: --retries at most: each retry re-times a whole cell (seconds to minutes at the largest sizes)
MAX_RETRIES = 10


def config(args: argparse.Namespace) -> Config:
    """Validate every option at the boundary; one GdTorchError for the first bad one."""
    base = QUICK if args.quick else FULL
    for dt in args.dtype or ():
        if dt not in DTYPES:
            raise bad_value("--dtype", dt, "float64 or float32 (comma-separated)")
    if args.device not in ("cpu", "cuda"):
        raise bad_value("--device", args.device, "'cpu' or 'cuda'")
    threads = args.threads if args.threads is not None else cores()
    for flag, value, least in (
        ("--threads", threads, 1),
        ("--seed", args.seed, 0),
        ("--retries", args.retries, 0),
        ("--calibration-repeats", args.calibration_repeats, 1),
    ):
        if value < least:
            raise bad_value(flag, value, "a positive integer" if least else "a non-negative integer")
    repeats = args.repeats if args.repeats is not None else base["repeats"]
    if not 1 <= repeats <= MAX_REPEATS:
        raise bad_value("--repeats", repeats, f"an integer from 1 to {MAX_REPEATS}")
    if args.retries > MAX_RETRIES:  # a cell timed again and again while the machine is busy measures the load
        raise bad_value("--retries", args.retries, f"an integer from 0 to {MAX_RETRIES}")
    return Config(
        n=args.n or base["n"],
        d=args.d or base["d"],
        dtype=args.dtype or DTYPES,
        methods=_methods(args.methods),
        device=args.device,
        threads=threads,
        min_run_time=args.min_run_time or base["min_run_time"],
        budget_s=args.budget or base["budget_s"],
        train=not args.no_train,
        seed=args.seed,
        quick=bool(args.quick),
        explicit_sizes=args.n is not None or args.d is not None,
        calibration_tolerance=args.calibration_tolerance,
        calibration_repeats=args.calibration_repeats,
        retries=args.retries,
        repeats=repeats,
        reference=args.reference,
        verbose=args.verbose,
    )


def check_cuda(device: str) -> str | None:
    """The GPU's name when --device cuda is asked and present; refuse it when absent."""
    if device != "cuda":
        return None
    import torch  # only when CUDA is asked for

    if not torch.cuda.is_available():
        raise GdTorchError(
            f"--device cuda needs a CUDA device, but torch {torch.__version__} sees none here "
            "(torch.cuda.is_available() is False); use --device cpu"
        )
    return torch.cuda.get_device_name(0)
