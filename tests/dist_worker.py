"""One rank of a test in test_distributed.py: ``python dist_worker.py JOB.json``.

Runs the job's cases with gd_torch.distributed on this rank's rows and writes this rank's
results to ``<out>/rank<r>.json``; rank 0 also writes ``<out>/result.json`` last, through
gd_torch.base.files (a run that fails leaves neither).  Then a job may run one more training with a
fault planted on one rank (kill, hang), on a Comm of its own with a short timeout, to see
how the others stop; it would write ``<out>/fault/rank<r>.json`` at its end.  Errors print as
the CLI prints them: one line, by one rank.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

import gd_torch
import gd_torch.distributed as dist
from gd_torch.base import files as _io
from gd_torch.cli.app import main as main_cli
from gd_torch.data import shards as ooc
from gd_torch.distributed import ops
from gd_torch.distributed.comm import exit_after_failure, failure_line
from gd_torch.gradients import step_rules


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


def steps(job: dict, comm: dist.Comm) -> list:
    # the finite differences' steps on this rank: every coordinate's (a gradient, a fit), and along
    # a direction v (a check, which differences float32 data in float64)
    out = []
    for case in job["cases"]:
        data = ooc.open_dataset(job["data"][case["data"]], budget=job.get("budget", 4096))
        W, p, _, act = dist.prepare(np.asarray(case["W"], dtype=data.dtype), data, comm, "sse", "sigmoid")
        h = ops.numeric_steps(p, W, act, case["scheme"])
        c, scale_v = ops.column_scale(p, np.asarray(case["v"]))
        t = step_rules.step_along(W.astype(np.float64), case["scheme"], c, p.n, scale_v)
        out.append({"h": h.astype(np.float64).tolist(), "t": float(t), "caller": _caller_steps(p, W, act, case)})
    return out


def _caller_steps(p, W, act, case: dict) -> list:
    # each caller's step as this rank takes it, or the error refusing it (every rank alike)
    out = []
    for step in case["caller_steps"]:
        try:
            out.append(ops.numeric_steps(p, W, act, case["scheme"], step=step).astype(np.float64).tolist())
        except gd_torch.GdTorchError as exc:
            out.append(str(exc))
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
    W0 = gd_torch.init_weights(data.d, "uniform", case["seed"], data.dtype)
    fault = case.get("fault")

    def plant(k: int, W: np.ndarray, L: float) -> None:  # run_loop's callback, before epoch k + 1's step
        if fault and fault["epoch"] == k and fault["rank"] == comm.rank:
            FAULTS[fault["kind"]](W)

    r = dist.run(st, W0, alpha=case["alpha"], epochs=case["epochs"], callback=plant)
    return {"W": r.weights.astype(np.float64).tolist(), "losses": r.loss_history.tolist()}


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
            out.append({"line": failure_line(exc, comm.rank), "message": str(exc)})
    return out


def cli(job: dict, comm: dist.Comm) -> list:
    # gd-torch on every rank, as torchrun runs it (a Comm of its own inside this one): its
    # exit status and what it printed, per rank
    out = []
    for argv in job["cases"]:
        printed, errors = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(errors):
            code = main_cli(argv)
        out.append({"code": code, "out": printed.getvalue(), "err": errors.getvalue()})
    return out


TASKS = {"steps": steps, "gradients": gradients, "checks": checks, "fits": fits, "errors": errors, "cli": cli}


def main(path: str) -> int:
    job = json.loads(Path(path).read_text())
    comm = dist.init(timeout=job.get("timeout", 20.0))
    out = Path(job["out"])
    try:
        results, seconds = {}, {}
        for task in job["tasks"]:
            started = time.monotonic()
            results[task["task"]] = TASKS[task["task"]](task | {"data": job["data"]}, comm)
            seconds[task["task"]] = time.monotonic() - started
        results["seconds"] = seconds  # where a launch's time goes
        _io.write_text(out / f"rank{comm.rank}.json", json.dumps(results))
        if comm.rank == 0:
            _io.write_text(out / "result.json", json.dumps({"world": comm.world}))
        if "fault" in job:  # last: a run of its own (a Comm with the fault's timeout) that must fail
            faulty = dist.init(timeout=job["fault_timeout"])
            result = fit(job["fault"], job, faulty)
            (out / "fault").mkdir(exist_ok=True)
            _io.write_text(out / "fault" / f"rank{comm.rank}.json", json.dumps(result))
            faulty.close()
    except gd_torch.GdTorchError as exc:
        line = failure_line(exc, comm.rank)
        if line is not None:
            print(line, file=sys.stderr, flush=True)
        exit_after_failure(2)  # as the command line does: a hung peer can abort the group's teardown
    comm.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
