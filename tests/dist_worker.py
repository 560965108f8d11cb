"""One rank of a test in test_distributed.py: ``python dist_worker.py JOB.json``.

Runs the job's cases with gd_torch.distributed on this rank's rows and writes this rank's
results to ``<out>/rank<r>.json``; rank 0 also writes ``<out>/result.json`` last, through
gd_torch._io (a run that fails leaves neither).  A job may plant a fault on one rank
(kill, hang, drift) to see how the others stop.  Errors print as the CLI prints them: one
line, by one rank.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

import gd_torch
import gd_torch.distributed as dist
from gd_torch import _io, ooc
from gd_torch.distributed.comm import failure_line


def gradients(job: dict, comm: dist.Comm) -> list:
    out = []
    for case in job["cases"]:
        data = ooc.open_dataset(job["data"][case["data"]], budget=job.get("budget", 4096))
        W = np.asarray(case["W"], dtype=data.dtype)
        opts = {"scheme": case["scheme"]} if "scheme" in case else {}
        g = dist.gradient(
            W, data, comm, method=case["method"], loss=case["loss"], activation=case["activation"], **opts
        )
        out.append(g.astype(np.float64).tolist())
    return out


def checks(job: dict, comm: dist.Comm) -> list:
    out = []
    for case in job["cases"]:
        data = ooc.open_dataset(job["data"][case["data"]], budget=job.get("budget", 4096))
        W = np.asarray(case["W"], dtype=data.dtype)
        r = dist.check(
            W, data, comm, loss=case["loss"], activation=case["activation"], methods=case["methods"], mode=case["mode"]
        )
        out.append({"ok": r.ok, "odd": r.odd_one_out, "statuses": [p.status for p in r.pairs], "text": str(r)})
    return out


#: faults planted on one rank before a step: how the others stop is what the tests look at
FAULTS = {
    "kill": lambda W: os.kill(os.getpid(), signal.SIGKILL),
    "hang": lambda W: time.sleep(600),
    "drift": lambda W: W.__setitem__(0, W[0] + 1e-3),
}


def fit(case: dict, job: dict, comm: dist.Comm) -> dict:
    data = ooc.open_dataset(job["data"][case["data"]], budget=job.get("budget", 4096))
    st = dist.stepper(
        data,
        comm,
        method=case["method"],
        loss=case["loss"],
        activation=case.get("activation", "sigmoid"),
        batch_size=case.get("batch_size"),
        seed=case["seed"],
    )
    W = gd_torch.init_weights(data.d, "uniform", case["seed"], data.dtype)
    fault = case.get("fault")
    losses = []
    for k in range(case["epochs"] + 1):  # the loop gd_torch.train.run_loop will run
        losses.append(st.loss(W))
        if k == case["epochs"]:
            break
        if fault and fault["epoch"] == k and fault["rank"] == comm.rank:
            FAULTS[fault["kind"]](W)
        st.step(W, case["alpha"])
    st.assert_identical(W)
    return {"W": W.astype(np.float64).tolist(), "losses": losses}


def fits(job: dict, comm: dist.Comm) -> list:
    return [fit(case, job, comm) for case in job["cases"]]


def errors(job: dict, comm: dist.Comm) -> list:
    # cases that must fail on every rank alike: what each rank raised, and whether it reports it
    out = []
    for case in job["cases"]:
        try:
            if case["kind"] == "fit":
                fit(case, job, comm)
            else:
                data = ooc.open_dataset(job["data"][case["data"][comm.rank % len(case["data"])]], budget=4096)
                dist.gradient(np.ones(data.d, dtype=data.dtype), data, comm)
            out.append(None)
        except gd_torch.GdTorchError as exc:
            out.append({"line": failure_line(exc), "message": str(exc)})
    return out


TASKS = {"gradients": gradients, "checks": checks, "fits": fits, "errors": errors}


def main(path: str) -> int:
    job = json.loads(Path(path).read_text())
    comm = dist.init(timeout=job.get("timeout", 20.0))
    out = Path(job["out"])
    try:
        results = {task["task"]: TASKS[task["task"]](task | {"data": job["data"]}, comm) for task in job["tasks"]}
    except gd_torch.GdTorchError as exc:
        line = failure_line(exc)
        if line is not None:
            print(line, file=sys.stderr, flush=True)
        return 2
    _io.write_text(out / f"rank{comm.rank}.json", json.dumps(results))
    if comm.rank == 0:
        _io.write_text(out / "result.json", json.dumps({"world": comm.world}))
    comm.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
