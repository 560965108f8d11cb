"""gd-torch train and check past one machine's memory and cores: ``--dataset DIR`` (a folder of
.npy shards, read in row blocks), ``--workers K`` (K ranks on this machine), or under torchrun.

    gd-torch train --dataset DIR                      one process, out of core
    gd-torch train --dataset DIR --workers 2          two ranks on this machine
    torchrun --standalone --nproc-per-node 2 -m gd_torch train --dataset DIR
    torchrun --nnodes 4 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29400 -m gd_torch train ...

Every rank runs the same command; rank 0 alone prints and writes files.  A failure stops every
rank; one of them prints it in one line naming the flag (gd_torch.distributed.comm), and the
exit status is 2, also for a rank killed by a signal.  The ranks of ``--workers`` die with
their launcher (gd_torch.distributed.launch.follow_launcher) and write nothing after it.
The commands hook in with ``add_arguments(p)`` and ``if wanted(args): return train(args)``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

import numpy as np

from ... import distributed
from ..._errors import GdTorchError, bad_value
from ...base import memory as _memory
from ...base.files import OutputFolder
from ...base.validate import Number
from ...data import shards as ooc
from ...distributed.comm import INIT_PARAMS, RankFailure, exit_after_failure, failure_line
from ...distributed.launch import exit_if_orphaned
from ...gradients import _device, lookup
from ...model.forward import init_weights
from ..flags import in_flags
from . import _common, _train_run, _user_code
from ._common import INIT_TEXT, load_data, output_folder, print_written
from ._types import flag_type, positive_int

#: --block-mib: MiB of working memory per row block, at least 4 KiB
_MIB = Number(minimum=1 / 256, text="a number of MiB >= 1/256 (4 KiB)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """--workers, --timeout, --block-mib."""
    g = p.add_argument_group(
        "more data than memory, more than one process",
        "--dataset may also be a folder of .npy shards (gd-torch make-data writes one), read in row blocks",
    )
    g.add_argument(
        "--workers", type=positive_int, default=None, help="start K ranks on this machine (as torchrun does)"
    )
    g.add_argument(
        "--timeout",
        type=flag_type(INIT_PARAMS["timeout"]),
        default=distributed.DEFAULT_TIMEOUT,
        help="seconds a rank waits for the others before it stops, naming the rank that died or hung (%(default)g)",
    )
    g.add_argument(
        "--block-mib", type=flag_type(_MIB), default=64, help="working memory per row block, MiB (%(default)g)"
    )


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
    _BEFORE[command](args)
    if args.workers is not None and "WORLD_SIZE" in os.environ:
        raise bad_value("--workers", args.workers, "left out under torchrun (it starts the ranks itself)")
    if args.workers is not None:
        from ...distributed.launch import launch

        data, _ = _data(args)  # bad data refused here, in one line, before K ranks start
        _ranks_fit(args, data)
        settings = {k: v for k, v in vars(args).items() if not k.startswith("_")} | {"workers": None}
        job = json.dumps({"command": command, "module": args._module, "args": settings, "flags": args._flags})
        return launch(["-m", __name__, job], args.workers, signal_status=2)  # a killed rank: an error of the run
    comm = distributed.init(timeout=args.timeout, device=args.device)
    try:
        code = _BODIES[command](args, comm)
    except GdTorchError as exc:
        # one rank prints a failure they all saw: the one a RankFailure names, else the first to claim it
        if failure_line(exc, comm.rank) is not None and (isinstance(exc, RankFailure) or comm.claim_report()):
            print(f"gd-torch: error: {in_flags(exc, args)}", file=sys.stderr, flush=True)
        if comm.world > 1:  # a peer may be dead or hung: leaving the group could abort or hang
            exit_after_failure(2)
        comm.close()
        return 2
    comm.close()
    return code


#: a rank's own memory before its data: a Python process with numpy and torch imported (~250 MB RSS)
RANK_BYTES = 256 << 20


def _ranks_fit(args: argparse.Namespace, data: ooc.Dataset) -> None:
    # K ranks, each a Python process with torch and a row block of at most --block-mib (never more
    # than its share of the data), refused before any starts when they cannot all fit in memory
    share = -(-data.n // args.workers) * ooc.row_bytes(data.d, data.dtype)
    block = min(int(args.block_mib * 2**20), share)
    what = f"the memory of the ranks (each a Python process with torch, about {_memory.gib(RANK_BYTES)}, and a row block of {_memory.gib(block)})"
    _memory.at_most("--workers", args.workers, RANK_BYTES + block, what)


def _before_train(args: argparse.Namespace) -> None:
    # what in-memory train refuses before any work, refused here before any rank starts
    m = lookup(args.method)
    _device.check(args.device, m.name, m.devices)
    _common.parts(args)  # a --loss/--activation FILE.py:NAME that cannot be loaded, before any rank starts


def _before_check(args: argparse.Namespace) -> None:
    if args.device != "cpu":  # the methods run per block on the CPU; the ranks all-reduce over gloo
        raise bad_value("--device", args.device, "'cpu' for a check on a dataset folder or several ranks")
    if args.gradient is not None and Path(args.dataset).is_dir():
        name = args.gradient.rpartition(":")[2]
        raise GdTorchError(
            f"--gradient {args.gradient} cannot be checked on --dataset {args.dataset}, a dataset folder: your "
            f"{name}(W, X, y) takes X in memory, and a folder is read in row blocks because X need not fit in "
            "memory; check your gradient on a CSV (or blobs), with or without --workers"
        )
    _gradient(args)  # a file that cannot be loaded is refused before any rank starts
    _common.parts(args)


def _gradient(args: argparse.Namespace) -> list:
    # the user's --gradient, loaded ([] without one)
    return [] if args.gradient is None else [_user_code.load(args.gradient, "--gradient")]


_BEFORE = {"train": _before_train, "check": _before_check}


def _data(args: argparse.Namespace) -> tuple[ooc.Dataset, str]:
    budget = int(args.block_mib * 2**20)
    if Path(args.dataset).is_dir():
        for flag, given in (("--label", args.label), ("--drop", args.drop), ("--standardize", args.standardize)):
            if given:  # a CSV's options: on a dataset folder they would be ignored
                where = f"{args.dataset!r} is a dataset folder, which holds y and only X's columns"
                raise bad_value(flag, given, f"given only with a CSV --dataset ({where})")
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
    _common.use_parts(args)
    data, desc = _data(args)
    if args.batch_size is not None and args.batch_size > data.n:
        raise bad_value("--batch-size", args.batch_size, f"at most the number of samples, {data.n}")
    st = distributed.stepper(
        data,
        comm,
        method=args.method,
        loss=args.loss,
        activation=args.activation,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    W0 = init_weights(data.d, args.init, args.seed, data.dtype)
    rank0 = comm.rank == 0
    with contextlib.ExitStack() as stack:
        folders: list[OutputFolder | None] = []

        def prepare() -> np.ndarray:  # rank 0's --out folder, before any step (a failure stops every rank)
            if rank0:
                folders.append(
                    stack.enter_context(output_folder(args, "train", _train_run.FILES, writes=not args.no_plots))
                )
            return np.zeros(1)

        comm.reduce("the --out folder", prepare, np.zeros(1))
        many = args.epochs > _train_run.MANY_EPOCHS
        progress = _train_run.Progress(args.epochs) if rank0 and many and not args.quiet else None
        try:
            r = distributed.run(
                st, W0, alpha=args.alpha, epochs=args.epochs, tol=args.tol, patience=args.patience, callback=progress
            )
        finally:
            if progress is not None:
                progress.close()
        if rank0:
            _report(args, data, f"{desc}; {_describe(data, comm, args)}", r)
            if not args.no_plots:
                _pictures(folders[0], args, r, comm.world)
        exit_if_orphaned()  # before the files move into --out: a rank whose launcher is gone writes nothing
    if rank0:
        print_written(folders[0])
    return 0


def _pictures(out: OutputFolder, args: argparse.Namespace, r: distributed.Run, world: int) -> None:
    # the loss curve; the boundary pictures need every sample in memory
    from ...train import plots

    title = f"Training loss ({args.method} gradient, alpha={args.alpha:g}, {world} rank(s))"
    plots.plot_loss(
        r.loss_history, out.file("loss.png"), title=title, ylabel=f"loss ({getattr(args.loss, 'name', args.loss)})"
    )
    print("no boundary.png/boundary.gif: they draw every sample, and a dataset folder or ranks keep them on disk")


def _report(args: argparse.Namespace, data: ooc.Dataset, desc: str, r: distributed.Run) -> None:
    # gd-torch train's report, worded as the in-memory run words it
    n = data.n
    if not args.quiet:
        batch = "full batch" if args.batch_size is None else f"mini-batches of {args.batch_size}, one global shuffle"
        _train_run.print_run(args, desc, r, batch)
        _samples(args, data, r.weights)
    stop = {
        "tol": lambda: f"loss <= tol={args.tol:g}",
        "patience": lambda: f"no improvement for {args.patience} epochs",
    }
    why = stop.get(r.stop_reason)
    stop_text = f"stopped after {r.epochs_run} epochs: {why()}" if why else f"ran all {r.epochs_run} epochs"
    after = f"after epoch #{r.epochs_run}'s update" if r.epochs_run else "at the initial weights"
    print(
        f"final: loss={r.loss_history[-1]:.7f} ({getattr(args.loss, 'name', args.loss)}) {after}, accuracy={r.final_accuracy:.4f} "
        f"({round(r.final_accuracy * n)}/{n}; label 1 where activation >= 0.5); {stop_text}"
    )
    print(f"final W: {np.array2string(r.weights, precision=6)} (identical on every rank)")
    stall = _stall(args, data, r)
    if stall is not None:
        print(stall)


def _stall(args: argparse.Namespace, data: ooc.Dataset, r: distributed.Run) -> str | None:
    # the in-memory run's stall rule (gd_torch.train.loop.stall_line); its counts from one pass over
    # the data's blocks at the final W, made only when the loss has flattened
    from ...base.rowblocks import accumulate
    from ...model.forward import resolve
    from ...train.loop import stall_line, stall_tally

    act = resolve(args.loss, args.activation)[1]
    per_row = ooc.row_bytes(data.d, data.dtype, per_entry=0)

    def tally() -> np.ndarray:
        blocks = data.blocks(0, data.n, per_row)
        return accumulate(lambda b: stall_tally(b.X, b.y, r.weights, act), blocks, np.zeros(4))

    return stall_line(r.loss_history, r.epochs_run, act.name, tally)


def _samples(args: argparse.Namespace, data: ooc.Dataset, W: np.ndarray) -> None:
    # the ten samples the in-memory run shows (the same seeded draw), read from the data
    from ...model.forward import resolve
    from ...train.loop import predict_labels

    rng = np.random.default_rng(np.random.SeedSequence(args.seed, spawn_key=(2,)))
    picks = rng.choice(data.n, size=min(10, data.n), replace=False)
    order = np.argsort(picks)
    X, y = data.take(picks[order])
    a = np.empty(picks.shape[0])
    a[order] = resolve(args.loss, args.activation)[1].f(X @ W)
    labels = np.empty(picks.shape[0], dtype=np.float64)
    labels[order] = y
    print(f"{len(picks)} samples chosen with seed {args.seed}:")
    for i, ai, pi, yi in zip(picks, a, predict_labels(a), labels, strict=True):
        print(f"  sample {i:4d}: activation={ai:.4f}; predicted_label={pi}, true_label={yi:g}")


def _check(args: argparse.Namespace, comm: distributed.Comm) -> int:
    data, desc = _data(args)
    W = init_weights(data.d, args.init, args.seed, data.dtype)
    loss, activation = _common.parts(args)
    report = distributed.check(
        W,
        data,
        comm,
        loss=loss,
        activation=activation,
        methods=[*args.methods, *_gradient(args)],
        mode=args.mode,
        seed=args.seed,
    )
    if comm.rank == 0:
        print(f"data: {desc}; {_describe(data, comm, args)}")
        print("W: " + INIT_TEXT[args.init].format(seed=args.seed))
        print(report)
        if not report.agree:  # gd-torch check's diagnosis reads X in memory
            print("\ndiagnosis: not on a dataset folder or ranks (it needs X in memory); run check on a CSV for it")
    return 0 if report.ok else 1


_BODIES = {"train": _train, "check": _check}


def _rank_args(job: dict) -> argparse.Namespace:
    # a rank's settings from the launcher's JSON, with what cli.flags needs to name flags: the
    # command's module and its flag table (not the whole parser, whose build imports every command)
    return argparse.Namespace(**job["args"], _module=job["module"], _flags=job["flags"])


if __name__ == "__main__":  # one rank started by --workers: the command and its settings as JSON
    job = json.loads(sys.argv[1])
    sys.exit(_start(job["command"], _rank_args(job)))
