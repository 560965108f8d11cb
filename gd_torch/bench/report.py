"""Rows as typed values indexed by their key, the result of a run, and a result file read back."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

Status = Literal["ok", "skipped", "error"]
#: (kind, method, device, n, d, dtype): one row of a run
Key = tuple[str, str, str, int, int, str]

PROBLEM = "loss=sse, activation=sigmoid (the tutorial's); X uniform, unit-variance z; y 0/1"


@dataclass
class Row:
    """One timed (or skipped, or failed) task.  ``median_s`` is the median time per call; the
    worker's other measurements (spread, calibration, memory, floor and training fields) are in
    ``fields`` under their JSON names."""

    kind: str
    method: str
    device: str
    n: int
    d: int
    dtype: str
    status: Status
    library: str = ""
    reason: str | None = None
    median_s: float | None = None
    contended: bool = False
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> Key:
        return (self.kind, self.method, self.device, self.n, self.d, self.dtype)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)

    @classmethod
    def from_dict(cls, d: dict) -> Row:
        names = {f.name for f in fields(cls)} - {"fields"}
        return cls(**{k: v for k, v in d.items() if k in names}, fields={k: v for k, v in d.items() if k not in names})

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "fields"}
        return out | self.fields


class Rows:
    """Rows in the order they came, and the finished ones by key."""

    def __init__(self, rows: Iterable[Row]) -> None:
        self.all = list(rows)
        self._ok = {r.key: r for r in self.all if r.ok}

    def __iter__(self) -> Iterator[Row]:
        return iter(self.all)

    def __len__(self) -> int:
        return len(self.all)

    def ok(self, key: Key) -> Row | None:
        """The finished row with this key, or None."""
        return self._ok.get(key)

    def of(self, kind: str) -> list[Row]:
        return [r for r in self.all if r.kind == kind]


@dataclass
class Result:
    """A run: the machine, the configuration, its rows, and what was computed from them."""

    machine: dict
    config: dict
    rows: Rows
    finished: str | None = None
    complete: bool = False
    targets: list = field(default_factory=list)
    cuda: dict | None = None
    plots: list[str] = field(default_factory=list)
    problem: str = PROBLEM

    @property
    def contended(self) -> list[Row]:
        """Finished rows marked contended: timed on a busy machine (see :mod:`.contention`)."""
        return [r for r in self.rows if r.ok and r.contended]

    @property
    def timed(self) -> list[Row]:
        return [r for r in self.rows if r.ok]

    @property
    def publishable(self) -> bool:
        """Complete, and no row timed on a busy machine."""
        return self.complete and not self.contended

    def contended_by(self) -> dict[str, int]:
        """Rows marked contended per signal name (rows of runs before the signals: 'calibration moved')."""
        counts: dict[str, int] = {}
        for r in self.contended:
            for why in r.get("contended_by") or ["calibration moved"]:
                name = why.split(":")[0]
                counts[name] = counts.get(name, 0) + 1
        return counts

    def busy(self) -> str:
        """'k of m timed row(s) were timed on a busy machine (descheduled: j, load: i)'."""
        counts = ", ".join(f"{name}: {k}" for name, k in self.contended_by().items())
        return f"{len(self.contended)} of {len(self.timed)} timed row(s) were timed on a busy machine ({counts})"

    def reference(self) -> str:
        """The idle reference the calibration was held to, or why there was none."""
        ref = self.config.get("idle_reference") or {}
        if ref.get("calibration_s"):
            here = self.machine.get("calibration_s")
            now = f"; this run's {here * 1e3:.3g} ms" if here else ""
            return f"idle reference: calibration {ref['calibration_s'] * 1e3:.3g} ms from {ref['file']}{now}"
        return f"calibration not compared with an idle reference: {ref.get('why_not') or 'none recorded'}"

    def to_json(self) -> dict:
        out = {k: getattr(self, k) for k in ("machine", "config", "finished", "complete", "problem", "cuda", "plots")}
        out["targets"] = [t.to_json() for t in self.targets]
        out["contended_rows"] = len(self.contended)
        out["publishable"] = self.publishable
        return out | {"rows": [r.to_dict() for r in self.rows]}


def read_text(path_text: str, flag: str, accepted: str) -> str:
    """The text of a file given to ``flag``: a regular file of at most schema.MAX_BYTES, UTF-8;
    otherwise a GdTorchError '``flag`` FILE: must be ``accepted``...; got ...'."""
    from .._errors import GdTorchError, bad_value
    from .schema import MAX_BYTES

    path = Path(path_text)
    if not path.is_file():
        raise bad_value(flag, path_text, accepted)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise GdTorchError(f"{flag} {path_text}: must be {accepted}, at most {MAX_BYTES} bytes; got {size} bytes")
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GdTorchError(
            f"{flag} {path_text}: must be {accepted}, UTF-8 text; got {type(exc).__name__}: {exc}"
        ) from None


def parse_json(text: str) -> Any:
    """json.loads; nesting deeper than the parser's recursion limit is a ValueError too."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("values nested too deeply for the JSON parser") from None


def read_result(path_text: str, flag: str) -> tuple[dict, Rows]:
    """A result written by gd-torch bench (``<tag>.json``) and its rows, checked against
    :mod:`.schema`; anything else is refused with one GdTorchError naming ``flag`` and the file."""
    from .._errors import GdTorchError
    from .schema import check_result

    accepted = "an existing benchmark result (.json written by gd-torch bench)"
    text = read_text(path_text, flag, accepted)
    try:
        data = parse_json(text)
    except ValueError as exc:
        raise GdTorchError(f"{flag} {path_text}: must be {accepted}; got text that is not JSON ({exc})") from None
    try:
        check_result(data)
    except GdTorchError as exc:
        raise GdTorchError(f"{flag} {path_text}: {exc}") from None
    return data, Rows(Row.from_dict(r) for r in data["rows"])


def fmt_time(s: float | None) -> str:
    """Seconds as '17.6 us', '2.31 ms', '1.62 s'."""
    if s is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale or unit == "us":
            v = s / scale
            return f"{v:.3g} {unit}" if v < 1000 else f"{v:.0f} {unit}"
    return f"{s:.3g} s"  # pragma: no cover


def fmt_n(n: int) -> str:
    """1e4 for 10000; other counts as they are."""
    return f"1e{int(math.log10(n))}" if n >= 10_000 and 10 ** int(math.log10(n)) == n else str(n)
