"""Pages in docs/ that cannot drift: their marked blocks are re-run and compared with what they show.

A page marks blocks ``<!-- run: ID -->``: a ```console block whose first line is
``$ gd-torch ARGS`` (its output follows in the same block), or a ```python block followed
by a ```text block with its output.  A test runs each one in-process, checks that the page
shows the same output up to the digits of numbers (``skeleton``), and asserts its own claim
on the real output.  ``update(page)`` rewrites the outputs in the page from real runs.

Python blocks run in a fresh namespace each, or (``shared=True``) in one namespace in page
order, for a page whose blocks build on each other.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

from gd_torch.base import files as _io

ROOT = Path(__file__).resolve().parent.parent

_BLOCK = re.compile(
    r"<!-- run: (?P<id>[\w-]+) -->\n"
    r"(?:```console\n\$ gd-torch (?P<args>[^\n]*)\n(?P<cout>.*?)```\n"
    r"|```python\n(?P<code>.*?)```\n(?:\n```text\n(?P<pout>.*?)```\n)?)",
    re.S,
)
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def blocks(text: str) -> list[re.Match]:
    return list(_BLOCK.finditer(text))


def run_block(m: re.Match, page: str, namespace: dict | None = None) -> str:
    """Run one block in-process (in ``namespace`` if given); return what it printed.

    A console block's exit status is appended as ``[exit status N]``.
    """
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        if m["args"] is not None:
            from gd_torch.cli.app import main

            rc = main(shlex.split(m["args"]))
        else:
            ns = {"__name__": "__docs__"} if namespace is None else namespace
            exec(compile(m["code"], f"{page}:{m['id']}", "exec"), ns)
    text = out.getvalue() + err.getvalue()
    return text + (f"[exit status {rc}]\n" if m["args"] is not None else "")


def run_page(path: Path, shared: bool = False) -> dict[str, str]:
    """Every block's output, by id, run in page order."""
    namespace = {"__name__": "__docs__"} if shared else None
    return {m["id"]: run_block(m, path.name, namespace) for m in blocks(path.read_text())}


def shown(m: re.Match) -> str:
    return m["cout"] if m["args"] is not None else (m["pout"] or "")


def skeleton(text: str) -> list[str]:
    """The output with every number masked and runs of spaces collapsed: wording and layout only."""
    return [" ".join(_NUMBER.sub("#", line).split()) for line in text.strip().splitlines()]


def update(path: Path, shared: bool = False) -> None:
    """Rewrite every block's output in the page from a real run."""
    text = path.read_text()
    outputs = run_page(path, shared)

    def fill(m: re.Match) -> str:
        out = outputs[m["id"]]
        if m["args"] is not None:
            return f"<!-- run: {m['id']} -->\n```console\n$ gd-torch {m['args']}\n{out}```\n"
        return f"<!-- run: {m['id']} -->\n```python\n{m['code']}```\n\n```text\n{out}```\n"

    _io.write_text(path, _BLOCK.sub(fill, text))


def floats(text: str) -> list[float]:
    """Every number in text, in order."""
    return [float(v) for v in _NUMBER.findall(text)]
