"""The import graph of polylogue/ has no cycle and points one way: down the
layers below (docs/architecture.md, "Layers"). Modules are parsed, never
imported, and an import inside a function counts like one at the top: a lazy
import is still a dependency.

Layers, lowest first; a module may import its own layer or lower ones:

0. errors, paths, textutil, fmt, models, classify, procs: leaves, no I/O
1. providers/* (formats) and store/* (SQLite), which never import each other
2. sources, resume, search
3. ingest, render/*, usage (reports), privacy (secrets, redaction), semantic (embeddings)
4. api (the library facade), export, watch and service (keeping an archive current), push, and the package itself
5. cli, clikit, commands/*, mcp_server, web/*, __main__: front ends
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "polylogue"

LAYERS: dict[str, int] = {
    "polylogue.errors": 0,
    "polylogue.paths": 0,
    "polylogue.textutil": 0,
    "polylogue.fmt": 0,
    "polylogue.models": 0,
    "polylogue.classify": 0,
    "polylogue.procs": 0,
    "polylogue.providers": 1,  # and every module under it (prefix rule below)
    "polylogue.store": 1,
    "polylogue.sources": 2,
    "polylogue.resume": 2,
    "polylogue.search": 2,
    "polylogue.ingest": 3,
    "polylogue.render": 3,
    "polylogue.usage": 3,
    "polylogue.prices": 3,
    "polylogue.privacy": 3,
    "polylogue.semantic": 3,
    "polylogue.api": 4,
    "polylogue.export": 4,
    "polylogue.watch": 4,
    "polylogue.service": 4,
    "polylogue.push": 4,
    "polylogue": 4,
    "polylogue.cli": 5,
    "polylogue.mcp_server": 5,
    "polylogue.clikit": 5,
    "polylogue.commands": 5,
    "polylogue.web": 5,
    "polylogue.__main__": 5,
}

# neighbours in one layer that must stay apart: providers never touch the database,
# the store never knows a format
APART = (("polylogue.store", "polylogue.providers"), ("polylogue.providers", "polylogue.store"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py")) if "__pycache__" not in p.parts}


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def layer_of(name: str) -> int | None:
    """The layer of the longest LAYERS entry that is the module or a package holding it."""
    best = max((k for k in LAYERS if _under(name, k)), key=len, default=None)
    return LAYERS[best] if best is not None else None


def imports(name: str, path: Path, known: set[str]) -> list[tuple[str, int]]:
    """(imported polylogue module, line) for every import statement in the module,
    at any depth (functions, conditionals, TYPE_CHECKING blocks)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if _under(a.name, "polylogue")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not _under(target, "polylogue"):
                continue
            for alias in node.names:  # `from . import codec` imports the module polylogue.store.codec
                sub = f"{target}.{alias.name}"
                out.append((sub if sub in known else target, node.lineno))
    return [(t, line) for t, line in out if t != name]


def graph() -> dict[str, list[tuple[str, int]]]:
    mods = _modules()
    known = set(mods)
    return {name: imports(name, path, known) for name, path in mods.items()}


def cycles(g: dict[str, list[tuple[str, int]]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in g:
        if root in index:
            continue
        work = [(root, iter(sorted({t for t, _ in g[root] if t in g})))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted({t for t, _ in g[w] if t in g}))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.append(w)
                        if w == v:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_every_module_has_a_layer():
    missing = [name for name in _modules() if layer_of(name) is None]
    assert not missing, f"give these modules a layer in LAYERS (and docs/architecture.md): {missing}"


def test_no_import_cycles():
    g = graph()
    problems = []
    for component in cycles(g):
        edges = [f"{a} -> {b} (line {line})" for a in component for b, line in g[a] if b in component]
        problems.append(" | ".join(edges))
    assert not problems, "import cycles:\n" + "\n".join(problems)


def test_imports_point_down_the_layers():
    upward = []
    for name, targets in graph().items():
        here = layer_of(name)
        for target, line in targets:
            there = layer_of(target)
            if here is not None and there is not None and there > here:
                upward.append(f"{name} (layer {here}) -> {target} (layer {there}), line {line}")
            for a, b in APART:
                if _under(name, a) and _under(target, b):
                    upward.append(f"{name} -> {target}, line {line}: {a} must not import {b}")
    assert not upward, "imports against the layers:\n" + "\n".join(sorted(set(upward)))


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from ..models import Message", ["polylogue.models"]),
        ("from . import codec", ["polylogue.store.codec"]),
        ("def f():\n    from ..search import parse", ["polylogue.search"]),
        ("import polylogue.store.db as db", ["polylogue.store.db"]),
        ("from .. import models as m", ["polylogue.models"]),
        ("import os\nfrom json import loads", []),
    ],
)
def test_the_graph_sees_every_kind_of_import(tmp_path, source, expected):
    """The checker itself: relative, nested and aliased imports all become edges
    (an import it could not see would be a dependency nobody checks)."""
    path = tmp_path / "writer.py"
    path.write_text(source)
    known = {"polylogue.models", "polylogue.store.codec", "polylogue.search", "polylogue.store.db"}
    assert [t for t, _ in imports("polylogue.store.writer", path, known)] == expected


def test_a_cycle_and_an_upward_import_are_caught():
    g = {
        "polylogue.store.a": [("polylogue.store.b", 1)],
        "polylogue.store.b": [("polylogue.store.a", 2)],
        "polylogue.errors": [],
    }
    assert cycles(g) == [["polylogue.store.a", "polylogue.store.b"]]
    assert layer_of("polylogue.store.a") == 1 and layer_of("polylogue.cli") == 5 and layer_of("polylogue") == 4


def test_the_web_app_reads_only_through_the_archive():
    """`polylogue serve` (polylogue/web/, commands/serve.py) imports nothing of the
    store and no database module, and holds no SQL: every page reads through an
    Archive (issue 23: "no SQL in the web layer")."""
    import re

    web = [n for n in _modules() if _under(n, "polylogue.web") or n == "polylogue.commands.serve"]
    assert "polylogue.web.pages" in web and "polylogue.web.app" in web
    sql = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE)\b[^\n]*\b(FROM|INTO|SET|WHERE)\b", re.I)
    problems = []
    for name in web:
        path = _modules()[name]
        for target, line in imports(name, path, set(_modules())):
            if _under(target, "polylogue.store") or _under(target, "polylogue.providers"):
                problems.append(f"{name} imports {target} (line {line})")
        text = path.read_text(encoding="utf-8")
        if re.search(r"^\s*(import|from)\s+(sqlite3|apsw)\b", text, re.M) or sql.search(text):
            problems.append(f"{name} holds SQL or opens a database")
    assert not problems, problems
