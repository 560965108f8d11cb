"""The package's shape, read from its source: folders are the layers, imports point one way.

Every import statement counts (module level, inside functions, under TYPE_CHECKING), relative
ones resolved against the importing module's package.  Each assertion lists what breaks it.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import numpy as np

import gd_torch

SOURCE = Path(gd_torch.__file__).parent
ROOT = "gd_torch"
#: at most this many .py files directly in gd_torch/ (__init__, __main__, the error type, ...)
MAX_ROOT_FILES = 6
#: layer -> the layers it must not import (a layer is a folder of gd_torch/)
FORBIDDEN: dict[str, set[str]] = {
    "base": {"model", "precision", "gradients", "verdict", "teach", "train", "data", "distributed", "bench", "cli"},
    "model": {"precision", "gradients", "verdict", "teach", "train", "data", "distributed", "bench", "cli"},
    "precision": {"gradients", "verdict", "teach", "train", "data", "distributed", "bench", "cli"},
    "gradients": {"verdict", "teach", "train", "bench", "cli"},
    "verdict": {"teach", "train", "bench", "cli"},
}
#: what ``import gd_torch`` and every package face must not load (each is imported on first use)
LAZY = ("torch", "matplotlib", "sklearn")


# ---- reading the source ---------------------------------------------------------------------


@cache
def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package under its own name, not '.__init__')."""
    out = {}
    for path in sorted(SOURCE.rglob("*.py")):
        parts = path.relative_to(SOURCE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


@cache
def tree(name: str) -> ast.Module:
    return ast.parse(modules()[name].read_text(encoding="utf-8"), filename=str(modules()[name]))


def is_package(name: str) -> bool:
    return modules()[name].name == "__init__.py"


def resolve(name: str, node: ast.ImportFrom) -> str:
    """The absolute module ``from ... import`` reads from, inside module ``name``."""
    if node.level == 0:
        return node.module or ""
    package = name.split(".") if is_package(name) else name.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported(name: str, source: ast.Module | None = None) -> Iterator[tuple[str, int]]:
    """(module of this package, line) for every import statement anywhere in module ``name``
    (or in ``source`` read as that module): ``from P import m`` counts as importing the
    submodule P.m where there is one, else P."""
    known = modules()
    for node in ast.walk(tree(name) if source is None else source):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            origin = resolve(name, node)
            targets = [f"{origin}.{a.name}" if f"{origin}.{a.name}" in known else origin for a in node.names]
        else:
            continue
        for t in dict.fromkeys(targets):
            if t in known and t != name:
                yield t, node.lineno


def graph() -> dict[str, set[str]]:
    """Module -> the modules of this package it imports."""
    return {m: {t for t, _ in imported(m)} for m in modules()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            if component:
                found.append(sorted([v, *component]))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)


def defined(name: str) -> set[str]:
    """The names module ``name`` binds at top level by def, class or assignment (not by import)."""
    out: set[str] = set()
    for node in _top_level(tree(name).body):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            out.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            out |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return out


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    # statements at module level, also inside top-level if/try blocks
    for node in body:
        yield node
        if isinstance(node, ast.If | ast.Try):
            for block in (node.body, node.orelse, getattr(node, "finalbody", []), *[h.body for h in getattr(node, "handlers", [])]):  # fmt: skip
                yield from _top_level(block)


def exported(name: str) -> list[str] | None:
    """The names module ``name`` lists in ``__all__`` (None when it has no ``__all__``)."""
    for node in _top_level(tree(name).body):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return list(ast.literal_eval(node.value))
    return None


def layer(name: str) -> str:
    """The folder of gd_torch/ a module lives in; a module directly in gd_torch/ is its own layer."""
    parts = name.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and is_package(name)) else name


def layer_graph() -> dict[str, set[str]]:
    """Layer -> the other layers its modules import."""
    edges: dict[str, set[str]] = {}
    for m, targets in graph().items():
        edges.setdefault(layer(m), set()).update(layer(t) for t in targets if layer(t) != layer(m))
    return edges


@cache
def fresh_import() -> dict:
    """In a new interpreter: import gd_torch and every package face, then report which of LAZY
    got loaded, every package attribute named like one of its submodules but not that module,
    and every name a face lists in ``__all__`` but does not have."""
    packages = [m for m in modules() if is_package(m)]
    submodules = {p: sorted(m.rpartition(".")[2] for m in modules() if m.rpartition(".")[0] == p) for p in packages}
    script = f"""
import importlib, json, sys
faces = {{p: importlib.import_module(p) for p in {packages!r}}}
loaded = [m for m in {LAZY!r} if m in sys.modules]
shadows = []
for p, subs in {submodules!r}.items():
    for s in subs:
        attr = vars(faces[p]).get(s)
        if attr is not None and attr is not sys.modules.get(p + "." + s):
            shadows.append(f"{{p}}.{{s}} is {{type(attr).__name__}} {{attr!r:.60}}, hiding module {{p}}.{{s}}")
missing = [f"{{p}}.{{n}}" for p, face in faces.items() for n in getattr(face, "__all__", []) if not hasattr(face, n)]
print(json.dumps({{"loaded": loaded, "shadows": shadows, "missing": missing}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


# ---- the rules --------------------------------------------------------------------------------


def test_no_import_cycles_counting_every_import_statement():
    found = cycles(graph())
    lines = [f"  {m}:{line} imports {t}" for c in found for m in c for t, line in imported(m) if t in c]
    assert not found, f"{len(found)} import cycle(s), the imports inside them:\n" + "\n".join(lines)


def test_imports_inside_functions_and_under_type_checking_count_and_resolve():
    source = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "from ..base import files\n"
        "from ..model.forward import delta\n"
        "if TYPE_CHECKING:\n    from .records import Stage\n"
        "def f():\n    from . import steps\n    import gd_torch.verdict.compare\n"
    )
    found = sorted(t for t, _ in imported("gd_torch.teach.ledger", source))
    assert found == [
        "gd_torch.base.files",
        "gd_torch.model.forward",
        "gd_torch.teach.records",
        "gd_torch.teach.steps",
        "gd_torch.verdict.compare",
    ]
    assert resolve("gd_torch.teach", ast.parse("from .records import Stage").body[0]) == "gd_torch.teach.records"


def test_the_cycle_finder_reports_each_cycle_once():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": {"d"}, "f": {"f", "a"}}
    assert cycles(edges) == [["a", "b", "c"], ["d", "e"]]


def test_the_root_holds_at_most_six_python_files():
    root = sorted(p.name for p in SOURCE.glob("*.py"))
    assert len(root) <= MAX_ROOT_FILES, f"{len(root)} .py files directly in gd_torch/: {root}"


def test_no_module_but_a_package_face_lists_in_all_a_name_it_does_not_define():
    facades = {}
    for m in modules():
        names = exported(m)
        if names is not None and not is_package(m):
            foreign = sorted(set(names) - defined(m))
            if foreign:
                facades[m] = foreign
    assert not facades, "__all__ lists names defined elsewhere (import them from their home):\n" + "\n".join(
        f"  {m}: {names}" for m, names in facades.items()
    )


def test_a_package_face_exports_only_names_of_its_own_package():
    foreign = []
    for m in modules():
        names = exported(m)
        if not is_package(m) or m == ROOT or names is None:
            continue
        own = defined(m) | {
            a.asname or a.name
            for node in _top_level(tree(m).body)
            if isinstance(node, ast.ImportFrom) and resolve(m, node).startswith(f"{m}.")
            for a in node.names
        }
        foreign += [f"  {m}: {n}" for n in names if n not in own]
    assert not foreign, "package faces exporting names of other packages (or of nothing):\n" + "\n".join(foreign)


def test_every_name_is_imported_from_its_home():
    # from M import n, where M is a module (not a package face) that neither defines n nor has
    # a submodule n: n reached through a module it only passes through (gd_torch, tests, benchmarks)
    users = {m: tree(m) for m in modules()}
    for path in [*sorted((SOURCE.parent / "tests").glob("*.py")), *sorted((SOURCE.parent / "benchmarks").glob("*.py"))]:
        users[str(path.relative_to(SOURCE.parent))] = ast.parse(path.read_text(encoding="utf-8"))
    homes = {n: m for m in modules() for n in defined(m)}
    passing = [
        f"  {user}:{node.lineno} imports {a.name} from {source} (its home: {homes.get(a.name, '?')})"
        for user, module in users.items()
        for node in ast.walk(module)
        if isinstance(node, ast.ImportFrom)
        and (source := resolve(user, node) if user in modules() else node.module or "") in modules()
        and not is_package(source)
        for a in node.names
        if a.name not in defined(source) and f"{source}.{a.name}" not in modules()
    ]
    assert not passing, "names imported through a module that is not their home:\n" + "\n".join(passing)


def test_every_layer_says_what_it_is_for_and_that_the_rest_is_internal():
    missing = []
    for m in modules():
        doc = ast.get_docstring(tree(m)) or ""
        if is_package(m) and m.count(".") == 1 and (len(doc.split()) < 8 or "internal" not in doc):
            missing.append(f"{m}: {doc[:60]!r}")
    assert not missing, "package __init__ docstrings without a purpose or the 'internal' line:\n" + "\n".join(missing)


def test_no_package_attribute_hides_a_submodule():
    shadows = fresh_import()["shadows"]
    assert not shadows, "public names hiding submodules:\n" + "\n".join(shadows)


def test_importing_gd_torch_and_the_package_faces_stays_lazy():
    loaded = fresh_import()["loaded"]
    assert not loaded, f"import gd_torch and the package faces loaded {loaded}: import them where they are used"


def test_every_name_a_face_lists_in_all_is_there():
    missing = fresh_import()["missing"]
    assert not missing, f"names listed in __all__ but absent: {missing}"


def test_lower_layers_do_not_import_higher_ones():
    wrong = [
        f"{m}:{line} imports {t}"
        for m in modules()
        for t, line in imported(m)
        if layer(t) in FORBIDDEN.get(layer(m), set())
    ]
    assert not wrong, "imports against the layer order (see docs/architecture.md):\n" + "\n".join(sorted(wrong))


def test_the_layers_import_each_other_one_way_only():
    # a cycle between folders is an import-order hazard even without a module cycle: a package
    # face that imports its modules would find the other package half initialised
    found = cycles(layer_graph())
    lines = [
        f"  {m}:{line} imports {t}"
        for c in found
        for m in modules()
        for t, line in imported(m)
        if layer(m) in c and layer(t) in c and layer(t) != layer(m)
    ]
    assert not found, f"layers importing each other: {found}; the imports between them:\n" + "\n".join(lines)


def test_the_architecture_page_names_every_layer_and_only_paths_that_exist():
    page = (SOURCE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`([\w/]+(?:\.py|/))`", page))
    absent = sorted(p for p in named if not (SOURCE / p).exists() and not (SOURCE.parent / p).exists())
    layers = sorted(f"{layer(m)}/" for m in modules() if is_package(m) and m.count(".") == 1)
    unnamed = [f for f in layers if f not in named]
    assert not absent and not unnamed, f"docs/architecture.md names missing paths {absent}; leaves out layers {unnamed}"


def test_check_and_check_function_return_one_report_type():
    X, y = gd_torch.tutorial_data()
    W = gd_torch.init_weights(X.shape[1], seed=0)
    one_neuron = gd_torch.check(W, X, y, methods=("analytic", "numeric"))
    x = np.array([0.5, -1.0, 2.0])
    any_function = gd_torch.check_function(lambda p: float(np.sum(p**3)), x, lambda p: 3 * p**2)
    a, b = type(one_neuron), type(any_function)
    assert a is b, f"check returns {a.__module__}.{a.__qualname__}, check_function {b.__module__}.{b.__qualname__}"
