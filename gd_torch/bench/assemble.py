"""A run's result assembled from its rows file: machine, configuration, rows (one per key: the
median across worker processes, :mod:`.repeats`) with their floor ratios, the targets evaluated
and the CUDA summary."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from .contention import run_level
from .repeats import merge_repeats
from .report import Result, Row, Rows, parse_json
from .schema import check_record
from .targets import cuda_summary, evaluate


def _lines(path: Path, check: bool) -> Iterator[dict]:
    # each record of a rows file (checked against the schema when ``check``)
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            try:
                record = parse_json(line)
            except json.JSONDecodeError:  # a line cut short by a kill, or blank
                continue
            if check:
                check_record(record, i)
            yield record


def _machine(config: dict, metas: dict[str, dict]) -> dict:
    np_meta, torch_meta = metas.get("numpy", {}), metas.get("torch", {})
    blas_keys = ("internal_api", "version", "architecture", "num_threads", "threading_layer", "filepath")
    blas = [{k: p.get(k) for k in blas_keys} for p in np_meta.get("threadpools", []) if p.get("user_api") == "blas"]
    frameworks = {lib: {k: v for k, v in m.items() if k not in ("kind", "threadpools")} for lib, m in metas.items()}
    return dict(config.get("machine", {})) | {
        "numpy": np_meta.get("numpy"),
        "blas": blas,
        "torch": torch_meta.get("torch"),
        "torch_threads": torch_meta.get("torch_threads"),
        "gpu": torch_meta.get("gpu"),
        "numpy_worker_loaded_torch": np_meta.get("torch_loaded"),
        "workers": frameworks,
    }


def with_floor_ratios(rows: list[Row]) -> None:
    """Each finished gradient row's floor (same device and cell) and its time over that floor."""
    floors = {(r.device, r.n, r.d, r.dtype): r for r in rows if r.kind == "gradient" and r.method == "floor" and r.ok}
    for r in rows:
        fl = floors.get((r.device, r.n, r.d, r.dtype))
        if r.kind == "gradient" and r.ok and fl is not None:
            r.fields["floor_s"] = fl.median_s
            r.fields["ratio_to_floor"] = r.median_s / fl.median_s


def assemble(rows_path: Path, check: bool = False) -> Result:
    """Read a rows file (complete or not) into one Result: machine, config, rows with ratios,
    targets and the CUDA summary.  ``check``: hold every record to :mod:`.schema` first (a
    file this run did not write); a violation is a GdTorchError naming its line."""
    config, metas, rows, finished = {}, {}, [], None
    for r in _lines(rows_path, check):
        kind = r.get("kind")
        if kind == "config":
            config = r
        elif kind in ("meta", "end"):
            metas.setdefault(r["library"], {}).update(r)
        elif kind == "finished":
            finished = r
        elif kind in ("gradient", "train"):
            rows.append(Row.from_dict(r))
    rows = merge_repeats(rows)
    with_floor_ratios(rows)
    machine = _machine(config, metas) | {"calibration_s": run_level([r.to_dict() for r in rows if r.ok])}
    result = Result(
        machine=machine,
        config={k: v for k, v in config.items() if k not in ("kind", "machine")},
        rows=Rows(rows),
        finished=finished.get("finished") if finished else None,
        complete=finished is not None and not finished.get("interrupted"),
    )
    result.targets = evaluate(result.rows)
    result.cuda = cuda_summary(result.rows, machine.get("gpu"))
    return result
