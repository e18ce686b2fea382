"""docs/plugins.md's examples, run as a third party would run them.

Plugin authors copy the guide's code, so an example that drifts from the API must fail here, not in
their hands. The blocks marked ``<!-- example: NAME -->`` become the package ``my_dc`` of an
installed-looking distribution (a ``*.dist-info`` folder whose entry_points.txt is the guide's
pyproject snippet) first on ``sys.path``: the components are then found by the real entry-point
discovery, as after ``pip install``, and put through ``dcbench.testing`` on tiny data.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
import tomllib
import types
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from dcbench import Bench, DataError, UserError, testing
from dcbench.protocol_board import protocol_views
from dcbench.registry import GROUPS, get_registry

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
DIST, VERSION = "my-dc", "0.1.0"  # what the guide says `dcbench plugins` shows as the origin
PACKAGE = "my_dc"
KINDS = {group: kind for kind, group in GROUPS.items()}
# The guide promises a complete example of each kind; losing one in an edit must fail, not shrink the test.
EXPECTED = {"entry-points", "condenser-selection", "condenser-synthesis", "network", "namespace", "dataset",
            "study", "protocol", "tests"}

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
MARKER = re.compile(r"<!-- example: ([\w-]+) -->\s*\Z")


@dataclass(frozen=True)
class Example:
    name: str
    lang: str
    code: str
    line: int  # line of the doc where the code starts, so tracebacks can point into the doc


def fences(text: str) -> list[tuple[str | None, str, str, int]]:
    """Every fenced block as (marker name or None, language, code, first code line)."""
    found = []
    for match in FENCE.finditer(text):
        marker = MARKER.search(text[:match.start()])
        found.append((marker.group(1) if marker else None, match.group(1), match.group(2),
                      text.count("\n", 0, match.start(2)) + 1))
    return found


def examples() -> dict[str, Example]:
    marked = [f for f in fences(DOC.read_text()) if f[0] is not None]
    names = [f[0] for f in marked]
    assert len(names) == len(set(names)), f"an example name is used twice in {DOC.name}: {names}"
    return {name: Example(name=name, lang=lang, code=code, line=line) for name, lang, code, line in marked}


def module_path(example: Example) -> str:
    """The file a Python example says it is (its first line, ``# my_dc/nets.py``)."""
    first = example.code.splitlines()[0]
    assert first.startswith("# ") and first.endswith(".py"), \
        f"example {example.name!r} must start with a comment naming its file, e.g. '# my_dc/nets.py'"
    return first[2:].strip()


def entry_points() -> dict[str, dict[str, str]]:
    """The guide's pyproject snippet: entry-point group → {name: target}."""
    return tomllib.loads(examples()["entry-points"].code)["project"]["entry-points"]


@pytest.fixture(scope="module")
def my_dc(tmp_path_factory):
    """The guide's package, installed for this module; its modules are forgotten afterwards so that
    nothing of it leaks into other tests."""
    site = tmp_path_factory.mktemp("site")
    for example in examples().values():
        if example.lang == "python" and module_path(example).startswith(f"{PACKAGE}/"):
            path = site / module_path(example)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(example.code)
    (site / PACKAGE / "__init__.py").write_text("")
    info = site / f"{DIST.replace('-', '_')}-{VERSION}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST}\nVersion: {VERSION}\n")
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in targets.items()) + "\n"
        for group, targets in entry_points().items()))
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(site))  # also invalidates the import system's folder caches
        yield site
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]
    importlib.invalidate_caches()


def test_every_python_block_is_a_marked_example():
    """Unmarked code would go untested, which is how the old guide came to have a network with a bare
    ``...`` body."""
    blocks = fences(DOC.read_text())
    unmarked = [line for marker, lang, _, line in blocks if lang == "python" and marker is None]
    assert not unmarked, f"{DOC.name}: Python blocks at lines {unmarked} have no <!-- example: NAME --> marker"
    assert set(examples()) == EXPECTED
    for example in examples().values():
        assert not re.search(r"^\s*\.\.\.\s*(#.*)?$", example.code, re.M), f"{example.name} has a '...' body"


def test_entry_points_cover_every_group_and_load_the_examples(my_dc):
    declared = entry_points()
    assert set(declared) == set(GROUPS.values()), "the guide's pyproject must show every entry-point group"
    reg = get_registry()
    for group, targets in declared.items():
        kind = KINDS[group]
        for name, target in targets.items():
            entry = reg.kinds[kind].entry(name)
            assert str(entry.origin) == f"{DIST} {VERSION}"
            module, _, attr = target.partition(":")
            assert reg.kinds[kind].get(name) is getattr(importlib.import_module(module), attr)
            if kind == "condenser":
                assert reg.condenser(name).spec.name == name  # the guide asks for the entry-point name


def test_condensers_pass_the_conformance_checks(my_dc):
    reg = get_registry()
    testing.check_condenser(reg.condenser("first_images"), overrides={"offset": 1})
    condensed = testing.check_condenser(reg.condenser("mean_descent"), overrides={"iterations": 2})
    assert condensed.images.shape == (6, 1, 8, 8)
    # The guide's advice for mistakes the user can fix: a UserError, not a failed cell.
    first_images = reg.condenser("first_images")
    with pytest.raises(UserError, match="class 0 has 10 images, fewer than offset"):
        first_images(first_images.make_config(None, {"offset": 9})).condense(
            testing.tiny_train_set(), ipc=2, generator=torch.Generator().manual_seed(0), device=torch.device("cpu"))


def test_networks_and_the_name_space_pass_the_conformance_checks(my_dc):
    reg = get_registry()
    testing.check_architecture(reg.architecture("tiny_convnet"))
    testing.check_architecture(reg.architecture("tiny_convnet_w64"), shapes=[(1, 8)])
    testing.check_architecture(reg.architecture("mlpw:48"), shapes=[(1, 8), (3, 8)])
    assert reg.select("architecture", "mlpw:*") == ["mlpw:16", "mlpw:32", "mlpw:64", "mlpw:128", "mlpw:256"]
    assert reg.select("architecture", "mlpw:1*") == ["mlpw:16", "mlpw:128"]
    chosen = reg.select("architecture", "all")  # the guide: variants and name spaces stay out of `all`
    assert "tiny_convnet" in chosen and "tiny_convnet_w64" not in chosen
    assert not any(name.startswith("mlpw:") for name in chosen)
    with pytest.raises(UserError, match="unknown architecture 'mlpw:0'"):
        reg.architecture("mlpw:0")


def test_data_set_passes_the_conformance_checks(my_dc, tmp_path):
    glyphs = get_registry().dataset("glyphs")
    with pytest.raises(DataError, match="train.pt, test.pt not found"):
        glyphs.load(tmp_path, download=False)
    from my_dc.data import write_split

    for split, n in (("train", 8), ("test", 4)):
        write_split(tmp_path / "glyphs", split, torch.randint(0, 256, (n, 1, 16, 16)), torch.arange(n) % 4)
    testing.check_dataset(glyphs, root=tmp_path)


def test_the_guides_study_is_reproduced(my_dc, tmp_path):
    from my_dc.data import write_split

    for split, n in (("train", 16), ("test", 8)):
        write_split(tmp_path / "data" / "glyphs", split, torch.randint(0, 256, (n, 1, 16, 16)), torch.arange(n) % 4)
    bench = Bench(results=tmp_path / "results", data_root=tmp_path / "data", device="cpu")
    rep = bench.reproduce("my_table", runner="local", evals=1)
    assert [c.cell.label for c in rep.cells] == ["first images · glyphs 1", "first images · glyphs 2",
                                                 "whole data · glyphs"]
    assert all(c.ours is not None and c.verdict in ("within", "below", "above") for c in rep.cells)


def test_the_guides_protocol_runs_in_a_grid(my_dc, tmp_path):
    from my_dc.data import write_split

    for split, n in (("train", 16), ("test", 8)):
        write_split(tmp_path / "data" / "glyphs", split, torch.randint(0, 256, (n, 1, 16, 16)), torch.arange(n) % 4)
    bench = Bench(results=tmp_path / "results", data_root=tmp_path / "data", device="cpu")
    result = bench.grid("first_images", dataset="glyphs", cls="tiny_convnet", evals=1, runner="local",
                        protocol="few_steps", overrides={"protocol.steps": 3})
    assert [(r.protocol, r.protocol_config, r.condenser) for r in result.done if r.table == "protocol_results"] == [
        ("few_steps", {"steps": 3, "lr": 0.01}, "first_images")]
    testing.check_protocol(get_registry().component("protocol", "few_steps").value, overrides={"steps": 3})
    [view] = protocol_views(bench.leaderboard().protocol_entries)
    assert view.title == "few_steps v1 · glyphs · ipc 1 · profile smoke" and "final_loss" in view.columns


def test_the_guides_own_tests_pass(my_dc, tmp_path):
    """The test module the guide shows authors is code they copy too."""
    example = examples()["tests"]
    module = types.ModuleType("test_my_dc")
    # Padding keeps the doc's line numbers in tracebacks.
    exec(compile("\n" * (example.line - 1) + example.code, str(DOC), "exec"), module.__dict__)
    tests = {name: fn for name, fn in vars(module).items() if name.startswith("test_") and callable(fn)}
    assert tests, "the guide's test module defines no test functions"
    for name, fn in tests.items():
        wanted = set(inspect.signature(fn).parameters)
        assert wanted <= {"tmp_path"}, f"{name} asks for fixtures this runner does not provide: {wanted}"
        folder = tmp_path / name
        folder.mkdir()
        fn(**{"tmp_path": folder} if wanted else {})


def test_the_guides_pyproject_is_a_whole_installable_file():
    """Authors copy the file as it is: it must build (a build system, a name and version, the
    package in the wheel), and be the distribution whose origin the guide says dcbench shows."""
    pyproject = tomllib.loads(examples()["entry-points"].code)
    assert pyproject["build-system"]["build-backend"] and pyproject["build-system"]["requires"]
    assert (pyproject["project"]["name"], pyproject["project"]["version"]) == (DIST, VERSION)
    assert "dcbench" in pyproject["project"]["dependencies"]
    assert pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == [PACKAGE]
