"""The rules of docs/architecture.md, checked on the source: layers, who imports what, who writes.

Each rule is read from the code's syntax tree (no import runs), so a new module or a new import that
breaks one fails here with the file and line, before it can tangle the layers again.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "dcbench"
DOC = REPO / "docs" / "architecture.md"

# Bottom to top. A module may import modules of its own layer and of the layers below it, never above.
LAYERS: dict[str, list[str]] = {
    "foundation": ["version", "errors", "runtime", "files", "records", "profiles", "stats"],
    "contracts": ["architecture", "dataset", "condenser", "checkpoint", "schedule", "augment", "augment.mnist",
                  "augment.dsa", "recipe", "protocol", "study",
                  "interchange", "interchange.portable", "interchange.safe", "interchange.dc", "interchange.mtt",
                  "interchange.tensors", "interchange.folder"],
    "components": ["registry", "data"],
    "cells": ["artifacts", "reference", "classification", "cells", "protocol_cell", "imports", "tasks", "timing",
              "testing"],
    "storage": ["store", "events", "recorder"],
    "orchestration": ["grid", "grid.plan", "grid.scheduler", "grid.result", "runner", "runner.local",
                      "runner.ray", "runner.reaper"],
    "application": ["bench", "leaderboard", "protocol_board", "reproduce", "publish", "publish.html",
                    "publish.markdown", "publish.plot"],
    "interface": ["cli", "cli.display", "cli.options", "cli.tables"],
}
LEVEL = {module: level for level, modules in enumerate(LAYERS.values()) for module in modules}
STORE_WRITES = {"start_run", "finish_run", "put"}  # dcbench.store.Store's writing methods


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources(*roots: Path) -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(), str(path)) for root in roots for path in sorted(root.rglob("*.py"))
            if ".venv" not in path.parts}


def _imports(tree: ast.Module) -> list[tuple[str, int]]:
    """Every imported module name with its line, leaving out ``if TYPE_CHECKING:`` blocks."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(child) for child in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
    return found


def _internal(name: str) -> str | None:
    """``dcbench.grid.plan`` -> ``grid.plan``; the package itself -> ``""``; anything else -> None."""
    if name == "dcbench":
        return ""
    return name.removeprefix("dcbench.") if name.startswith("dcbench.") else None


SOURCES = _sources(PACKAGE)


def test_every_module_has_a_layer():
    modules = {_module(path) for path in SOURCES} - {""}
    assert modules - set(LEVEL) == set(), "place the new module in a layer of docs/architecture.md and LAYERS here"
    assert set(LEVEL) - modules == set(), "LAYERS names a module that no longer exists"


def test_the_layers_of_the_doc_are_the_layers_enforced_here():
    text = DOC.read_text()
    for layer, modules in LAYERS.items():
        assert f"**{layer}**" in text, layer
        for module in modules:
            assert f"`{module}`" in text, f"docs/architecture.md does not place `{module}`"


def test_no_module_imports_a_layer_above_its_own():
    wrong = []
    for path, tree in SOURCES.items():
        module = _module(path)
        for name, line in _imports(tree):
            target = _internal(name)
            if target is None or module == "":  # the package __init__ is the public facade over every layer
                continue
            if target == "":
                wrong.append(f"{path.relative_to(REPO)}:{line} imports the dcbench facade; import the module")
            elif LEVEL[_top(target)] > LEVEL[module]:
                wrong.append(f"{path.relative_to(REPO)}:{line}: {module} ({_layer(module)}) imports {target} "
                             f"({_layer(_top(target))})")
    assert not wrong, "\n".join(wrong)


def _top(target: str) -> str:
    """The module a dotted import names, as LAYERS lists it (``grid.plan.Skip`` is not a module, but fine)."""
    while target not in LEVEL and "." in target:
        target = target.rsplit(".", 1)[0]
    return target


def _layer(module: str) -> str:
    return list(LAYERS)[LEVEL[module]]


def test_the_facade_does_not_import_the_cli():
    imported = {_internal(name) for name, _ in _imports(SOURCES[PACKAGE / "__init__.py"])}
    assert not any(name and name.startswith("cli") for name in imported)


@pytest.mark.parametrize("library, allowed", [
    ("typer", "cli"), ("rich", "cli"),  # printing and parsing belong to the interface
    ("ray", "runner.ray"),  # --runner local works where Ray is not installed
    ("sqlite3", "store"), ("sqlite_utils", "store"),  # one module speaks SQL
])
def test_third_party_libraries_stay_in_their_module(library, allowed):
    wrong = [f"{path.relative_to(REPO)}:{line}" for path, tree in SOURCES.items()
             for name, line in _imports(tree)
             if name.split(".")[0] == library and not _module(path).startswith(allowed)]
    assert not wrong, f"{library} is imported outside dcbench.{allowed}: {wrong}"


def test_every_store_write_call_site_lives_in_the_recorder():
    """The store is written through dcbench.recorder alone (Bench's writer): in the framework and in
    every plugin, no other module calls a Store method that writes."""
    wrong = []
    for path, tree in {**SOURCES, **_sources(REPO / "plugins")}.items():
        if path == PACKAGE / "recorder.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in STORE_WRITES:
                wrong.append(f"{path.relative_to(REPO)}:{node.lineno} calls .{node.func.attr}()")
    assert not wrong, "\n".join(wrong)


def test_only_the_application_layer_opens_the_recorder():
    """Bench is the store's writer: the recorder is its tool, no other module's."""
    users = {_module(path) for path, tree in SOURCES.items()
             for name, _ in _imports(tree) if name == "dcbench.recorder"}
    assert users == {"bench"}, users


def test_nothing_outside_the_store_reaches_its_connection():
    """No way around the store's methods: its sqlite-utils database, its connection, its transactions."""
    wrong = []
    for path, tree in {**SOURCES, **_sources(REPO / "plugins")}.items():
        if path == PACKAGE / "store.py":
            continue
        for node in ast.walk(tree):
            reaches = isinstance(node, ast.Attribute) and node.attr in {"db", "conn", "_upsert", "_create_schema"}
            transaction = (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                           and node.func.attr == "write" and not node.args and not node.keywords)
            if reaches or transaction:
                wrong.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not wrong, wrong


def test_only_the_application_layer_opens_a_store_for_writing():
    """Opening a store for writing writes (WAL mode, the schema): only Bench does it; others read."""
    wrong = []
    for path, tree in SOURCES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Store":
                reads = any(k.arg == "write" and isinstance(k.value, ast.Constant) and k.value.value is False
                            for k in node.keywords)
                if not reads and _module(path) != "bench":
                    wrong.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not wrong, wrong


def test_the_store_writes_only_what_its_methods_say():
    """Store's own SQL writes sit in its write methods (and the schema's creation), nowhere else."""
    tree = SOURCES[PACKAGE / "store.py"]
    store = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Store")
    writers = {node.name for node in store.body if isinstance(node, ast.FunctionDef)
               and any(isinstance(n, ast.Attribute) and n.attr in {"upsert", "update", "insert"}
                       for n in ast.walk(node))}
    assert writers <= STORE_WRITES | {"_upsert", "_create_schema"}, writers


PUBLIC = {"dcbench", "dcbench.testing"}  # what a plugin, built-in or third-party, may import of dcbench


def test_plugins_import_only_the_public_api():
    """Built-in plugins and the toy distribution use dcbench as a third party would: the facade and
    the conformance checks, no private module."""
    wrong = [f"{path.relative_to(REPO)}:{line} imports {name}"
             for path, tree in {**_sources(REPO / "plugins"), **_sources(REPO / "tests" / "toy_plugin")}.items()
             for name, line in _imports(tree) if _internal(name) is not None and name not in PUBLIC]
    assert not wrong, "import these from dcbench (export them there if they are not):\n" + "\n".join(wrong)
