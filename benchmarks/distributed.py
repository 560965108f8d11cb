"""Scaling of gd_torch.distributed: one rank against K on this machine, X on disk, memory-mapped.

    python benchmarks/distributed.py --data /scratch/gd-1e7 --n 1e7 --d 64 --ranks 1,2

Makes the dataset when the folder holds none (gd_torch.data.synthetic.make_data: 2.56 GB for
1e7 x 64 float32), then for each K starts K ranks (gd_torch.distributed.launch) that time,
each on its share of the rows, the slowest rank counting:

* gradient, page cache warm: the analytic dL/dW over all rows (after one untimed pass);
* gradient, page cache cold: the same after every rank evicted its shards' pages with
  posix_fadvise(DONTNEED) (the evicted amount, from /proc/meminfo's Cached, is recorded:
  the kernel keeps pages another process maps);
* epoch: one full-batch Stepper epoch, the loss and the gradient in one pass, then the update;
* all-reduce of D float32 numbers alone (and of one number): the communication of one step.

Rank 0 of each run writes ``<out>/distributed-K<k>.json``; the parent then writes
``distributed.json`` and ``distributed.md`` with the projection of docs/scaling.md filled in.
Run it on an idle machine: timings taken while other work runs are meaningless.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

import gd_torch.distributed as dist
from gd_torch.base import files as _io
from gd_torch.data import shards as ooc
from gd_torch.data.synthetic import make_data
from gd_torch.distributed.exact import exact_gradient, for_blocks
from gd_torch.distributed.launch import launch
from gd_torch.gradients import lookup

#: the projection's target: rows, machines, published figures (see docs/scaling.md)
TARGET_N, TARGET_MACHINES = 1e10, 64
#: per-message latency of one all-reduce step (s): InfiniBand MPI ~1.5 us, TCP over Ethernet ~30 us
LATENCY = {"infiniband": 1.5e-6, "tcp": 30e-6}
#: link bandwidth (bytes/s): 200 Gb/s InfiniBand, 25 Gb/s Ethernet
LINK = {"infiniband": 25e9, "tcp": 3.1e9}
#: HBM bandwidth of an H200-class GPU (bytes/s): the floor for reading X once per step
HBM = 4.8e12


def _cached_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("Cached:"):
            return int(line.split()[1]) * 1024
    return 0


def _evict(data: ooc.Shards) -> None:
    # drop the page cache's copy of every shard (clean pages only; needs no privilege)
    for sh in data.shards:
        for path in (sh.x, sh.y):
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def _timed(comm: dist.Comm, fn, repeats: int, before=None) -> list[float]:
    # seconds per call of the slowest rank, each call started together (an all-reduce before it)
    out = []
    for _ in range(repeats):
        if before is not None:
            before()
        comm.all_reduce([np.zeros(1)], "a barrier")
        t0 = time.perf_counter()
        fn()
        took = time.perf_counter() - t0
        out.append(float(comm.all_reduce([np.array([took])], "the timings", op="max")[0][0]))
    return out


def rank_main(job: dict) -> int:
    comm = dist.init(timeout=600.0)
    data = ooc.open_dataset(job["data"], budget=job["budget"])
    _, p, lo, act = dist.prepare(None, data, comm, "bce", "sigmoid")
    W = np.zeros(data.d, dtype=data.dtype)
    st = dist.stepper(data, comm, method="analytic", loss="bce")
    analytic = for_blocks(lookup("analytic"), lo, act)
    grad = lambda: exact_gradient(p, W, lo, act, analytic)  # noqa: E731
    epoch = lambda: (st.loss(W), st.step(W, 0.0))  # noqa: E731  (alpha 0: W, and so the work, stays put)
    grad()  # warm: the rank's rows now in the page cache
    st.loss(W)  # its first call also checks z = X W finite, once
    res = {"world": comm.world, "n": data.n, "d": data.d, "dtype": str(data.dtype), "budget": job["budget"]}
    res["omp_threads"] = os.environ.get("OMP_NUM_THREADS")
    res["gradient_warm_s"] = _timed(comm, grad, job["repeats"])
    res["epoch_warm_s"] = _timed(comm, epoch, job["repeats"])
    evicted = []

    def cold() -> None:
        before = _cached_bytes()
        _evict(data)
        evicted.append(before - _cached_bytes())

    res["gradient_cold_s"] = _timed(comm, grad, max(1, job["repeats"] // 2), before=cold)
    res["evicted_bytes"] = evicted
    d_floats = np.zeros(data.d, dtype=np.float32)
    res["allreduce_d_s"] = _timed(comm, lambda: comm.all_reduce([d_floats], "D floats"), job["allreduces"])
    res["allreduce_1_s"] = _timed(comm, lambda: comm.all_reduce([d_floats[:1]], "one float"), job["allreduces"])
    if comm.rank == 0:
        _io.write_text(Path(job["out"]) / f"distributed-K{comm.world}.json", json.dumps(res, indent=1) + "\n")
    comm.close()
    return 0


def project(runs: list[dict]) -> dict:
    """docs/scaling.md's projection, from the one-rank run's cost per byte of X."""
    one = next(r for r in runs if r["world"] == 1)
    x_bytes = one["n"] * one["d"] * np.dtype(one["dtype"]).itemsize
    per_byte = {c: float(np.median(one[f"gradient_{c}_s"])) / x_bytes for c in ("warm", "cold")}
    width = one["d"] * np.dtype(one["dtype"]).itemsize  # bytes of one row of X
    rows = TARGET_N / TARGET_MACHINES
    out = {"cost_per_byte_s": per_byte, "rows_per_machine": rows, "machines": TARGET_MACHINES}
    m = TARGET_MACHINES
    message = 8 * (one["d"] + 2 + m)  # gradient, loss, a flag and one failure flag per rank, float64
    for net, alpha in LATENCY.items():
        # ring all-reduce (Thakur, Rabenseifner and Gropp 2005): 2 (m - 1) alpha + 2 (m - 1) / m * bytes / link
        comm = 2 * (m - 1) * alpha + 2 * (m - 1) / m * message / LINK[net]
        out[f"allreduce_{net}_s"] = comm
        for c, cost in per_byte.items():
            compute = rows * width * cost
            out[f"step_{c}_{net}_s"] = compute + comm
            # communication passes compute when a rank holds fewer rows than this
            out[f"crossover_rows_{c}_{net}"] = comm / (width * cost)
            # ring latency (grows as K) meets compute (shrinks as 1 / K) at K* = sqrt(N w c / (2 alpha))
            out[f"crossover_machines_{c}_{net}"] = (TARGET_N * width * cost / (2 * alpha)) ** 0.5
    out["step_hbm_floor_s"] = rows * width / HBM
    out["crossover_rows_hbm_infiniband"] = out["allreduce_infiniband_s"] * HBM / width
    return out


def _markdown(runs: list[dict], proj: dict) -> str:
    lines = ["| ranks | gradient, warm (s) | gradient, cold (s) | epoch, warm (s) | all-reduce D floats (us) |"]
    lines.append("|---:|---:|---:|---:|---:|")
    for r in runs:
        med = {
            k: float(np.median(r[k])) for k in ("gradient_warm_s", "gradient_cold_s", "epoch_warm_s", "allreduce_d_s")
        }
        lines.append(
            f"| {r['world']} | {med['gradient_warm_s']:.4g} | {med['gradient_cold_s']:.4g} | "
            f"{med['epoch_warm_s']:.4g} | {1e6 * med['allreduce_d_s']:.1f} |"
        )
    lines.append("")
    lines.append("Projection (docs/scaling.md): " + json.dumps(proj, indent=1))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="dataset folder (made when it holds none)")
    ap.add_argument("--n", type=float, default=1e7)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--ranks", default="1,2", help="comma-separated rank counts (1 must be among them)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--allreduces", type=int, default=200)
    ap.add_argument("--budget-mib", type=float, default=64)
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--rank-job", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.rank_job is not None:
        return rank_main(json.loads(args.rank_job))
    if not (Path(args.data) / ooc.META).is_file():
        make_data(int(args.n), args.d, args.dtype, args.data, 0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ranks = [int(k) for k in args.ranks.split(",")]
    job = {"data": args.data, "out": str(out), "repeats": args.repeats, "allreduces": args.allreduces}
    job["budget"] = int(args.budget_mib * 2**20)
    runs = []
    for k in ranks:
        code = launch([__file__, "--data", args.data, "--rank-job", json.dumps(job)], k)
        if code != 0:
            print(f"distributed benchmark: the run on {k} ranks failed (status {code})", file=sys.stderr)
            return 1
        runs.append(json.loads((out / f"distributed-K{k}.json").read_text()))
    proj = project(runs)
    _io.write_text(out / "distributed.json", json.dumps({"runs": runs, "projection": proj}, indent=1) + "\n")
    _io.write_text(out / "distributed.md", _markdown(runs, proj))
    print(_markdown(runs, proj))
    return 0


if __name__ == "__main__":
    sys.exit(main())
