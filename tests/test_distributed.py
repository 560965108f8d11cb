"""gd_torch.distributed on K ranks: 2 and 3 processes on 127.0.0.1 (gloo), started by
gd_torch.distributed.launch, each running tests/dist_worker.py on its share of the rows.

Each launch runs many cases at once (starting K processes that import torch is the cost),
so the results are module fixtures and the tests below read them.  Every K-rank result is
held against one process's result in this process, within the error model.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import workers_run
from conftest import TOLERANCES, away_from_kinks, pairs
from test_check import KINK_W, KINK_X, KINK_Y

import gd_torch
from gd_torch import GdTorchError
from gd_torch.distributed.launch import launch
from gd_torch.gradients import numeric, step_rules
from gd_torch.model import reference
from gd_torch.model.forward import resolve
from gd_torch.precision import errormodel

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="gloo on the loopback interface 'lo'")

WORKER = str(Path(__file__).with_name("dist_worker.py"))
#: seconds a whole launch may take before it counts as hung (torch's import, K times, on 2 busy cores)
LIMIT = 240.0
DTYPES = ("float64", "float32")
#: seconds a collective waits in the fault tests, and the launcher's grace after a failure
FAULT_TIMEOUT = 3.0
GRACE = 2.0


def write_shards(folder: Path, X: np.ndarray, y: np.ndarray, rows: int) -> str:
    folder.mkdir(parents=True)
    for i, s in enumerate(range(0, X.shape[0], rows)):
        np.save(folder / f"X-{i:05d}.npy", X[s : s + rows])
        np.save(folder / f"y-{i:05d}.npy", y[s : s + rows])
    return str(folder)


@pytest.fixture(scope="module")
def problems(tmp_path_factory) -> dict:
    """Datasets (shards of 100 rows, so that ranks and blocks cut across shards): a random
    301 x 4 problem away from relu's kink at W0, the tutorial's data, a NaN in row 250, and a
    232 x 3 problem with samples exactly at relu's kink at test_check's KINK_W (rows 130-131, 226-227)."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(12)
    W0 = rng.standard_normal(4) / 2
    X = away_from_kinks(rng.standard_normal((301, 4)), W0, (0.0,), 0.1)
    y = (rng.uniform(size=301) < 0.5).astype(float)
    Xt, yt = gd_torch.tutorial_data()
    Xn = X.copy()
    Xn[250, 2] = np.nan
    Xk = np.vstack([rng.standard_normal((130, 3)), KINK_X, rng.standard_normal((90, 3)) * 4, KINK_X])
    yk = np.concatenate([rng.uniform(size=130), KINK_Y, rng.uniform(size=90), KINK_Y])
    arrays = {"rand": (X, y), "tut": (Xt, yt), "kink": (Xk, yk)}
    paths = {
        f"{k}-{dt}": write_shards(root / f"{k}-{dt}", a.astype(dt), b.astype(dt), 100)
        for k, (a, b) in arrays.items()
        for dt in DTYPES
    }
    paths["nan"] = write_shards(root / "nan", Xn, y, 100)
    return {"paths": paths, "arrays": arrays, "W0": W0}


def run(tmp: Path, world: int, job: dict) -> tuple[int, list[str], dict, float]:
    """Launch ``world`` ranks on the job; return (exit status, stderr lines, rank -> results, seconds)."""
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "job.json"
    path.write_text(json.dumps(job | {"out": str(tmp)}))
    started = time.monotonic()
    with open(tmp / "stderr", "wb") as err:
        code = launch([WORKER, str(path)], world, grace=GRACE, stderr=err, limit=LIMIT)
    took = time.monotonic() - started
    lines = (tmp / "stderr").read_text().splitlines()
    results = {
        r: json.loads((tmp / f"rank{r}.json").read_text()) for r in range(world) if (tmp / f"rank{r}.json").exists()
    }
    return code, lines, results, took


# ---- the cases --------------------------------------------------------------------------------


def gradient_cases(problems, subset: bool) -> list[dict]:
    W = problems["W0"].tolist()
    chosen = [("sigmoid", "sse"), ("sigmoid", "bce"), ("relu", "mse")] if subset else pairs()
    cases = [
        {"data": f"rand-{dt}", "dtype": dt, "W": W, "method": m, "loss": loss, "activation": act}
        for dt in DTYPES
        for act, loss in chosen
        for m in ("analytic", "autograd", "numeric")
    ]
    # the tutorial's formula: with the sigmoid it is the mean cross-entropy's gradient, whatever the loss
    cases += [
        {"data": f"rand-{dt}", "dtype": dt, "W": W, "method": "tutorial", "loss": "sse", "activation": "sigmoid"}
        for dt in DTYPES
    ]
    return cases


def check_cases(problems, subset: bool) -> list[dict]:
    W = gd_torch.init_weights(3, seed=0).tolist()
    four = ["analytic", "autograd", "numeric", "tutorial"]
    cases = [
        {"data": f"tut-{dt}", "W": W, "loss": loss, "activation": "sigmoid", "methods": four, "mode": mode}
        for dt in (("float64",) if subset else DTYPES)
        for loss in ("sse", "bce")
        for mode in (("full",) if subset else ("full", "directional"))
    ]
    # samples at the kink on two ranks: each method's kink allowance summed over blocks and ranks
    kink = {"data": "kink-float64", "W": KINK_W.tolist(), "loss": "sse", "activation": "relu"}
    cases.append(kink | {"methods": ["analytic", "autograd", "numeric"], "mode": "full"})
    if not subset:  # a kinked activation away from its kink
        cases.append(
            {
                "data": "rand-float64",
                "W": problems["W0"].tolist(),
                "loss": "mse",
                "activation": "relu",
                "methods": ["analytic", "numeric"],
                "mode": "full",
            }
        )
    return cases


#: descent on the mean cross-entropy (the tutorial's rule is its gradient, whatever loss it prints):
#: convex, so that with alpha <= 2 / L each step is non-expansive and rounding is not amplified;
#: 30 epochs (90 steps in batches of 100): the bound grows with the steps, so any length tests it
FIT_CASES = [
    {"data": "tut-float64", "method": "tutorial", "loss": "sse", "alpha": 0.01, "epochs": 30, "seed": 42},
    {
        "data": "tut-float64",
        "method": "analytic",
        "loss": "bce",
        "alpha": 0.05,
        "epochs": 30,
        "seed": 1,
        "batch_size": 100,
    },
    {
        "data": "tut-float64",
        "method": "autograd",
        "loss": "bce",
        "alpha": 0.05,
        "epochs": 30,
        "seed": 2,
        "batch_size": 125,
    },
    {"data": "tut-float32", "method": "tutorial", "loss": "sse", "alpha": 0.01, "epochs": 30, "seed": 42},
    {"data": "tut-float32", "method": "analytic", "loss": "bce", "alpha": 0.05, "epochs": 30, "seed": 3},
]

ERROR_CASES = [
    {"kind": "gradient", "data": ["nan"]},
    {"kind": "gradient", "data": ["rand-float64", "tut-float64"]},  # D = 4 on rank 0, 3 on rank 1
    {"kind": "gradient", "data": ["rand-float64", "rand-float32"]},  # float64 on rank 0, float32 on rank 1
    {
        "kind": "fit",
        "data": "tut-float64",
        "method": "analytic",
        "loss": "sse",
        "alpha": 0.01,
        "epochs": 5,
        "seed": 0,
        "fault": {"kind": "drift", "rank": 1, "epoch": 2},
    },
    {
        "kind": "fit",
        "data": "tut-float64",
        "method": "analytic",
        "loss": "mse",
        "activation": "identity",
        "alpha": 10.0,
        "epochs": 200,
        "seed": 0,
    },
]


def step_cases(problems) -> list[dict]:
    W = problems["W0"]
    v = np.random.default_rng(1).standard_normal(4)
    # caller's steps: an ordinary one, and one that W takes but that moves z = X W beyond every bit
    # of z (refused by the rule on X's column scales, which on K ranks are all ranks' maximum)
    callers = [1e-6, 1e17]
    cases = [
        {"data": f"rand-{dt}", "W": W.tolist(), "v": (v / np.linalg.norm(v)).tolist(), "caller_steps": callers}
        for dt in DTYPES
    ]
    return [c | {"scheme": s} for c in cases for s in ("central", "richardson")]


def cli_cases(problems) -> list[list[str]]:
    # gd-torch check on every rank, as under torchrun: the tutorial's rule is not sse's gradient
    methods = "analytic,autograd,numeric,tutorial"
    return [["check", "--dataset", problems["paths"]["tut-float64"], "--methods", methods, "--timeout", "30"]]


def fault_case(kind: str) -> dict:
    # a long training in which rank 1 is killed or hangs before epoch 4's step
    case = {"data": "tut-float64", "method": "analytic", "loss": "sse", "alpha": 0.01, "epochs": 10_000, "seed": 0}
    return case | {"fault": {"kind": kind, "rank": 1, "epoch": 3}}


def _launch(world: int, problems, tmp: Path) -> dict:
    # One launch of K ranks runs every case, then a training with a fault planted on rank 1 (a
    # Comm of its own with a short timeout): K = 2 every gradient, check, fit and error case and
    # a hung rank; K = 3 a subset, gd-torch check on every rank, and a killed rank
    subset = world == 3
    tasks = [
        {"task": "steps", "cases": step_cases(problems)},
        {"task": "gradients", "cases": gradient_cases(problems, subset)},
        {"task": "checks", "cases": check_cases(problems, subset)},
        {"task": "fits", "cases": FIT_CASES[:2] if subset else FIT_CASES},
        {"task": "cli", "cases": cli_cases(problems)} if subset else {"task": "errors", "cases": ERROR_CASES},
    ]
    fault = fault_case("kill" if subset else "hang")
    job = {"tasks": tasks, "data": problems["paths"], "timeout": 30.0, "fault": fault, "fault_timeout": FAULT_TIMEOUT}
    code, lines, results, took = run(tmp, world, job)
    assert sorted(results) == list(range(world)), "\n".join(lines)  # every rank finished the cases
    return {"world": world, "tasks": tasks, "results": results, "lines": lines, "code": code, "out": tmp}


@pytest.fixture(scope="module")
def launches(problems, tmp_path_factory) -> dict:
    """The two worker launches (K = 2, 3) and gd-torch under torchrun, run at the same time:
    most of a launch is waiting (K processes importing torch, collectives' latency, a fault's
    timeout), which the others fill."""
    tmp = tmp_path_factory.mktemp("torchrun")
    argv = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "gd_torch", "train"]
    argv += ["--dataset", problems["paths"]["tut-float64"], "--epochs", "30", "--out", str(tmp / "o")]
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo"}
    torchrun = subprocess.Popen(
        [sys.executable, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp
    )
    folders = {world: tmp_path_factory.mktemp(f"k{world}") for world in (2, 3)}
    with ThreadPoolExecutor(max_workers=2) as pool:
        running = {world: pool.submit(_launch, world, problems, folder) for world, folder in folders.items()}
        done: dict = {world: future.result() for world, future in running.items()}
    stdout, stderr = torchrun.communicate(timeout=LIMIT)
    done["torchrun"] = Finished(torchrun.returncode, stdout, stderr, tmp / "o")
    return done


@dataclass(frozen=True)
class Finished:
    """A command's exit status and output, and its --out folder."""

    returncode: int
    stdout: str
    stderr: str
    out: Path


@pytest.fixture(scope="module")
def two_ranks(launches) -> dict:
    return launches[2]


@pytest.fixture(scope="module")
def three_ranks(launches) -> dict:
    return launches[3]


@pytest.fixture(params=["two_ranks", "three_ranks"])
def ranks(request) -> dict:
    return request.getfixturevalue(request.param)


def _task(ranks: dict, name: str) -> tuple[list, list]:
    # the cases of one task and rank 0's results, after checking every rank returned the same
    i = [t["task"] for t in ranks["tasks"]].index(name)
    per_rank = [ranks["results"][r][name] for r in range(ranks["world"])]
    assert all(p == per_rank[0] for p in per_rank[1:]), f"{name}: ranks returned different results"
    return ranks["tasks"][i]["cases"], per_rank[0]


# ---- gradients ------------------------------------------------------------------------------


def _one_process_caller_steps(W, scheme: str, step: float, X) -> list | str:
    try:
        return step_rules.caller_steps(W, scheme, step, X).astype(np.float64).tolist()
    except GdTorchError as exc:
        return str(exc)


def test_k_ranks_take_the_steps_one_process_takes(ranks, problems):
    # column scales max_i |X_ij| MAX-all-reduced: the same z-space steps, bit for bit
    cases, results = _task(ranks, "steps")
    X64, _ = problems["arrays"]["rand"]
    for case, got in zip(cases, results, strict=True):
        X = X64.astype(case["data"].split("-")[1])
        W, v, scheme = np.asarray(case["W"], X.dtype), np.asarray(case["v"]), case["scheme"]
        assert got["h"] == step_rules.default_steps(W, scheme, X).astype(np.float64).tolist()
        assert got["caller"] == [_one_process_caller_steps(W, scheme, step, X) for step in case["caller_steps"]]
        assert "step must be" in got["caller"][1]  # the z-move rule refuses 1e17 on every rank
        X, W = X.astype(np.float64), W.astype(np.float64)  # as numeric.for_check differences float32
        scale_v = float(step_rules.column_scale((X @ v)[:, None])[0])
        assert got["t"] == step_rules.step_along(W, scheme, step_rules.column_scale(X), X.shape[0], scale_v)


def test_k_rank_gradient_equals_the_one_process_gradient_within_the_error_model(ranks, problems):
    X64, y64 = problems["arrays"]["rand"]
    cases, results = _task(ranks, "gradients")
    for case, g in zip(cases, results, strict=True):
        dt, act = case["dtype"], case["activation"]
        W, X, y = np.asarray(case["W"], dt), X64.astype(dt), y64.astype(dt)
        g, loss = np.asarray(g), case["loss"]
        lo, a = resolve("bce" if case["method"] == "tutorial" else loss, act)  # the tutorial's vector is bce's gradient
        model = errormodel.build(W, X, y, lo, a)
        # the K-rank sums carry the all-reduce's error too
        exact_k = errormodel.from_sums(
            errormodel.partial_sums(W, X, y, lo, a, X.shape[0]), X.shape[0], X.dtype, lo, ranks["world"]
        ).exact
        if case["method"] == "numeric":  # against analytic, within the finite difference's predicted error
            ref = gd_torch.gradient(W, X, y, loss=loss, activation=act)
            res = numeric.estimate(W, X, y, lo, a, f_noise=model.f_noise, f_rel=model.f_rel)
            tol = TOLERANCES["numeric_predicted"] * (res.error + model.exact)
        else:
            ref = gd_torch.gradient(W, X, y, method=case["method"], loss=loss, activation=act)
            tol = TOLERANCES["exact_pair"] * (exact_k + model.exact)
        assert (np.abs(g - ref) <= tol).all(), f"{case}: |diff| {np.abs(g - ref)} > {tol}"


def test_two_rank_sums_are_the_one_screen_reference(two_ranks, problems):
    # the distributed sums (each rank's row blocks, then the all-reduce) against
    # gd_torch.model.reference's one plain pass in float64, within the K-rank error model
    X64, y64 = problems["arrays"]["rand"]
    cases, results = _task(two_ranks, "gradients")
    seen = set()
    for case, g in zip(cases, results, strict=True):
        dt, loss = case["dtype"], ("bce" if case["method"] == "tutorial" else case["loss"])
        if (
            case["activation"] != "sigmoid"
            or case["method"] not in ("analytic", "tutorial")
            or loss not in reference.LOSSES
        ):
            continue
        W, X, y = np.asarray(case["W"], dt), X64.astype(dt), y64.astype(dt)
        lo, a = resolve(loss, "sigmoid")
        exact_k = errormodel.from_sums(errormodel.partial_sums(W, X, y, lo, a, X.shape[0]), X.shape[0], X.dtype, lo, 2)
        f64 = errormodel.build(W.astype(np.float64), X.astype(np.float64), y.astype(np.float64), lo, a)
        tol = TOLERANCES["exact_pair"] * (exact_k.exact + f64.exact)
        want = reference.tutorial_update(W, X, y) if case["method"] == "tutorial" else reference.gradient(W, X, y, loss)
        assert (np.abs(np.asarray(g) - want) <= tol).all(), f"{case}: |diff| {np.abs(np.asarray(g) - want)} > {tol}"
        seen.add((dt, case["method"], case["loss"]))
    assert len(seen) == 6  # analytic on sse and bce, and the tutorial's rule, in each dtype


# ---- checks ---------------------------------------------------------------------------------


def test_k_rank_check_gives_the_one_process_verdict(ranks, problems):
    cases, results = _task(ranks, "checks")
    for case, got in zip(cases, results, strict=True):
        X, y = problems["arrays"][case["data"].split("-")[0]]
        dt = case["data"].split("-")[1]
        one = gd_torch.check(
            np.asarray(case["W"], dt),
            X.astype(dt),
            y.astype(dt),
            loss=case["loss"],
            activation=case["activation"],
            methods=case["methods"],
            mode=case["mode"],
        )
        assert (got["ok"], got["odd"], got["statuses"]) == (one.ok, one.odd_one_out, [p.status for p in one.pairs]), (
            got["text"]
        )
    assert any("kink" in got["statuses"] for got in results)  # the kink allowance decided a pair


def test_k_rank_check_finds_the_tutorial_formula_wrong_for_sse_and_right_for_bce(ranks):
    cases, results = _task(ranks, "checks")
    verdicts = {
        (c["data"], c["loss"], c["mode"]): (r["ok"], r["odd"])
        for c, r in zip(cases, results, strict=True)
        if "tutorial" in c["methods"]
    }
    assert verdicts[("tut-float64", "sse", "full")] == (False, "tutorial")
    assert verdicts[("tut-float64", "bce", "full")] == (True, None)
    text = next(r["text"] for c, r in zip(cases, results, strict=True) if c["loss"] == "sse")
    assert "N=250 D=3" in text and "FAIL: tutorial disagrees with analytic, autograd, numeric" in text


# ---- fits -----------------------------------------------------------------------------------


def _batches(n: int, b: int, seed: int, epochs: int):
    # the rows of every step, as gd_torch.fit draws them
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    order = np.arange(n)
    for _ in range(epochs):
        rng.shuffle(order)
        for s in range(0, n, b):
            yield order[s : s + b]


def _drift_bound(case: dict, r: gd_torch.FitResult, X: np.ndarray) -> float:
    # Each step is W <- W - alpha g_B(W) on a batch B (all rows in full batch) of the mean
    # cross-entropy, convex and L_B-smooth with L_B <= lambda_max(X_B^T X_B) / (4 |B|); for
    # alpha <= 2 / L_B the step is non-expansive, so ||W_K - W_1|| grows by at most alpha
    # ||g_K - g_1|| <= alpha 2 ||err|| per step (K ranks and one process each within err of the
    # exact gradient: exact_pair).  err of a batch <= the error model's sums over all N rows
    # with the batch's weights 1 / |B| (every summed term >= 0), at the worst epoch's weights.
    lo, act = resolve("bce", "sigmoid")
    n = X.shape[0]
    b = case.get("batch_size") or n
    smooth = max(
        np.linalg.eigvalsh(X[B].T @ X[B]).max() / (4 * B.shape[0]) for B in _batches(n, b, case["seed"], case["epochs"])
    )
    assert case["alpha"] <= 2 / smooth, f"{case}: alpha > 2 / L = {2 / smooth:.3g}: steps may amplify rounding"
    worst = max(
        float(
            np.linalg.norm(
                errormodel.from_sums(
                    errormodel.partial_sums(W, X, np.asarray(r.data[1]), lo, act, b), n, X.dtype, lo, 3
                ).exact
            )
        )
        for W in r.weights_history
    )
    steps = case["epochs"] * -(-n // b)
    return TOLERANCES["exact_pair"] * 2 * case["alpha"] * steps * worst


def test_k_rank_fit_follows_the_one_process_trajectory(ranks, problems):
    X64, y64 = problems["arrays"]["tut"]
    cases, results = _task(ranks, "fits")
    for case, got in zip(cases, results, strict=True):
        dt = case["data"].split("-")[1]
        X, y = X64.astype(dt), y64.astype(dt)
        r = gd_torch.fit(
            X,
            y,
            method=case["method"],
            loss=case["loss"],
            alpha=case["alpha"],
            epochs=case["epochs"],
            batch_size=case.get("batch_size"),
            seed=case["seed"],
        )
        W = np.asarray(got["W"])
        bound = _drift_bound(case, r, X)
        assert np.linalg.norm(W - r.weights) <= bound, (
            f"{case}: |W_K - W_1| = {np.linalg.norm(W - r.weights):.3g} > {bound:.3g}"
        )
        np.testing.assert_allclose(got["losses"], r.loss_history, rtol=100 * np.finfo(dt).eps, atol=0)


# ---- failures -------------------------------------------------------------------------------


def test_an_error_on_one_rank_stops_every_rank_and_that_rank_alone_reports_it(two_ranks):
    cases, _ = ERROR_CASES, None
    per_rank = [two_ranks["results"][r]["errors"] for r in range(2)]
    expected = [
        # rank 1 (rows 150-300) meets the NaN of row 250; rank 0 stops quietly
        (1, r"^gd-torch: error: rank 1: X must be finite: row 250 of X gives z = X @ W = nan"),
        # data of another shape or dtype on one rank is refused before any step, by rank 0
        (
            0,
            r"^gd-torch: error: every rank must hold the same data: rank 1 sees 250 x 3 float64, rank 0 sees 301 x 4 float64$",
        ),
        (
            0,
            r"^gd-torch: error: every rank must hold the same data: rank 1 sees 301 x 4 float32, rank 0 sees 301 x 4 float64$",
        ),
        # a rank whose weights drifted is an error at the end, on every rank
        (
            0,
            r"^gd-torch: error: the weights differ between ranks after epoch 5: rank 1 has W\[0\] = .*, rank 0 has .* \(ranks \[1\] drifted",
        ),
        # a divergence: every rank sees the same all-reduced losses; rank 0 says so
        (0, r"^gd-torch: error: training diverged at epoch \d+: the loss became .* with alpha=10; try a smaller"),
    ]
    assert len(cases) == len(expected)
    for i, (reporter, pattern) in enumerate(expected):
        got = [per_rank[r][i] for r in range(2)]
        assert all(g is not None for g in got), f"case {i} did not fail on every rank"
        assert re.match(pattern, got[reporter]["line"]), got
        assert got[1 - reporter]["line"] is None, got  # one line in all


def _fault(ranks: dict) -> list[str]:
    # the fault's run left no output file and no partial one; the one error line it printed
    out = ranks["out"]
    assert not (out / "fault").exists()
    assert [p.name for p in out.rglob("*") if ".partial" in p.name] == []
    errors = [ln for ln in ranks["lines"] if "error" in ln.lower()]
    assert len(errors) == 1, ranks["lines"]
    return errors


def test_a_killed_rank_ends_the_run_with_one_line_naming_it(three_ranks):
    assert three_ranks["code"] == 128 + 9  # the launcher's status is the killed rank's
    pattern = r"^gd-torch: error: rank 1 died while .*epoch \d+.* \(killed by SIGKILL\); rank [02] stopped .* after (\d+\.\d) s \(a lost connection; timeout 3 s\)$"
    m = re.match(pattern, _fault(three_ranks)[0])
    assert m, three_ranks["lines"]
    assert float(m.group(1)) < FAULT_TIMEOUT  # a closed connection is seen at once, not after the timeout


def test_a_hung_rank_ends_the_run_within_the_timeout_with_one_line_naming_it(two_ranks):
    assert two_ranks["code"] == 2
    pattern = r"^gd-torch: error: rank 1 hung while continuing after the loss and gradient in epoch 4; rank 0 stopped waiting for the loss and gradient in epoch 5 after (\d+\.\d) s \(no answer; timeout 3 s\)$"
    m = re.match(pattern, _fault(two_ranks)[0])
    assert m, two_ranks["lines"]
    assert FAULT_TIMEOUT - 0.5 <= float(m.group(1)) <= FAULT_TIMEOUT + 1.0


@pytest.fixture(scope="module")
def trainings(problems, tmp_path_factory):
    """Two long trainings on two ranks, started together (their ranks' start-up, torch's import,
    overlaps): one for the test that kills the launcher, one for the test that kills a rank.
    Each test takes its own: (launcher, --out, logs folder)."""
    started = {}
    for name in ("launcher_killed", "rank_killed"):
        tmp = tmp_path_factory.mktemp(name)
        out, logs = tmp / "o", tmp / "logs"
        started[name] = (workers_run.start_training(problems["paths"]["tut-float64"], out, logs), out, logs)
    yield started
    for proc, _, _ in started.values():
        workers_run.kill_left([proc.pid, *workers_run.ranks_of(proc.pid).values()])
        proc.wait(timeout=30)


def test_ranks_die_with_their_launcher_and_write_nothing_after_it(trainings):
    proc, out, _ = trainings["launcher_killed"]
    ranks: dict[int, int] = {}
    try:
        ranks = workers_run.wait_for_training(proc, out)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        gone = workers_run.wait_until(lambda: not any(workers_run.alive(p) for p in ranks.values()), 5.0)
        assert gone, f"ranks {[r for r, p in ranks.items() if workers_run.alive(p)]} outlived their launcher"
        time.sleep(1.0)
        assert workers_run.written(out) == []  # nothing written to --out after the launcher died
    finally:
        workers_run.kill_left([proc.pid, *ranks.values()])


def test_cli_a_rank_killed_by_a_signal_is_one_line_naming_it_and_exit_2(trainings):
    proc, out, logs = trainings["rank_killed"]
    ranks: dict[int, int] = {}
    try:
        ranks = workers_run.wait_for_training(proc, out)
        os.kill(ranks[1], signal.SIGKILL)
        assert proc.wait(timeout=120) == 2  # an error of the run, as the README says; not 128 + 9
        lines = (logs / "stderr").read_text().splitlines()
        assert len(lines) == 1, "\n".join(lines)
        assert re.match(
            r"^gd-torch: error: rank 1 died while .* \(killed by SIGKILL\); rank 0 stopped waiting", lines[0]
        )
        assert workers_run.written(out) == []
    finally:
        workers_run.kill_left([proc.pid, *ranks.values()])


def test_when_every_rank_is_killed_the_launcher_names_the_signal_itself(capfd):
    suicide = ["-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]
    assert launch(suicide, 2) == 128 + 9  # the API's status: the first killed rank's
    assert capfd.readouterr().err == ""
    assert launch(suicide, 2, signal_status=2) == 2  # the command line's: an error of the run
    err = capfd.readouterr().err
    assert re.match(r"^gd-torch: error: rank [01] was killed by SIGKILL; no rank was left to report more\n$", err), err
    interrupted = ["-c", "raise SystemExit(130)"]  # a status above 128 without a signal stays as it is
    assert launch(interrupted, 2, signal_status=2) == 130


def test_cli_an_error_every_rank_raises_is_printed_once_naming_the_flag(problems, capfd):
    from gd_torch.cli.app import main

    argv = ["train", "--dataset", problems["paths"]["tut-float64"], "--workers", "2", "--no-plots", "--timeout", "30"]
    assert main([*argv, "--loss", "bce", "--activation", "relu"]) == 2
    out, err = capfd.readouterr()
    assert out == ""
    assert err.startswith("gd-torch: error: --activation must be one of 'sigmoid' with loss='bce'"), err
    assert len(err.splitlines()) == 1, err
    # check's FLAGS name the flag of the library's 'scheme': --methods
    argv = ["check", "--dataset", problems["paths"]["tut-float64"], "--workers", "2", "--timeout", "30"]
    assert main([*argv, "--methods", "numeric:complex,analytic", "--activation", "relu", "--loss", "sse"]) == 2
    out, err = capfd.readouterr()
    assert out == "" and err.startswith("gd-torch: error: --methods must be 'central', 'forward' or 'richardson'"), err
    assert len(err.splitlines()) == 1, err


# ---- the command line -----------------------------------------------------------------------


def test_cli_check_on_three_ranks_prints_once_the_one_process_verdict(three_ranks):
    per_rank = [three_ranks["results"][r]["cli"][0] for r in range(3)]
    assert [r["code"] for r in per_rank] == [1, 1, 1]  # the tutorial's rule is not sse's gradient
    out = per_rank[0]["out"]
    assert out.count("FAIL: tutorial disagrees with analytic, autograd, numeric, which agree with each other") == 1
    assert out.startswith("data: ") and "3 rank(s) of about 83 rows each" in out and "N=250 D=3" in out
    assert [r["out"] for r in per_rank[1:]] == ["", ""]  # rank 0 alone prints
    assert all("error" not in r["err"].lower() for r in per_rank), per_rank


def test_cli_workers_starts_the_ranks_and_prints_the_verdict_once(problems, capfd):
    from gd_torch.cli.app import main

    argv = ["check", "--dataset", problems["paths"]["tut-float64"], "--workers", "2", "--methods", "analytic,tutorial"]
    assert main([*argv, "--loss", "bce", "--timeout", "30"]) == 0  # the tutorial's rule is bce's gradient
    out, err = capfd.readouterr()
    assert out.count("OK: all methods agree within their predicted tolerances") == 1
    assert out.startswith("data: ") and "2 rank(s) of about 125 rows each" in out and "N=250 D=3" in out
    assert "error" not in err.lower(), err


def test_torchrun_trains_like_one_process_and_only_rank_0_prints(launches, problems):
    run = launches["torchrun"]
    assert run.returncode == 0, run.stderr
    X, y = problems["arrays"]["tut"]
    r = gd_torch.fit(X, y, method="tutorial", loss="sse", alpha=0.01, epochs=30, seed=42)  # train's defaults
    epochs = re.findall(r"^epoch #(\d+), loss=([0-9.]+)$", run.stdout, flags=re.M)
    assert [int(k) for k, _ in epochs] == list(range(1, 31))  # printed once, by rank 0
    assert all(v == f"{r.loss_history[int(k) - 1]:.7f}" for k, v in epochs)
    assert run.stdout.count("final: ") == 1 and "2 rank(s)" in run.stdout
    assert sorted(p.name for p in run.out.iterdir()) == ["loss.png"]


# ---- docs/scaling.md ------------------------------------------------------------------------


def test_the_scaling_projection_in_the_docs_is_the_benchmarks_formula():
    # the page's table, from the benchmark's own projection with the page's assumed costs per byte
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        from distributed import project
    finally:
        sys.path.pop(0)
    x_bytes = 1e7 * 64 * 4
    one = {"world": 1, "n": 1e7, "d": 64, "dtype": "float32"}
    p = project([one | {"gradient_warm_s": [x_bytes * 1e-10], "gradient_cold_s": [x_bytes / 3e9]}])
    page = (Path(__file__).resolve().parents[1] / "docs" / "scaling.md").read_text()
    row = lambda *cells: "| " + " | ".join(cells) + " |"  # noqa: E731
    fmt = lambda v, unit, scale: f"{v * scale:.2g}".rstrip("0").rstrip(".") + unit  # noqa: E731
    steps = [p[f"step_{c}_{n}_s"] - p[f"allreduce_{n}_s"] for c in ("warm", "cold") for n in ("infiniband", "tcp")]
    assert row("compute per step, 40 GB per machine", *(f"{s:.1f} s" for s in steps)) in page
    ring = [p[f"allreduce_{n}_s"] for n in ("infiniband", "tcp")] * 2
    assert row("ring all-reduce, K = 64", *(fmt(r, " ms", 1e3) for r in ring)) in page
    rows = [p[f"crossover_rows_{c}_{n}"] for c in ("warm", "cold") for n in ("infiniband", "tcp")]
    assert (
        row("rows per rank below which communication dominates (n*)", *(f"{float(f'{r:.2g}'):,.0f}" for r in rows))
        in page
    )
    machines = [p[f"crossover_machines_{c}_{n}"] for c in ("warm", "cold") for n in ("infiniband", "tcp")]
    assert (
        row("machines at which a ring's latency meets compute (K*)", *(f"{float(f'{m:.2g}'):,.0f}" for m in machines))
        in page
    )
    assert (
        f"{p['step_hbm_floor_s'] * 1e3:.1f} ms" in page
        and f"{p['crossover_rows_hbm_infiniband'] / 1e6:.1f} million rows" in page
    )


# ---- labels of a dataset folder -------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("workers", [[], ["--workers", "2", "--timeout", "30"]])
def test_check_on_a_folder_blames_a_non_finite_label_not_x(tmp_path, capfd, bad, workers):
    # one pass over y refuses it, as the in-memory paths and train do: the loss at W is NaN
    # with finite X, and a message blaming X would send the user to the wrong array
    import gd_torch.distributed as dist
    from gd_torch.cli.app import main
    from gd_torch.data import shards as ooc

    rng = np.random.default_rng(0)
    X = np.c_[np.ones(20), rng.standard_normal((20, 2))]
    y = (X[:, 1] > 0) * 1.0
    y[3] = bad
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    assert main(["check", "--dataset", str(tmp_path), *workers]) == 2
    err = capfd.readouterr().err
    assert f"y must be finite (no NaN or inf); got y[3] = {bad}" in err, err
    assert "X must be finite" not in err and "scale X down" not in err
    with pytest.raises(GdTorchError, match=rf"^y must be finite \(no NaN or inf\); got y\[3\] = {bad}$"):
        dist.check(np.zeros(3), ooc.open_dataset(tmp_path), methods=["analytic", "numeric"])
    with pytest.raises(GdTorchError, match=rf"^y must be finite \(no NaN or inf\); got y\[3\] = {bad}$"):
        dist.stepper(ooc.open_dataset(tmp_path))  # train's refusal: the same rule, one copy


def test_cli_train_on_a_dataset_folder_prints_the_in_memory_runs_stall_line(tmp_path, capsys):
    # every z <= 0 under ReLU: every unit dead; the folder run prints the in-memory run's line
    from gd_torch.cli.app import main

    rng = np.random.default_rng(0)
    X = np.c_[-np.ones(100), -(np.abs(rng.standard_normal((100, 2))) + 1)]
    y = (rng.random(100) < 0.5).astype(float)
    folder = write_shards(tmp_path / "dead", X, y, rows=30)
    want = gd_torch.fit(X, y, method="analytic", activation="relu", epochs=20).stall
    assert want is not None and "every unit dead" in want
    assert main(["train", "--dataset", folder, "--activation", "relu", "--epochs", "20", "--no-plots"]) == 0
    assert want in capsys.readouterr().out.splitlines()
