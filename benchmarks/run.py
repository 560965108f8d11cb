"""Benchmark every gradient method against the machine's own floor; ``gd-torch bench`` runs this.

    python benchmarks/run.py                 # the full CPU grid (minutes), results in benchmarks/results/
    python benchmarks/run.py --quick         # a small grid in under a minute
    python benchmarks/run.py --device cuda   # CPU and CUDA rows, for the crossover

Each library is timed in a process of its own (worker_numpy.py never imports torch;
worker_torch.py times torch on the CPU and CUDA).  This process plans the grid, refuses
or skips what does not fit, streams the workers' rows into ``<tag>.jsonl`` as they come
(an interrupted run keeps them) and assembles ``<tag>.json``, ``<tag>.md`` and the plots.

The floor of every row is the time to read X once on the same device: the faster of one
``X @ W`` and one reduction ``X.sum(axis=0)``; each row shows its time over that floor.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere: use this checkout's gd_torch
    sys.path.insert(0, str(ROOT))

from gd_torch._errors import GdTorchError, bad_value  # noqa: E402

sys.path.insert(0, str(HERE))  # the workers' shared harness
from _harness import memory_available  # noqa: E402

N_GRID = (250, 10_000, 100_000, 1_000_000)
D_GRID = (3, 64, 512)
DTYPES = ("float64", "float32")
QUICK = {"n": (250, 10_000), "d": (3, 64), "dtype": DTYPES, "min_run_time": 0.05, "budget_s": 0.05}

#: gradient methods timed: name -> (library, devices it runs on, what it is)
METHODS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "floor": ("numpy", ("cpu",), "read X once: min(X @ W, X.sum(axis=0))"),
    "analytic": ("numpy", ("cpu",), "hand-derived chain rule, numpy (gd_torch analytic)"),
    "autograd": ("torch", ("cpu", "cuda"), "torch autograd (gd_torch.gradients.autograd.grad_tensor)"),
    "formula-torch": ("torch", ("cpu", "cuda"), "the hand-derived formula in torch, no autograd"),
    "central-batched": ("numpy", ("cpu",), "central differences, perturbations batched into matrix products"),
    "central-loop": ("numpy", ("cpu",), "central differences, one matrix-vector product per perturbation"),
    "complex": ("numpy", ("cpu",), "complex step, batched"),
}
#: training runs at the tutorial's size: name -> (library, devices)
TRAIN: dict[str, tuple[str, tuple[str, ...]]] = {
    "numpy-loop": ("numpy", ("cpu",)),
    "analytic": ("numpy", ("cpu",)),
    "autograd": ("torch", ("cpu", "cuda")),
    "formula-torch": ("torch", ("cpu", "cuda")),
    "central-batched": ("numpy", ("cpu",)),
    "central-loop": ("numpy", ("cpu",)),
    "complex": ("numpy", ("cpu",)),
}


# ---- arguments ---------------------------------------------------------------------


def _int_list(text: str) -> tuple[int, ...]:
    out = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be positive integers separated by commas (1e5 is fine), got {text!r}"
            ) from None
        if not (math.isfinite(value) and value >= 1 and value == int(value)):
            raise argparse.ArgumentTypeError(
                f"must be positive integers separated by commas (1e5 is fine), got {text!r}"
            )
        out.append(int(value))
    return tuple(out)


def _str_list(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The benchmark's options (shared by ``gd-torch bench`` and ``python benchmarks/run.py``)."""
    p.add_argument("--quick", action="store_true", help="a small grid (N in 250,1e4; D in 3,64) in under a minute")
    p.add_argument("--n", type=_int_list, default=None, help="sample counts, comma-separated (default 250,1e4,1e5,1e6)")
    p.add_argument("--d", type=_int_list, default=None, help="feature counts, comma-separated (default 3,64,512)")
    p.add_argument("--dtype", type=_str_list, default=None, help="float64,float32 (default both)")
    p.add_argument(
        "--methods",
        type=_str_list,
        default=None,
        help=f"gradient methods, comma-separated (default all: {', '.join(METHODS)})",
    )
    p.add_argument(
        "--device", default="cpu", help="'cpu' (default) or 'cuda': also time autograd and the formula on CUDA"
    )
    p.add_argument(
        "--threads", type=int, default=None, help="threads for BLAS and torch (default: the cores this process may use)"
    )
    p.add_argument(
        "--min-run-time", type=_positive_float, default=None, help="seconds of timing per row (default 0.5; quick 0.05)"
    )
    p.add_argument(
        "--budget",
        type=_positive_float,
        default=None,
        help="skip a numeric row whose estimated single call exceeds this many seconds (default 3)",
    )
    p.add_argument("--no-train", action="store_true", help="skip the training runs at the tutorial's size")
    p.add_argument("--out", default=str(HERE / "results"), help="output folder (default benchmarks/results)")
    p.add_argument("--tag", default=None, help="file name stem (default: cpu, cuda or quick)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random data")
    p.add_argument(
        "--assemble", default=None, metavar="FILE.jsonl", help="only rebuild .json/.md/plots from a rows file"
    )


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1


def _config(args: argparse.Namespace) -> dict:
    # validate every option at the boundary; one GdTorchError for the first bad one
    explicit = args.n is not None or args.d is not None
    base = QUICK if args.quick else {"n": N_GRID, "d": D_GRID, "dtype": DTYPES, "min_run_time": 0.5, "budget_s": 3.0}
    dtypes = args.dtype or base["dtype"]
    for dt in dtypes:
        if dt not in DTYPES:
            raise bad_value("--dtype", dt, "float64 or float32 (comma-separated)")
    methods = args.methods or tuple(METHODS)
    for m in methods:
        if m not in METHODS:
            raise bad_value("--methods", m, "one of " + ", ".join(METHODS))
    if "floor" not in methods:
        methods = ("floor", *methods)  # every row needs its floor
    if args.device not in ("cpu", "cuda"):
        raise bad_value("--device", args.device, "'cpu' or 'cuda'")
    threads = args.threads if args.threads is not None else _cores()
    if threads < 1:
        raise bad_value("--threads", threads, "a positive integer")
    if args.seed < 0:  # numpy's default_rng in the workers refuses it only after the plan has run
        raise bad_value("--seed", args.seed, "a non-negative integer")
    return {
        "n": args.n or base["n"],
        "d": args.d or base["d"],
        "dtype": dtypes,
        "methods": methods,
        "device": args.device,
        "threads": threads,
        "min_run_time": args.min_run_time or base["min_run_time"],
        "budget_s": args.budget or base["budget_s"],
        "train": not args.no_train,
        "seed": args.seed,
        "quick": bool(args.quick),
        "explicit_sizes": explicit,
    }


def _check_cuda(device: str) -> str | None:
    if device != "cuda":
        return None
    import torch  # only when CUDA is asked for

    if not torch.cuda.is_available():
        raise GdTorchError(
            f"--device cuda needs a CUDA device, but torch {torch.__version__} sees none here "
            "(torch.cuda.is_available() is False); use --device cpu"
        )

    return torch.cuda.get_device_name(0)


# ---- the plan ----------------------------------------------------------------------


def host_needs(n: int, d: int, dtype: str, method: str) -> int:
    """Bytes of host memory one row needs: X, y, W and the method's work arrays."""
    size = 8 if dtype == "float64" else 4
    base = (n * d + 2 * n + d) * size
    if method in ("central-batched", "complex"):
        return base + 8 * (32 << 20)  # chunks of Z = X @ Wb^T near 32 MiB, a few temporaries of that size
    if method == "central-loop":
        return base + 8 * n * size * 2
    return base + 10 * n * size  # z, a, dL/dz and the like, each N long


def plan_tasks(cfg: dict) -> tuple[list[dict], list[dict]]:
    """The tasks to run and the rows skipped before running (memory), in grid order."""
    devices = ("cpu", "cuda") if cfg["device"] == "cuda" else ("cpu",)
    avail = memory_available()
    tasks, skipped = [], []
    for dtype in cfg["dtype"]:
        for d in cfg["d"]:
            for n in cfg["n"]:
                for m in cfg["methods"]:
                    lib, devs, _ = METHODS[m]
                    for dev in devs:
                        if dev not in devices and not (m == "floor" and dev == "cpu"):
                            continue
                        t = {
                            "kind": "gradient",
                            "method": m,
                            "library": lib,
                            "device": dev,
                            "n": n,
                            "d": d,
                            "dtype": dtype,
                        }
                        need = host_needs(n, d, dtype, m)
                        if avail and need > 0.8 * avail:
                            x = n * d * (8 if dtype == "float64" else 4)
                            msg = (
                                f"N={n} x D={d} {dtype} needs {need / 2**30:.2f} GiB of memory for {m} (X alone is "
                                f"{x / 2**30:.2f} GiB), {avail / 2**30:.2f} GiB available"
                            )
                            if cfg["explicit_sizes"]:
                                raise GdTorchError(f"size too large: {msg}; choose a smaller --n or --d")
                            skipped.append({**t, "status": "skipped", "reason": msg})
                            continue
                        tasks.append(t)
                if cfg["device"] == "cuda" and "floor" in cfg["methods"]:
                    tasks.append(
                        {
                            "kind": "gradient",
                            "method": "floor",
                            "library": "torch",
                            "device": "cuda",
                            "n": n,
                            "d": d,
                            "dtype": dtype,
                        }
                    )
    if cfg["train"]:
        for m, (lib, devs) in TRAIN.items():
            if m != "numpy-loop" and m not in cfg["methods"]:
                continue
            for dev in devs:
                if dev in devices:
                    tasks.append(
                        {
                            "kind": "train",
                            "method": m,
                            "library": lib,
                            "device": dev,
                            "n": 250,
                            "d": 3,
                            "dtype": "float64",
                        }
                    )
    return tasks, skipped


# ---- running -----------------------------------------------------------------------


class Progress:
    """A one-line progress bar on stderr (a line per row when stderr is not a terminal)."""

    def __init__(self, total: int, stream=sys.stderr) -> None:
        self.total, self.done, self.stream, self.t0 = total, 0, stream, time.monotonic()
        self.tty = stream.isatty()

    def step(self, row: dict) -> None:
        self.done += 1
        width = 30
        fill = int(width * self.done / max(self.total, 1))
        label = f"{row.get('kind', '')} {row.get('method', '')} {row.get('device', '')} N={row.get('n')} D={row.get('d')} {row.get('dtype', '')}"
        status = _fmt_time(row["median_s"]) if row.get("status") == "ok" else row.get("status", "")
        elapsed = time.monotonic() - self.t0
        text = f"[{'#' * fill}{'.' * (width - fill)}] {self.done}/{self.total} {elapsed:5.0f}s  {label}: {status}"
        if self.tty:
            self.stream.write("\r" + text[:150].ljust(150))
            if self.done == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def run_worker(library: str, tasks: list[dict], cfg: dict, sink, progress: Progress) -> None:
    """Run one worker process over its tasks, passing each row it prints to ``sink``."""
    if not tasks:
        return
    plan = {k: cfg[k] for k in ("threads", "min_run_time", "budget_s", "seed")} | {"tasks": tasks}
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["OMP_NUM_THREADS"] = str(cfg["threads"])
    script = HERE / f"worker_{library}.py"
    done = 0
    # stderr to a file, not a pipe: a chatty worker cannot block on a full pipe
    with (
        tempfile.TemporaryFile("w+") as errf,
        subprocess.Popen(
            [sys.executable, str(script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errf,
            text=True,
            env=env,
            cwd=ROOT,
        ) as proc,
    ):
        try:
            proc.stdin.write(json.dumps(plan))
            proc.stdin.close()
            for line in proc.stdout:
                row = json.loads(line)
                sink(row)
                if row.get("kind") in ("gradient", "train"):
                    done += 1
                    progress.step(row)
            rc = proc.wait()
        except BaseException:
            proc.terminate()  # our own child, by its handle
            proc.wait()
            raise
        errf.seek(0)
        err = errf.read()
    if rc != 0:
        reason = f"worker_{library}.py exited with {rc}: " + (err.strip().splitlines() or ["(no message)"])[-1]
        for t in tasks[done:]:
            row = {**t, "status": "error", "reason": reason}
            sink(row)
            progress.step(row)


def run(args: argparse.Namespace) -> int:
    """Plan, run the workers, assemble; 0 when every planned row finished (skips included)."""
    if args.assemble:
        path = Path(args.assemble)
        if path.suffix != ".jsonl" or not path.is_file():  # its .json/.md are written beside it
            raise bad_value("--assemble", args.assemble, "an existing .jsonl rows file")
        result = assemble(path)
        print(write_outputs(result, path.with_suffix("")))
        return 0
    cfg = _config(args)
    gpu = _check_cuda(cfg["device"])
    tasks, skipped = plan_tasks(cfg)
    out = Path(args.out)
    tag = args.tag or ("quick" if cfg["quick"] else cfg["device"])
    if Path(tag).name != tag or tag in (".", ".."):  # '../x' would write outside --out
        raise bad_value("--tag", tag, "a file name stem without a folder, e.g. 'quick'")
    rows_path = out / f"{tag}.jsonl"
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    try:
        out.mkdir(parents=True, exist_ok=True)
        f = open(rows_path, "w")  # closed by the with below
    except OSError as exc:
        raise GdTorchError(f"--out folder {args.out!r} cannot be written: {exc.strerror or exc}") from None
    with f:

        def sink(row: dict) -> None:
            f.write(json.dumps(row) + "\n")
            f.flush()

        sink({"kind": "config", **cfg, "started": started, "gpu_asked": gpu, "machine": machine()})
        progress = Progress(len(tasks) + len(skipped))
        for row in skipped:
            sink(row)
            progress.step(row)
        interrupted = False
        try:
            for lib in ("numpy", "torch"):
                run_worker(lib, [t for t in tasks if t["library"] == lib], cfg, sink, progress)
        except KeyboardInterrupt:
            interrupted = True
        sink(
            {
                "kind": "finished",
                "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "interrupted": interrupted,
            }
        )
    result = assemble(rows_path)
    print(write_outputs(result, out / tag))
    if interrupted:
        print("gd-torch bench: interrupted; the finished rows are kept in " + str(rows_path), file=sys.stderr)
        return 130
    failed = [r for r in result["rows"] if r.get("status") == "error"]
    if failed:  # a worker crashed: its rows are in the table as errors, and the run did not finish them
        print(f"gd-torch bench: {len(failed)} row(s) failed: {failed[0]['reason']}", file=sys.stderr)
        return 1
    return 0


def machine() -> dict:
    """CPU model, cores, memory and the BLAS environment variables of this run."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:  # pragma: no cover
        load = None
    return {
        "cpu": model,
        "cores": _cores(),
        "memory_GiB": _mem_total() / 2**30,
        "platform": platform.platform(),
        "env": {
            k: os.environ.get(k)
            for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
        },
        "loadavg_at_start": load,
    }


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# ---- assembling --------------------------------------------------------------------


def assemble(rows_path: Path) -> dict:
    """Read a rows file (complete or not) into one result: machine, config, rows with ratios, targets."""
    config, metas, rows, finished = {}, {}, [], None
    with open(rows_path) as f:
        for line in f:
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by a kill
                continue
            kind = r.get("kind")
            if kind == "config":
                config = r
            elif kind in ("meta", "end"):
                metas.setdefault(r["library"], {}).update(r)
            elif kind == "finished":
                finished = r
            else:
                rows.append(r)
    floors = {
        (r["device"], r["n"], r["d"], r["dtype"]): r
        for r in rows
        if r["kind"] == "gradient" and r["method"] == "floor" and r.get("status") == "ok"
    }
    for r in rows:
        if r["kind"] != "gradient" or r.get("status") != "ok":
            continue
        fl = floors.get((r["device"], r["n"], r["d"], r["dtype"]))
        if fl is not None:
            r["floor_s"] = fl["median_s"]
            r["ratio_to_floor"] = r["median_s"] / fl["median_s"]
    mach = dict(config.get("machine", {}))
    np_meta, torch_meta = metas.get("numpy", {}), metas.get("torch", {})
    blas = [p for p in np_meta.get("threadpools", []) if p.get("user_api") == "blas"]
    mach.update(
        {
            "numpy": np_meta.get("numpy"),
            "blas": [
                {
                    k: p.get(k)
                    for k in ("internal_api", "version", "architecture", "num_threads", "threading_layer", "filepath")
                }
                for p in blas
            ],
            "threadpools": np_meta.get("threadpools"),
            "torch": torch_meta.get("torch"),
            "torch_threads": torch_meta.get("torch_threads"),
            "torch_parallel": torch_meta.get("torch_parallel"),
            "gpu": torch_meta.get("gpu"),
            "numpy_worker_loaded_torch": np_meta.get("torch_loaded"),
            "probes": np_meta.get("probes"),
        }
    )
    cfg = {k: v for k, v in config.items() if k not in ("kind", "machine")}
    complete = finished is not None and not finished.get("interrupted")
    result = {
        "machine": mach,
        "config": cfg,
        "finished": finished.get("finished") if finished else None,
        "complete": complete,
        "problem": "loss=sse, activation=sigmoid (the tutorial's); X uniform, unit-variance z; y 0/1",
        "rows": rows,
    }
    result["targets"] = targets(rows)
    result["cuda"] = cuda_summary(rows, mach.get("gpu"))
    return result


def _get(rows, kind, method, device, n, d, dtype):
    for r in rows:
        if (r["kind"], r["method"], r["device"], r["n"], r["d"], r["dtype"]) == (
            kind,
            method,
            device,
            n,
            d,
            dtype,
        ) and r.get("status") == "ok":
            return r
    return None


def targets(rows: list[dict]) -> list[dict]:
    """The issue's four targets, from whatever rows are present."""
    out = []
    a = _get(rows, "gradient", "analytic", "cpu", 1_000_000, 64, "float64")
    fl = _get(rows, "gradient", "floor", "cpu", 1_000_000, 64, "float64")
    if a and fl:
        ratio = a["median_s"] / fl["matmul_s"]
        out.append(
            {
                "target": "analytic at 1e6x64 float64 within 1.3x of one X @ W",
                "value": ratio,
                "limit": 1.3,
                "met": ratio <= 1.3,
                "unit": "x",
            }
        )
    worst = None
    for r in rows:
        if (
            r["kind"] == "gradient"
            and r["method"] == "autograd"
            and r["device"] == "cpu"
            and r["n"] >= 100_000
            and r.get("status") == "ok"
        ):
            an = _get(rows, "gradient", "analytic", "cpu", r["n"], r["d"], r["dtype"])
            if an:
                ratio = r["median_s"] / an["median_s"]
                if worst is None or ratio > worst[0]:
                    worst = (ratio, r["n"], r["d"], r["dtype"])
    if worst:
        out.append(
            {
                "target": "autograd CPU within 1.5x of analytic numpy at N >= 1e5 (worst cell)",
                "value": worst[0],
                "limit": 1.5,
                "met": worst[0] <= 1.5,
                "unit": "x",
                "where": f"N={worst[1]} D={worst[2]} {worst[3]}",
            }
        )
    ag = _get(rows, "train", "autograd", "cpu", 250, 3, "float64")
    nl = _get(rows, "train", "numpy-loop", "cpu", 250, 3, "float64")
    if ag and nl:
        ratio = ag["median_s"] / nl["median_s"]
        out.append(
            {
                "target": "autograd training at 250x3 within 3x of the bare numpy loop per epoch",
                "value": ratio,
                "limit": 3.0,
                "met": ratio <= 3.0,
                "unit": "x",
                "driver": ag.get("driver"),
            }
        )
    worst = None
    for r in rows:
        if r["kind"] == "gradient" and r["method"] == "central-batched" and r["d"] == 64 and r.get("status") == "ok":
            lp = _get(rows, "gradient", "central-loop", "cpu", r["n"], 64, r["dtype"])
            if lp:
                speedup = lp["median_s"] / r["median_s"]
                if worst is None or speedup < worst[0]:
                    worst = (speedup, r["n"], r["dtype"])
    if worst:
        out.append(
            {
                "target": "central batched >= 3x faster than per-coordinate loop at D=64 (worst cell)",
                "value": worst[0],
                "limit": 3.0,
                "met": worst[0] >= 3.0,
                "unit": "x faster",
                "where": f"N={worst[1]} {worst[2]}",
            }
        )
    return out


def cuda_summary(rows: list[dict], gpu: dict | None) -> dict | None:
    """Where CUDA autograd overtakes the CPU, per (D, dtype), and the bandwidth fraction at the largest size."""
    cuda = [
        r
        for r in rows
        if r["kind"] == "gradient" and r["device"] == "cuda" and r["method"] == "autograd" and r.get("status") == "ok"
    ]
    if not cuda:
        return None
    cross = []
    for d, dtype in sorted({(r["d"], r["dtype"]) for r in cuda}):
        first_same, first_best = None, None
        for r in sorted((r for r in cuda if (r["d"], r["dtype"]) == (d, dtype)), key=lambda r: r["n"]):
            cpu_same = _get(rows, "gradient", "autograd", "cpu", r["n"], d, dtype)
            cpu_best = [x for x in (cpu_same, _get(rows, "gradient", "analytic", "cpu", r["n"], d, dtype)) if x]
            if first_same is None and cpu_same and r["median_s"] < cpu_same["median_s"]:
                first_same = r["n"]
            if first_best is None and cpu_best and r["median_s"] < min(x["median_s"] for x in cpu_best):
                first_best = r["n"]
        cross.append(
            {
                "d": d,
                "dtype": dtype,
                "cuda_beats_cpu_autograd_from_n": first_same,
                "cuda_beats_best_cpu_from_n": first_best,
            }
        )
    big = max(cuda, key=lambda r: r["n"] * r["d"] * (8 if r["dtype"] == "float64" else 4))
    fl = _get(rows, "gradient", "floor", "cuda", big["n"], big["d"], big["dtype"])
    peak = (gpu or {}).get("peak_bandwidth_GBps")
    nbytes = big["n"] * big["d"] * (8 if big["dtype"] == "float64" else 4)
    bw = nbytes / big["median_s"] / 1e9
    return {
        "crossover": cross,
        "largest": {
            "n": big["n"],
            "d": big["d"],
            "dtype": big["dtype"],
            "autograd_GBps": bw,
            "floor_GBps": fl["bandwidth_GBps"] if fl else None,
        },
        "peak_bandwidth_GBps": peak,
        "fraction_of_peak_autograd": bw / peak if peak else None,
        "fraction_of_peak_floor": (fl["bandwidth_GBps"] / peak) if (fl and peak) else None,
    }


# ---- writing -----------------------------------------------------------------------


def _fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale or unit == "us":
            v = s / scale
            return f"{v:.3g} {unit}" if v < 1000 else f"{v:.0f} {unit}"
    return f"{s:.3g} s"  # pragma: no cover


def _fmt_n(n: int) -> str:
    return f"1e{int(math.log10(n))}" if n >= 10_000 and 10 ** int(math.log10(n)) == n else str(n)


def markdown(result: dict) -> str:
    """The tables: machine, gradient grid (time and ratio to the floor), training, targets."""
    m, cfg, rows = result["machine"], result["config"], result["rows"]
    blas = "; ".join(
        f"{b['internal_api']} {b['version']} kernel {b['architecture']} ({b['num_threads']} threads)"
        for b in m.get("blas") or []
    )
    lines = [
        f"Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_GiB', 0):.0f} GiB; "
        f"numpy {m.get('numpy')} with {blas or 'BLAS unknown'}; torch {m.get('torch')} ({m.get('torch_threads')} threads)"
        + (f"; GPU {m['gpu']['name']}" if m.get("gpu") else "")
        + f". Threads: {cfg.get('threads')}. Problem: {result['problem']}."
        + _load_note(rows)
        + ("" if result["complete"] else " **Incomplete run: only the finished rows.**"),
        "",
        "Each cell: median time per gradient (IQR in the JSON) and, in brackets, its ratio to the floor "
        "(the time to read X once on that device: the faster of one X @ W and one reduction over X).",
        "",
    ]
    grad = [r for r in rows if r["kind"] == "gradient"]
    cols = []
    for r in grad:
        key = (r["method"], r["device"])
        if key not in cols and r["method"] != "floor":
            cols.append(key)
    order = list(METHODS)
    cols.sort(key=lambda k: (k[1], order.index(k[0]) if k[0] in order else 99))
    header = ["N", "D", "dtype", "floor (GB/s)"] + [f"{m_} {dev}" if dev != "cpu" else m_ for m_, dev in cols]
    if any(r["device"] == "cuda" and r["method"] == "floor" for r in grad):
        header.insert(4, "floor cuda (GB/s)")
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    cells = sorted(
        {(r["dtype"], r["d"], r["n"]) for r in grad},
        key=lambda k: (DTYPES.index(k[0]) if k[0] in DTYPES else 9, k[1], k[2]),
    )
    for dtype, d, n in cells:
        fl = _get(rows, "gradient", "floor", "cpu", n, d, dtype)
        line = [_fmt_n(n), str(d), dtype, f"{_fmt_time(fl['median_s'])} ({fl['bandwidth_GBps']:.1f})" if fl else "-"]
        if "floor cuda (GB/s)" in header:
            fc = _get(rows, "gradient", "floor", "cuda", n, d, dtype)
            line.append(f"{_fmt_time(fc['median_s'])} ({fc['bandwidth_GBps']:.0f})" if fc else "-")
        for meth, dev in cols:
            r = next(
                (x for x in grad if (x["method"], x["device"], x["n"], x["d"], x["dtype"]) == (meth, dev, n, d, dtype)),
                None,
            )
            if r is None:
                line.append("")
            elif r.get("status") == "ok":
                ratio = r.get("ratio_to_floor")
                line.append(f"{_fmt_time(r['median_s'])} ({ratio:.3g}x)" if ratio else _fmt_time(r["median_s"]))
            else:
                line.append(r.get("status", "?"))
        lines.append("| " + " | ".join(line) + " |")
    reasons = sorted({(r["method"], r["reason"]) for r in grad if r.get("status") != "ok"})
    if reasons:
        lines += ["", "Skipped or failed:", ""]
        for meth, reason in reasons:
            cases = [
                f"{_fmt_n(r['n'])}x{r['d']} {r['dtype']}"
                for r in grad
                if r["method"] == meth and r.get("reason") == reason
            ]
            lines.append(f"- {meth} ({', '.join(cases)}): {reason}")
    train = [r for r in rows if r["kind"] == "train"]
    if train:
        base = next((r for r in train if r["method"] == "numpy-loop" and r.get("status") == "ok"), None)
        lines += [
            "",
            "Training at the tutorial's size (250 x 3, 100 epochs, alpha 0.01), per epoch:",
            "",
            "| method | device | us/epoch | IQR (us) | x bare numpy loop | how |",
            "|---|---|---|---|---|---|",
        ]
        for r in train:
            if r.get("status") != "ok":
                lines.append(f"| {r['method']} | {r['device']} | {r.get('status')} | | | {r.get('reason', '')} |")
                continue
            rel = f"{r['median_s'] / base['median_s']:.3g}" if base else "-"
            iqr = r["iqr_s"] / r.get("epochs", 100) * 1e6
            lines.append(
                f"| {r['method']} | {r['device']} | {r['us_per_epoch']:.3g} | {iqr:.2g} | {rel} | {r.get('driver', '')} |"
            )
    if result.get("targets"):
        lines += ["", "Targets:", "", "| target | measured | limit | met |", "|---|---|---|---|"]
        for t in result["targets"]:
            where = f" ({t['where']})" if t.get("where") else ""
            lines.append(
                f"| {t['target']}{where} | {t['value']:.3g} {t['unit']} | {t['limit']:g} | {'yes' if t['met'] else 'no'} |"
            )
    cu = result.get("cuda")
    if cu:
        lines += ["", "CUDA:", ""]
        for c in cu["crossover"]:
            lines.append(
                f"- D={c['d']} {c['dtype']}: CUDA autograd beats CPU autograd from N={c['cuda_beats_cpu_autograd_from_n']}, "
                f"the fastest CPU method from N={c['cuda_beats_best_cpu_from_n']}"
            )
        lg = cu["largest"]
        frac = cu.get("fraction_of_peak_autograd")
        lines.append(
            f"- largest size N={lg['n']} D={lg['d']} {lg['dtype']}: autograd processes X at {lg['autograd_GBps']:.0f} GB/s "
            "(X's bytes over the time per gradient; it reads X twice, forward and backward)"
            + (f" = {frac:.0%} of the peak {cu['peak_bandwidth_GBps']:.0f} GB/s" if frac else "")
            + (f"; the floor reaches {cu['fraction_of_peak_floor']:.0%}" if cu.get("fraction_of_peak_floor") else "")
        )
    return "\n".join(lines) + "\n"


def _load_note(rows: list[dict]) -> str:
    loads = [r["loadavg_1m"] for r in rows if "loadavg_1m" in r]
    if not loads:
        return ""
    return f" 1-minute load average while rows finished: {min(loads):.1f} to {max(loads):.1f} (on {_cores()} cores)."


def plots(result: dict, stem: Path) -> list[str]:
    """time-vs-N per method (log-log), one panel per (dtype, D); the CPU/CUDA crossover when CUDA ran."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in result["rows"] if r["kind"] == "gradient" and r.get("status") == "ok"]
    if not rows:
        return []
    dtypes = [dt for dt in DTYPES if any(r["dtype"] == dt for r in rows)]
    ds = sorted({r["d"] for r in rows})
    fig, axes = plt.subplots(
        len(dtypes),
        len(ds),
        figsize=(4.2 * len(ds), 3.6 * len(dtypes) + 0.8),
        squeeze=False,
        sharex=True,
        layout="constrained",
    )
    series = sorted({(r["method"], r["device"]) for r in rows}, key=lambda k: (k[1], list(METHODS).index(k[0])))
    for i, dt in enumerate(dtypes):
        for j, d in enumerate(ds):
            ax = axes[i][j]
            for meth, dev in series:
                pts = sorted(
                    (r["n"], r["median_s"])
                    for r in rows
                    if (r["method"], r["device"], r["d"], r["dtype"]) == (meth, dev, d, dt)
                )
                if pts:
                    style = "--" if meth == "floor" else ("-." if dev == "cuda" else "-")
                    ax.loglog(
                        *zip(*pts, strict=True),
                        style,
                        marker="o",
                        ms=3,
                        label=f"{meth} {dev}" if dev != "cpu" else meth,
                    )
            ax.set_title(f"D={d}, {dt}")
            ax.set_xlabel("N (samples)")
            ax.set_ylabel("seconds per gradient")
            ax.grid(True, which="both", alpha=0.3)
    _figure_legend(fig, axes)
    fig.suptitle(
        f"gd_torch gradient time vs N ({result['machine'].get('cpu')}, {result['config'].get('threads')} threads)"
        f"\n{_grid_note(result['config'])}"
    )
    out = [str(stem) + "-time-vs-n.png"]
    fig.savefig(out[0], dpi=110)
    plt.close(fig)
    if any(r["device"] == "cuda" and r["method"] == "autograd" for r in rows):
        fig, axes = plt.subplots(
            len(dtypes), len(ds), figsize=(4.2 * len(ds), 3.6 * len(dtypes) + 0.8), squeeze=False, layout="constrained"
        )
        for i, dt in enumerate(dtypes):
            for j, d in enumerate(ds):
                ax = axes[i][j]
                for meth, dev in (
                    ("analytic", "cpu"),
                    ("autograd", "cpu"),
                    ("autograd", "cuda"),
                    ("formula-torch", "cuda"),
                ):
                    pts = sorted(
                        (r["n"], r["median_s"])
                        for r in rows
                        if (r["method"], r["device"], r["d"], r["dtype"]) == (meth, dev, d, dt)
                    )
                    if pts:
                        ax.loglog(
                            *zip(*pts, strict=True),
                            "-." if dev == "cuda" else "-",
                            marker="o",
                            ms=3,
                            label=f"{meth} {dev}",
                        )
                for c in (result.get("cuda") or {}).get("crossover", []):
                    if (c["d"], c["dtype"]) == (d, dt) and c["cuda_beats_best_cpu_from_n"]:
                        ax.axvline(c["cuda_beats_best_cpu_from_n"], color="k", lw=0.8, ls=":")
                ax.set_title(f"CPU vs CUDA, D={d}, {dt}")
                ax.set_xlabel("N (samples)")
                ax.set_ylabel("seconds per gradient")
                ax.grid(True, which="both", alpha=0.3)
        _figure_legend(fig, axes)
        fig.suptitle(f"CPU vs CUDA: gd_torch gradient time vs N\n{_grid_note(result['config'])}")
        out.append(str(stem) + "-crossover.png")
        fig.savefig(out[-1], dpi=110)
        plt.close(fig)
    return out


def _figure_legend(fig, axes) -> None:
    # one legend for every panel, below them: never on top of a curve (one row when wide, else two)
    entries: dict[str, object] = {}
    for ax in (a for row in axes for a in row):
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    if entries:
        ncols = len(entries) if len(axes[0]) >= 3 else math.ceil(len(entries) / 2)
        fig.legend(list(entries.values()), list(entries), loc="outside lower center", ncols=ncols, fontsize=8)


def _grid_note(config: dict) -> str:
    # the title says which grid was timed: the quick one is a smoke run, not the benchmark
    ns = ", ".join(f"{n:g}".replace("e+0", "e") for n in config.get("n", ()))
    grid = f"N in {ns}; D in {', '.join(map(str, config.get('d', ())))}"
    if config.get("quick"):
        return (
            f"QUICK GRID (--quick: {grid}; {config.get('min_run_time', 0):g} s per row): a smoke run, not the benchmark"
        )
    return f"grid: {grid}"


def write_outputs(result: dict, stem: Path) -> str:
    """Write <stem>.json, <stem>.md and the plots; return the markdown (printed by the caller)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    result["plots"] = [Path(p).name for p in plots(result, stem)]
    Path(str(stem) + ".json").write_text(json.dumps(result, indent=1) + "\n")
    md = markdown(result)
    Path(str(stem) + ".md").write_text(md)
    return md


def main(argv: list[str] | None = None) -> int:
    from gd_torch.cli import _Parser

    parser = _Parser(prog="benchmarks/run.py", description=__doc__.splitlines()[0])
    add_arguments(parser)
    try:
        return run(parser.parse_args(argv))
    except GdTorchError as exc:
        print(f"gd-torch bench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
