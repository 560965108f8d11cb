"""``gd-torch bench`` from parsed options to files and an exit status, in its three modes: a run
(plan, run the workers, assemble, write), ``--assemble`` (a rows file's outputs) and ``--compare``
(:mod:`.compare`).  ``gd-torch bench`` and ``python benchmarks/run.py`` call :func:`run`."""

from __future__ import annotations

import argparse
from pathlib import Path

from .._errors import GdTorchError, bad_value
from . import options
from .assemble import assemble
from .compare import compare
from .machine import memory_available
from .plan import plan_tasks
from .report import read_text
from .stages import check_tag, exit_status, measure, output_folder, with_reference, write_outputs


def _assemble_only(path_text: str, out: str | None) -> int:
    # the rows file's .json/.md/plots, beside it, or into --out when one is given
    path = Path(path_text)
    accepted = "an existing .jsonl rows file"
    if path.suffix != ".jsonl" or not path.is_file():  # its .json/.md are written beside it
        raise bad_value("--assemble", path_text, accepted)
    read_text(path_text, "--assemble", accepted)  # size and encoding, before parsing
    try:
        result = assemble(path, check=True)
    except GdTorchError as exc:
        raise GdTorchError(f"--assemble {path_text}: {exc}") from None
    except ValueError as exc:  # a line nested deeper than the JSON parser goes
        raise GdTorchError(
            f"--assemble {path_text}: must be a rows file written by gd-torch bench; got {exc}"
        ) from None
    stem = path.with_suffix("") if out is None else output_folder(out) / path.stem
    for p in write_outputs(result, stem):
        print(f"wrote {p}")
    return 0


def run(args: argparse.Namespace) -> int:
    """``--assemble``: that rows file's outputs; ``--compare``: :func:`.compare.compare`; otherwise
    plan, run the workers, assemble, write.  The exit status is :func:`.stages.exit_status`'s."""
    if args.assemble:
        return _assemble_only(args.assemble, args.out)
    if args.compare:
        return compare(args)
    cfg = with_reference(options.config(args))
    gpu = options.check_cuda(cfg.device)
    plan = plan_tasks(cfg, memory_available())
    tag = check_tag(args.tag or ("quick" if cfg.quick else cfg.device))
    out = output_folder(args.out)
    done = measure(cfg, plan, out, tag, args.force, gpu)
    return exit_status(done, write_outputs(done.result, done.stem))
