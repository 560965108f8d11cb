"""Load a user's object named on the command line as ``path/to/file.py:name``.

Used by ``--gradient``, ``--activation`` and ``--loss``: anything that cannot be loaded (no
such file, not a .py file, an error or a sys.exit while importing it, no such name, the wrong
kind of object) is one GdTorchError naming the flag, so the CLI prints one line and exits 2.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from ..._errors import GdTorchError, bad_value


def is_reference(text: str) -> bool:
    """True for 'file.py:name' (a user's object), False for a plain registered name."""
    return isinstance(text, str) and ".py:" in text


def load(reference: str, flag: str, kind: type | None = None, what: str = "a callable") -> Any:
    """The object ``name`` defined in ``file.py`` for ``reference`` = 'file.py:name'."""
    path_text, _, name = reference.rpartition(":")
    path = Path(path_text)
    if not path_text.endswith(".py") or not name.isidentifier():
        raise bad_value(flag, reference, "FILE.py:NAME, a Python file and the name of an object defined in it")
    if not path.is_file():
        raise bad_value(flag, reference, f"FILE.py:NAME with an existing file; {path_text!r} is not a file")
    module = _import(path, flag)
    if not hasattr(module, name):
        raise bad_value(flag, reference, f"FILE.py:NAME with NAME defined in {path_text!r}; it has no {name!r}")
    obj = getattr(module, name)
    ok = isinstance(obj, kind) if kind is not None else callable(obj)
    if not ok:
        raise bad_value(flag, reference, f"the name of {what} in {path_text!r}; {name!r} is {type(obj).__name__}")
    return obj


def _import(path: Path, flag: str) -> Any:
    # a module name of its own per file, so that two files called grad.py do not collide
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    mod_name = f"gd_torch_user_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise bad_value(flag, str(path), "a Python file that can be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # the user's file failed or exited: one line, the flag and why
        sys.modules.pop(mod_name, None)
        why = (
            f"the file exited with status {exc.code!r} while loading (sys.exit at import)"
            if isinstance(exc, SystemExit)
            else f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        )
        raise GdTorchError(f"{flag}: importing {str(path)!r} failed: {why}") from exc
    return module
