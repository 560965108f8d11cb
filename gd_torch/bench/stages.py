"""The stages every benchmark run goes through, shared by a plain run and ``--compare``: where it
writes (:func:`output_folder`, :func:`check_tag`), :func:`measure` (the workers, the rows kept
under the right stem), :func:`write_outputs` and :func:`exit_status`."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .._errors import GdTorchError, bad_value
from ..base.files import write_text
from . import options
from .assemble import assemble
from .machine import idle_reference, machine
from .markdown import markdown
from .plan import Plan
from .render import plots
from .report import Result
from .runner import keep, row_stream, run_all
from .summary import summary


def output_folder(out: str | None, prefix: str = "gd-torch-bench") -> Path:
    """--out, created if needed; by default a fresh ``<prefix>-<time>`` folder here."""
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        names = [Path(f"{prefix}-{stamp}" + (f"-{i}" if i else "")) for i in range(100)]
        out = str(next((p for p in names if not p.exists()), names[-1]))
    try:
        Path(out).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GdTorchError(f"--out folder {out!r} cannot be written: {exc.strerror or exc}") from None
    return Path(out)


def check_tag(tag: str) -> str:
    if Path(tag).name != tag or tag in (".", "..") or not tag:  # '../x' would write outside --out
        raise bad_value("--tag", tag, "a file name stem without a folder, e.g. 'quick'")
    return tag


@dataclass
class Run:
    """What a run left: its result, the stem its files were written under, and why not under the tag."""

    result: Result
    stem: Path
    interrupted: bool
    tag: str
    kept_aside: str | None = None


def _stem(out: Path, tag: str, result: Result, force: bool) -> tuple[str, str | None]:
    # a contended or interrupted run does not replace an earlier run's files unless forced
    if force or not (out / f"{tag}.json").exists():
        return tag, None
    if not result.complete:
        return f"{tag}-interrupted", "the run was interrupted"
    if result.contended:
        return f"{tag}-contended", result.busy()
    return tag, None


def measure(cfg: options.Config, plan: Plan, out: Path, tag: str, force: bool, gpu: str | None) -> Run:
    """Run the plan's workers, streaming rows into a temporary, and keep it under the right stem."""
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with row_stream(out) as (tmp, sink):
        sink({"kind": "config", **asdict(cfg), "started": started, "gpu_asked": gpu, "machine": machine()})
        interrupted = run_all(plan.tasks, plan.skipped, cfg, sink)
        finished = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        sink({"kind": "finished", "finished": finished, "interrupted": interrupted})
    result = assemble(tmp)
    stem, why = _stem(out, tag, result, force)
    keep(tmp, out / f"{stem}.jsonl")
    return Run(result, out / stem, interrupted, tag, why)


def write_outputs(result: Result, stem: Path, extra_md: str = "") -> list[Path]:
    """<stem>.json, <stem>.md and the plots, each written atomically; the paths written."""
    import json

    figures = plots(result, stem)
    result.plots = [p.name for p in figures]
    md = markdown(result) + extra_md
    json_path = write_text(Path(f"{stem}.json"), json.dumps(result.to_json(), indent=1) + "\n")
    md_path = write_text(Path(f"{stem}.md"), md)
    print("\n".join(summary(result, stem)))
    return [json_path, md_path, *figures]


def with_reference(cfg: options.Config) -> options.Config:
    """``cfg`` with the idle reference read from --reference (machine.idle_reference)."""
    return replace(cfg, idle_reference=idle_reference(cfg.reference, cfg.threads))


def exit_status(run: Run, paths: list[Path]) -> int:
    """Print the paths written; 130 interrupted, 1 rows failed or results kept aside, else 0."""
    for p in [Path(f"{run.stem}.jsonl"), *paths]:
        print(f"wrote {p}")
    result = run.result
    if run.kept_aside:
        print(f"gd-torch bench: the earlier results {run.stem.parent / run.tag}.* were not replaced: "
              f"{run.kept_aside}; this run is under {run.stem}.*; rerun on an idle machine, or pass --force", file=sys.stderr)  # fmt: skip
    elif result.contended:
        print(f"gd-torch bench: {result.busy()}; do not publish them", file=sys.stderr)
    if run.interrupted:
        print(f"gd-torch bench: interrupted; the finished rows are kept in {run.stem}.jsonl", file=sys.stderr)
        return 130
    failed = [r for r in result.rows if r.status == "error"]
    if failed:  # a worker crashed: its rows are in the table as errors
        print(f"gd-torch bench: {len(failed)} row(s) failed: {failed[0].reason}", file=sys.stderr)
        return 1
    return 1 if run.kept_aside else 0
