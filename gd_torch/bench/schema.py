"""What a benchmark result holds, declared once: each record's fields and their constraints.

A result (``<tag>.json``, read by --compare and --reference) and a rows file (``<tag>.jsonl``,
read by --assemble) written by another hand, or damaged, are checked here before anything reads
them: :func:`check_result`, :func:`check_record`.  Each record kind is a table of
:class:`Rule`s; a field absent from a table is free (kept as it is), except that no value may
be nested more than MAX_DEPTH deep.  The first violation is one GdTorchError naming the file,
the place (``rows[3].median_s``, ``line 5: median_s``), the value and what is accepted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .._errors import GdTorchError, bad_value
from .plan import DTYPES

#: a result or rows file larger than this is refused unread (the full CPU grid's is ~0.4 MB)
MAX_BYTES = 64 << 20
#: values nested deeper than this are refused (the benchmark's own are at most 4 deep)
MAX_DEPTH = 32


@dataclass(frozen=True)
class Rule:
    """A field's constraint: ``accepted`` says it in words, ``ok`` tests it; ``required``:
    it must be present."""

    accepted: str
    ok: Callable[[Any], bool]
    required: bool = False

    def needed(self) -> Rule:
        return Rule(self.accepted, self.ok, True)


def _real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _or_none(rule: Rule) -> Rule:
    return Rule(rule.accepted + " or null", lambda v: v is None or rule.ok(v), rule.required)


FINITE = Rule("a finite number", _real)
POSITIVE = Rule("a positive finite number", lambda v: _real(v) and v > 0)
AT_LEAST_ZERO = Rule("a finite number >= 0", lambda v: _real(v) and v >= 0)
COUNT = Rule("a positive integer", lambda v: _int(v) and v >= 1)
AT_LEAST_ZERO_INT = Rule("an integer >= 0", lambda v: _int(v) and v >= 0)
TEXT = Rule("a string", lambda v: isinstance(v, str))
FLAG = Rule("true or false", lambda v: isinstance(v, bool))
OBJECT = Rule("an object", lambda v: isinstance(v, dict))
LIST = Rule("a list", lambda v: isinstance(v, list))


def one_of(*values: str) -> Rule:
    return Rule("one of " + ", ".join(repr(v) for v in values), lambda v: isinstance(v, str) and v in values)


def list_of(rule: Rule) -> Rule:
    return Rule(f"a list of values each {rule.accepted}", lambda v: isinstance(v, list) and all(rule.ok(x) for x in v))


Table = Mapping[str, Rule]

#: every row, finished or not
ROW: Table = {
    "kind": one_of("gradient", "train").needed(),
    "method": TEXT.needed(),
    "device": one_of("cpu", "cuda").needed(),
    "n": COUNT.needed(),
    "d": COUNT.needed(),
    "dtype": one_of(*DTYPES).needed(),
    "status": one_of("ok", "skipped", "error").needed(),
    "library": TEXT,
    "reason": _or_none(TEXT),
    "contended": FLAG,
    "contended_by": list_of(TEXT),
    "median_s": _or_none(POSITIVE),
    "repeat": AT_LEAST_ZERO_INT,
    "repeats": AT_LEAST_ZERO_INT,
    "repeats_failed": COUNT,
}
#: a finished row's measurements, beyond ROW
TIMED: Table = {
    "median_s": POSITIVE.needed(),
    **{k: AT_LEAST_ZERO for k in ("q25_s", "q75_s", "iqr_s", "min_s", "wall_s", "compile_s")},
    **{
        k: POSITIVE
        for k in (
            "floor_s",
            "ratio_to_floor",
            "matmul_s",
            "bandwidth_GBps",
            "us_per_epoch",
            "ratio_to_bare",
            "ratio_to_parts",
        )
    },
    **{k: AT_LEAST_ZERO_INT for k in ("peak_rss_bytes", "peak_traced_bytes", "peak_device_bytes")},
    "blocks": COUNT,
    "number_per_block": COUNT,
    "epochs": COUNT,
    "loadavg_1m": _or_none(AT_LEAST_ZERO),
    "descheduled": _or_none(AT_LEAST_ZERO),
    "calibration": OBJECT,
    "ops_s": OBJECT,
    "repeats": COUNT,
    "repeat_medians_s": list_of(POSITIVE),
    "spread": Rule("a finite number >= 1", lambda v: _real(v) and v >= 1),
}
#: what the tables need of particular finished rows, beyond TIMED: (kind, method or None: any)
NEEDS: dict[tuple[str, str | None], tuple[str, ...]] = {
    ("gradient", "floor"): ("bandwidth_GBps",),
    ("train", None): ("us_per_epoch", "iqr_s", "epochs"),
}
CALIBRATION: Table = {"before_s": POSITIVE.needed(), "after_s": POSITIVE.needed(), "change": FINITE}
GPU: Table = {"name": TEXT.needed(), "peak_bandwidth_GBps": _or_none(POSITIVE)}
MACHINE: Table = {
    "cpu": _or_none(TEXT),
    "cores": COUNT,
    "memory_GiB": AT_LEAST_ZERO,
    "loadavg_at_start": _or_none(AT_LEAST_ZERO),
    "calibration_s": _or_none(POSITIVE),
    "gpu": _or_none(OBJECT),
    "blas": Rule("a list of objects", lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v)),
}
CONFIG: Table = {
    "threads": COUNT,
    # --compare times again with these: a minute of timing per method at most, an hour per call
    "min_run_time": Rule("a positive number of seconds, at most 60", lambda v: _real(v) and 0 < v <= 60),
    "budget_s": Rule("a positive number of seconds, at most 3600", lambda v: _real(v) and 0 < v <= 3600),
    "calibration_tolerance": AT_LEAST_ZERO,
    "retries": AT_LEAST_ZERO_INT,
    "repeats": COUNT,
    "device": one_of("cpu", "cuda"),
    "idle_reference": _or_none(OBJECT),
    "machine": OBJECT,
}
RESULT: Table = {"machine": OBJECT.needed(), "config": OBJECT.needed(), "rows": LIST.needed()}
#: the records of a rows file other than rows, by kind
RECORDS: dict[str, Table] = {
    "config": CONFIG,
    "meta": {"library": TEXT.needed(), "gpu": _or_none(OBJECT), "threadpools": MACHINE["blas"]},
    "end": {"library": TEXT.needed()},
    "finished": {"finished": _or_none(TEXT), "interrupted": FLAG},
}


def _check(record: Any, table: Table, place: str) -> None:
    # the first field of ``record`` against ``table``; place: 'rows[3].' or 'line 5: '
    if not isinstance(record, dict):
        raise bad_value(place.rstrip(". :") or "the file", record, "an object")
    for name, rule in table.items():
        if name not in record:
            if rule.required:
                raise GdTorchError(f"{place}{name} is missing ({rule.accepted} is required)")
        elif not rule.ok(record[name]):
            raise bad_value(f"{place}{name}", record[name], rule.accepted)


def check_row(row: Any, place: str) -> None:
    """One row: ROW, its calibration whatever its status (contention.run_level reads every
    row's); a finished one TIMED, NEEDS."""
    _check(row, ROW, place)
    if "calibration" in row:
        _check(row["calibration"], CALIBRATION, f"{place}calibration.")
    if row["status"] != "ok":
        return
    _check(row, TIMED, place)
    for (kind, method), names in NEEDS.items():
        if row["kind"] == kind and method in (None, row["method"]):
            _check(row, {n: TIMED[n].needed() for n in names}, place)


def _machine(machine: dict, place: str) -> None:
    _check(machine, MACHINE, place)
    if machine.get("gpu") is not None:
        _check(machine["gpu"], GPU, f"{place}gpu.")


def check_depth(value: Any, place: str) -> None:
    """Refuse a value nested more than MAX_DEPTH deep (iteratively: no recursion to exhaust)."""
    stack = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise GdTorchError(f"{place}values must be nested at most {MAX_DEPTH} deep; got deeper")
        if isinstance(v, dict):
            stack.extend((x, depth + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, depth + 1) for x in v)


def check_result(data: Any) -> None:
    """A result (``<tag>.json``): RESULT, MACHINE, CONFIG, every row."""
    check_depth(data, "")
    _check(data, RESULT, "")
    _machine(data["machine"], "machine.")
    _check(data["config"], CONFIG, "config.")
    for i, row in enumerate(data["rows"]):
        check_row(row, f"rows[{i}].")


def check_record(record: Any, line: int) -> None:
    """One line of a rows file: a row, or a config, meta, end or finished record (other kinds
    are ignored by the reader)."""
    place = f"line {line}: "
    check_depth(record, place)
    if not isinstance(record, dict):
        raise bad_value(f"line {line}", record, "an object")
    kind = record.get("kind")
    if kind in ("gradient", "train"):
        check_row(record, place)
    elif isinstance(kind, str) and kind in RECORDS:
        _check(record, RECORDS[kind], place)
        if kind == "config" and "machine" in record:
            _machine(record["machine"], f"{place}machine.")
        if kind == "meta" and record.get("gpu") is not None:
            _check(record["gpu"], GPU, f"{place}gpu.")
