"""gd-torch train and check past one machine's memory and cores: ``--dataset DIR`` (a folder of
.npy shards, read in row blocks), ``--workers K`` (K ranks on this machine), or under torchrun.

    gd-torch train --dataset DIR                      one process, out of core
    gd-torch train --dataset DIR --workers 2          two ranks on this machine
    torchrun --standalone --nproc-per-node 2 -m gd_torch train --dataset DIR
    torchrun --nnodes 4 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29400 -m gd_torch train ...

Every rank runs the same command; rank 0 alone prints and writes files.  A failure stops every
rank; one of them prints it in one line (gd_torch.distributed.comm), and the exit status is 2.
The commands hook in with ``add_arguments(p)`` and ``if wanted(args): return train(args)``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

from .. import distributed, ooc
from .._errors import GdTorchError, bad_value
from ..distributed.comm import failure_line
from ..model import init_weights
from ._common import load_data, positive_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    """--workers, --timeout, --block-mib."""
    g = p.add_argument_group("more data than memory, more than one process")
    g.add_argument(
        "--workers", type=positive_int, default=None, help="start K ranks on this machine (as torchrun does)"
    )
    g.add_argument(
        "--timeout",
        type=float,
        default=distributed.DEFAULT_TIMEOUT,
        help="seconds a rank waits for the others before it stops, naming the rank that died or hung (%(default)g)",
    )
    g.add_argument("--block-mib", type=float, default=64, help="working memory per row block, MiB (%(default)g)")


def wanted(args: argparse.Namespace) -> bool:
    """True for a dataset folder, --workers, or a rank of a torchrun job."""
    return args.workers is not None or int(os.environ.get("WORLD_SIZE", "1")) > 1 or Path(args.dataset).is_dir()


def train(args: argparse.Namespace) -> int:
    """gd-torch train on row blocks and ranks; see the module docstring."""
    return _start("train", args)


def check(args: argparse.Namespace) -> int:
    """gd-torch check on row blocks and ranks; see the module docstring."""
    return _start("check", args)


def _start(command: str, args: argparse.Namespace) -> int:
    if not (math.isfinite(args.timeout) and args.timeout > 0):
        raise bad_value("--timeout", args.timeout, "a number of seconds > 0")
    if not (math.isfinite(args.block_mib) and args.block_mib >= 1 / 256):
        raise bad_value("--block-mib", args.block_mib, "a number of MiB >= 1/256 (4 KiB)")
    if args.workers is not None and "WORLD_SIZE" not in os.environ:
        from ..distributed.launch import launch

        settings = {k: v for k, v in vars(args).items() if not k.startswith("_")} | {"workers": None}
        return launch(["-m", __name__, json.dumps({"command": command, "args": settings})], args.workers)
    comm = distributed.init(timeout=args.timeout, device=args.device)
    try:
        return _BODIES[command](args, comm)
    except GdTorchError as exc:
        line = failure_line(exc)
        if line is not None:
            print(line, file=sys.stderr, flush=True)
        return 2
    finally:
        comm.close()


def _data(args: argparse.Namespace) -> tuple[ooc.Dataset, str]:
    budget = int(args.block_mib * 2**20)
    if Path(args.dataset).is_dir():
        if args.label is not None:
            raise bad_value("--label", args.label, "given only with a CSV --dataset (a dataset folder holds y)")
        data = ooc.open_dataset(args.dataset, budget)
        if args.dtype not in ("float64", str(data.dtype)):  # float64 is also the default: not refused
            raise bad_value("--dtype", args.dtype, f"the dataset's own dtype ({data.dtype}) or left out")
        shards = f"{len(data.shards)} .npy shard" + ("s" if len(data.shards) > 1 else "")
        return data, f"{args.dataset}: {data.n} x {data.d} {data.dtype} in {shards}"
    X, y, desc = load_data(args)
    return ooc.Arrays(X, y, budget), desc


def _describe(data: ooc.Dataset, comm: distributed.Comm, args: argparse.Namespace) -> str:
    start, stop = distributed.rows(data.n, 0, comm.world)
    return f"{comm.world} rank(s) of about {stop - start} rows each, row blocks of {args.block_mib:g} MiB"


def _train(args: argparse.Namespace, comm: distributed.Comm) -> int:
    from . import train as cmd

    data, desc = _data(args)
    if args.device != "cpu" and args.method != "autograd":
        raise bad_value("--device", args.device, "'cpu' unless --method autograd (the only method that runs on CUDA)")
    st = distributed.stepper(
        data,
        comm,
        method=args.method,
        loss=args.loss,
        activation=args.activation,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    W = init_weights(data.d, args.init, args.seed, data.dtype)
    W0 = W.copy()
    rank0 = comm.rank == 0
    with contextlib.ExitStack() as stack:
        out = []

        def prepare() -> np.ndarray:  # rank 0's --out folder, before any step (a failure stops every rank)
            if rank0:
                out.append(stack.enter_context(cmd.output_folder(args, "gd-torch-train")))
            return np.zeros(1)

        comm.reduce("the --out folder", prepare, np.zeros(1))
        progress = cmd._Progress(args.epochs) if rank0 and args.epochs > cmd.MANY_EPOCHS and not args.quiet else None
        try:
            losses, reason = _loop(st, W, args, progress)
        finally:
            if progress is not None:
                progress.close()
        st.assert_identical(W)
        acc = distributed.ops.accuracy(st.p, W, st.act)
        if rank0:
            _report(args, desc + "; " + _describe(data, comm, args), W0, W, losses, reason, acc, data.n)
            if out[0] is not None:
                _pictures(out[0], args, losses, comm.world)
    return 0


def _pictures(out: Path, args: argparse.Namespace, losses: list[float], world: int) -> None:
    from .. import plots

    title = f"Training loss ({args.method} gradient, alpha={args.alpha:g}, {world} rank(s))"
    plots.plot_loss(np.array(losses), out / "loss.png", title=title, ylabel=f"loss ({args.loss})")
    print(f"wrote into {out}/: loss.png")


def _loop(st, W: np.ndarray, args: argparse.Namespace, callback) -> tuple[list[float], str]:
    # the epochs, tol and patience rules on the all-reduced loss (every rank decides alike);
    # gd_torch.train.run_loop's job once it exists
    losses, best, since = [], math.inf, 0
    for k in range(args.epochs + 1):
        L = st.loss(W)
        if not math.isfinite(L):
            raise GdTorchError(
                f"training diverged at epoch {k}: the loss became {L} with alpha={args.alpha:g}; "
                f"try a smaller learning rate, e.g. --alpha {args.alpha / 10:g}"
            )
        losses.append(L)
        if callback is not None:
            callback(k, W, L)
        if k == args.epochs:
            return losses, "epochs"
        if args.tol is not None and L <= args.tol:
            return losses, "tol"
        best, since = (L, 0) if L < best else (best, since + 1)
        if args.patience is not None and since >= args.patience:
            return losses, "patience"
        st.step(W, args.alpha)
    return losses, "epochs"


def _report(args, desc: str, W0, W, losses: list[float], reason: str, acc: float, n: int) -> None:
    from .train import MANY_EPOCHS, describe_gradient

    run = len(losses) - 1
    if not args.quiet:
        batch = "full batch" if args.batch_size is None else f"mini-batches of {args.batch_size}, one global shuffle"
        print(f"data: {desc}")
        print(f"gradient: {describe_gradient(args.method, args.loss, args.activation)}")
        init = {"uniform": "uniform on [0, 1)", "normal": "normal (0, 1)"}.get(args.init, args.init)
        print(f"initial W: {init} with seed {args.seed}: {np.array2string(W0, precision=6)}")
        print(f"alpha={args.alpha:g}, epochs={args.epochs}, {batch}")
        stride = 1 if args.epochs <= MANY_EPOCHS else math.ceil(run / 20)
        for k in range(0, run, stride):
            print(f"epoch #{k + 1}, loss={losses[k]:.7f}")
    stop = {"tol": f"loss <= tol={args.tol}", "patience": f"no improvement for {args.patience} epochs"}.get(reason)
    stop = f"stopped after {run} epochs: {stop}" if stop else f"ran all {run} epochs"
    print(f"final: loss={losses[-1]:.7f} ({args.loss}), accuracy={acc:.4f} ({round(acc * n)}/{n}); {stop}")
    print(f"final W: {np.array2string(W, precision=6)} (identical on every rank)")


def _check(args: argparse.Namespace, comm: distributed.Comm) -> int:
    data, desc = _data(args)
    if args.device != "cpu":
        raise bad_value("--device", args.device, "'cpu' for a check on row blocks or several ranks")
    W = init_weights(data.d, "uniform", args.seed, data.dtype)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    report = distributed.check(
        W, data, comm, loss=args.loss, activation=args.activation, methods=methods, mode=args.mode, seed=args.seed
    )
    if comm.rank == 0:
        print(f"data: {desc}; {_describe(data, comm, args)}")
        print(f"W: uniform [0, 1) with seed {args.seed}")
        print(report)
    return 0 if report.ok else 1


_BODIES = {"train": _train, "check": _check}


if __name__ == "__main__":  # one rank started by --workers: the command and its settings as JSON
    job = json.loads(sys.argv[1])
    sys.exit(_start(job["command"], argparse.Namespace(**job["args"])))
