"""Third-party plugins end to end: the toy distribution in tests/toy_plugin (pip-installed into the test
environment), dcbench.testing, broken plugins, and which version changes void stored results.

Broken plugins are written as installed-looking distributions (a package plus a ``*.dist-info``
folder with entry_points.txt) into a temporary folder put first on ``sys.path``: exactly what
``importlib.metadata`` finds after a pip install, with no install.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata as metadata
import json
import sqlite3
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
import torch
from helpers import run_main, table_rows
from torch import nn

from dcbench import Architecture, ArchSpec, Dataset, DatasetSpec, InstanceNorm, RawData, testing
from dcbench.cells import SynthCell
from dcbench.registry import PluginError, get_registry

TOY = Path(__file__).resolve().parent / "toy_plugin"
TOY_DIST = "dcbench-toy-plugin"
INSTALL = "pip install --no-build-isolation ./tests/toy_plugin"


@pytest.fixture(scope="module", autouse=True)
def toy_installed():
    """Every test here needs the toy distribution installed as it is in this checkout."""
    try:
        dist = metadata.distribution(TOY_DIST)
    except metadata.PackageNotFoundError:
        pytest.fail(f"the toy plugin distribution is not installed: run `{INSTALL}`")
    declared = tomllib.loads((TOY / "pyproject.toml").read_text())["project"]["version"]
    stale = [f.name for f in (TOY / "dcbench_toy").glob("*.py")
             if not (Path(str(dist.locate_file(f"dcbench_toy/{f.name}"))).is_file()
                     and Path(str(dist.locate_file(f"dcbench_toy/{f.name}"))).read_text() == f.read_text())]
    if dist.version != declared or stale:
        pytest.fail(f"the installed toy plugin ({dist.version}) differs from tests/toy_plugin ({declared}; "
                    f"changed: {', '.join(stale) or 'none'}): run `{INSTALL}` again")


def stored(results: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(results / "results.sqlite") as db:
        return db.execute(sql).fetchall()


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder first on ``sys.path`` to write distributions into; their modules are forgotten afterwards."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    written: set[str] = set()

    def add(name: str, version: str, entry_points: str, modules: dict[str, str] | None = None) -> None:
        for module, source in (modules or {}).items():
            (root / f"{module}.py").write_text(textwrap.dedent(source))
            written.add(module)
        info = root / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
        importlib.invalidate_caches()  # the path finder caches folder listings
        get_registry.cache_clear()

    yield add
    for module in written:
        sys.modules.pop(module, None)
    importlib.invalidate_caches()


GRID = ("grid", "--dataset", "toy_blobs", "--cls", "toy_mlp", "--evals", "1", "--runner", "local", "--device", "cpu")


# ---------------------------------------------------------------------------------------------
# The toy distribution


def test_toy_distribution_is_listed_with_its_distribution_and_version(monkeypatch, capsys):
    code, out, err = run_main(monkeypatch, capsys, "plugins")
    assert code == 0, err
    rows = table_rows(out)
    for name, kind in (("toy_mean", "condenser"), ("toy_mlp", "architecture"), ("toy_blobs", "dataset"),
                       ("toy_table", "study"), ("toy_nearest", "protocol")):
        assert rows[name][1:5] == [kind, "1", "dcbench-toy-plugin 0.1.0", "ok"], rows[name]
    assert rows["timm"][1:5] == ["architecture namespace", "—", "built-in", "ok"]
    assert "failed to load" not in err


def test_a_third_party_study_is_reproduced_like_a_shipped_one(tmp_path, monkeypatch, capsys):
    code, out, err = run_main(monkeypatch, capsys, "reproduce", "toy_table", "--runner", "local", "--device", "cpu",
                              "--evals", "1", "--results", str(tmp_path / "r"))
    assert code == 0, err
    assert all(text in out for text in ("Toy table", "blobs 1", "90.0 ± 5.0", "blobs 2", "95.0 ± 3.0"))
    assert "computed 4 cells now" in err  # two sets, one net each
    assert stored(tmp_path / "r", "SELECT DISTINCT third_party, status FROM evaluations") == [(1, "done")]
    # the published leaderboard gets a reproduction page of every study with a stored cell
    code, out, err = run_main(monkeypatch, capsys, "leaderboard", "publish", "--out", str(tmp_path / "site"),
                              "--results", str(tmp_path / "r"))
    assert code == 0, err
    page = (tmp_path / "site" / "reproduction.md").read_text()
    assert "Toy table: noisy class means on blobs · profile smoke" in page
    assert "| toy_mean | blobs 1 | 90.0 ± 5.0 |" in page
    assert "Table 1:" not in page  # studies with nothing stored are left out
    assert 'href="reproduction.html"' in (tmp_path / "site" / "index.html").read_text()
    assert "(reproduction.md)" in (tmp_path / "site" / "README.md").read_text()


def test_a_third_party_protocol_runs_in_a_grid_with_its_settings_keyed_and_its_own_section(tmp_path, monkeypatch,
                                                                                          capsys):
    results = str(tmp_path / "r")
    code, out, err = run_main(monkeypatch, capsys, *GRID, "-c", "toy_mean", "--ipc", "2", "--protocol", "toy_nearest",
                              "--set", "protocol.p=1", "--results", results)
    assert code == 0, err
    assert "toy_nearest v1 · toy_blobs · ipc 2 · profile smoke" in out and "vs untrained net" in out
    rows = stored(tmp_path / "r", "SELECT condenser, protocol, protocol_config, ipc FROM protocol_results "
                                  "ORDER BY condenser")
    assert rows == [("toy_mean", "toy_nearest", '{"p": 1}', 2), ("untrained net", "toy_nearest", '{"p": 1}', None)]
    code, out, err = run_main(monkeypatch, capsys, *GRID, "-c", "toy_mean", "--ipc", "2", "--protocol", "toy_nearest",
                              "--set", "protocol.p=2", "--results", results)
    assert code == 0 and len(stored(tmp_path / "r", "SELECT key FROM protocol_results")) == 4  # another config
    code, out, err = run_main(monkeypatch, capsys, *GRID, "-c", "toy_mean", "--ipc", "2", "--protocol", "toy_nearest",
                              "--set", "protocol.p=1", "--set", "noise=0.5", "--results", results)
    assert code == 0, err  # sets of another configuration of the condenser: their own row, named by what differs
    assert "toy_mean [noise=0.1]" in out and "toy_mean [noise=0.5]" in out
    code, out, err = run_main(monkeypatch, capsys, "check", "protocol", "toy_nearest")
    assert code == 0 and "passes all 5 checks" in out, out + err
    code, out, err = run_main(monkeypatch, capsys, "leaderboard", "publish", "--out", str(tmp_path / "site"),
                              "--results", results)
    assert code == 0, err
    page = (tmp_path / "site" / "README.md").read_text()
    assert "### toy_nearest v1 · toy_blobs · ipc 2 · p=1 · profile smoke" in page
    assert "toy_nearest" in (tmp_path / "site" / "protocols.csv").read_text()


def test_toy_components_pass_the_conformance_checks():
    reg = get_registry()
    condensed = testing.check_condenser(reg.condenser("toy_mean"), ipc=3)
    assert condensed.images.shape == (9, 1, 8, 8)
    testing.check_architecture(reg.architecture("toy_mlp"))
    testing.check_dataset(reg.dataset("toy_blobs"))
    testing.check_condenser(reg.condenser("random"))  # the selection path of the checks, on a built-in


def test_toy_condenser_runs_and_its_results_are_marked_third_party(tmp_path, monkeypatch, capsys):
    results = tmp_path / "synth"
    code, out, err = run_main(monkeypatch, capsys, "synth", "-c", "toy_mean", "--dataset", "toy_blobs", "--ipc", "2",
                              "--cls", "toy_mlp", "--evals", "1", "--device", "cpu", "--results", str(results))
    assert code == 0, err
    assert stored(results, "SELECT condenser_origin, third_party, status FROM condensations") == [
        ("dcbench-toy-plugin 0.1.0", 1, "done")]
    assert stored(results, "SELECT cls_net_origin, third_party, status FROM evaluations") == [
        ("dcbench-toy-plugin 0.1.0", 1, "done")]

    results = tmp_path / "grid"
    code, out, err = run_main(monkeypatch, capsys, *GRID, "-c", "toy_mean", "--ipc", "1,2", "--results", str(results))
    assert code == 0, err
    rows = stored(results,
                  "SELECT ipc, condenser_origin, third_party, status, versions FROM condensations ORDER BY ipc")
    assert [r[:4] for r in rows] == [(ipc, "dcbench-toy-plugin 0.1.0", 1, "done") for ipc in (1, 2)]
    assert all(json.loads(r[4])["dcbench-toy-plugin"] == "0.1.0" for r in rows)
    assert stored(results, "SELECT DISTINCT third_party, status FROM evaluations") == [(1, "done")]


# ---------------------------------------------------------------------------------------------
# The checks catch what they promise to catch


def test_conformance_checks_name_what_is_wrong():
    from dcbench_toy import ToyMean

    class Shortchanged(ToyMean):
        def condense(self, train, **kwargs):
            out = super().condense(train, **kwargs)
            return dataclasses.replace(out, images=out.images[1:], labels=out.labels[1:])

    class GlobalRandom(ToyMean):
        def condense(self, train, *, ipc, generator, **kwargs):
            unseeded = torch.Generator().manual_seed(int(torch.randint(2**31, ())))
            return super().condense(train, ipc=ipc, generator=unseeded, **kwargs)

    with pytest.raises(AssertionError, match=r"images have shape \(5, 1, 8, 8\), expected \(6, 1, 8, 8\)"):
        testing.check_condenser(Shortchanged)
    with pytest.raises(AssertionError, match="same generator seed gave different images"):
        testing.check_condenser(GlobalRandom)

    def keeps_batchnorm(*, in_chans, num_classes, img_size):
        return nn.Sequential(nn.Conv2d(in_chans, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Flatten(),
                             nn.Linear(4 * img_size * img_size, num_classes))

    def one_pixel(*, in_chans, num_classes, img_size):  # instance norm of a 1×1 map: constant output
        return nn.Sequential(nn.Conv2d(in_chans, 4, img_size), InstanceNorm(4), nn.Flatten(), nn.Linear(4, num_classes))

    with pytest.raises(AssertionError, match=r"classification variant, 1×8×8\) still has BatchNorm \(BatchNorm2d\)"):
        testing.check_architecture(Architecture(keeps_batchnorm, ArchSpec(family="bn", sizes=(8,))))
    with pytest.raises(AssertionError, match="different inputs give the same logits"):
        testing.check_architecture(Architecture(one_pixel, ArchSpec(family="flat", sizes=(8,))))

    def three_of_four_classes(root, download):
        images, labels = torch.rand(6, 1, 4, 4), torch.tensor([0, 1, 2, 0, 1, 2])
        return RawData(images, labels, images, labels)

    with pytest.raises(AssertionError, match=r"missing train split: classes \[3\] have no image"):
        testing.check_dataset(Dataset(DatasetSpec(name="missing", channels=1, size=4, classes=4),
                                      three_of_four_classes))


# ---------------------------------------------------------------------------------------------
# Broken plugins: named, isolated, and recorded where they ran

BROKEN_ENTRY_POINTS = """
    [dcbench.condensers]
    import_fails = broken_import:Condenser
    no_condense = broken_shape:NoCondense
    wrong_count = broken_count:WrongCount
    crashes = broken_crash:Crashes
"""
TOY_BASED = """
    from dataclasses import dataclass

    import dcbench


    class {name}(dcbench.CondenserBase):
        spec = dcbench.CondenserSpec(name="{entry}", kind="synthesis", version=1, needs_network=False)

        @dataclass(frozen=True)
        class Config:
            pass

        def condense(self, train, *, ipc, generator, device, model_factory=None, report=None):
            {body}
"""
BROKEN_MODULES = {
    "broken_import": "import a_module_that_does_not_exist\n",
    "broken_shape": """
        from dataclasses import dataclass

        import dcbench


        class NoCondense:
            spec = dcbench.CondenserSpec(name="no_condense", kind="synthesis", version=1, needs_network=False)

            @dataclass(frozen=True)
            class Config:
                pass
    """,
    # one image too many per class
    "broken_count": TOY_BASED.format(name="WrongCount", entry="wrong_count", body=(
        "return dcbench.CondensedSet(train.images[:train.spec.classes * (ipc + 1)], "
        "train.labels[:train.spec.classes * (ipc + 1)])")),
    "broken_crash": TOY_BASED.format(name="Crashes", entry="crashes", body=(
        "report(1, total=2)\n            raise RuntimeError('toy failure half-way')")),
}


def test_broken_plugins_are_named_and_do_not_take_the_others_down(site, tmp_path, monkeypatch, capsys):
    site("dcbench-broken-plugins", "0.3", BROKEN_ENTRY_POINTS, BROKEN_MODULES)

    code, out, err = run_main(monkeypatch, capsys, "plugins")
    assert code == 0, err
    rows = table_rows(out)
    assert rows["import_fails"][3] == "dcbench-broken-plugins 0.3"
    assert "'import_fails'" in rows["import_fails"][4] and "a_module_that_does_not_exist" in rows["import_fails"][4]
    assert "'no_condense'" in rows["no_condense"][4] and "lacks a `condense` method" in rows["no_condense"][4]
    assert rows["wrong_count"][4] == rows["crashes"][4] == rows["toy_mean"][4] == rows["random"][4] == "ok"
    assert "2 plugin(s) failed to load; the others work" in err

    for name, phrase in (("import_fails", "ModuleNotFoundError"), ("no_condense", "lacks a `condense` method")):
        with pytest.raises(PluginError, match=phrase):
            get_registry().condenser(name)
        # In a grid it is left out with its error; the rest of the grid runs.
        code, out, err = run_main(monkeypatch, capsys, *GRID, "-c", f"toy_mean,{name}",
                                  "--results", str(tmp_path / name))
        assert code == 1, err
        text = " ".join(err.split())
        assert f"condenser '{name}' (dcbench-broken-plugins 0.3" in text and phrase in text, err
        assert f"left out because their plugin failed to load: condenser {name}" in text
        assert sorted(stored(tmp_path / name, "SELECT condenser, status FROM condensations")) == [
            (name, "failed"), ("toy_mean", "done")]  # the failure is in the store too

    results = tmp_path / "results"
    code, out, err = run_main(monkeypatch, capsys, *GRID, "-c", "wrong_count,toy_mean,crashes",
                              "--results", str(results))
    assert code == 1, err
    assert "2 cell(s) of this grid failed" in err
    rows = {r[0]: r[1:] for r in stored(results, "SELECT condenser, status, error, third_party FROM condensations")}
    assert rows["toy_mean"] == ("done", None, 1)
    status, error, third_party = rows["wrong_count"]
    assert (status, third_party) == ("failed", 1)
    assert "images have shape (8, 1, 8, 8), expected (4, 1, 8, 8)" in error
    status, error, third_party = rows["crashes"]
    assert (status, third_party) == ("failed", 1)
    assert error.startswith("RuntimeError: toy failure half-way (at broken_crash.py:")
    for name in ("wrong_count", "crashes"):
        assert name in err  # each failure is named as it happens
    assert stored(results, "SELECT condenser, status FROM evaluations") == [("toy_mean", "done")]


# ---------------------------------------------------------------------------------------------
# What voids stored results: the spec version, not the distribution version


def test_spec_version_is_part_of_the_key_and_distribution_version_is_not(site, tmp_path, monkeypatch, capsys):
    from dcbench_toy import ToyMean

    cell = SynthCell(condenser="toy_mean", dataset="toy_blobs", ipc=1, seed=0, profile="smoke")
    results = tmp_path / "results"
    grid = (*GRID, "-c", "toy_mean", "--results", str(results))
    code, out, err = run_main(monkeypatch, capsys, *grid)
    assert code == 0, err
    first = cell.bind().key

    # A release 0.2.0 that changes nothing: same key, and running the grid again computes nothing.
    site(TOY_DIST, "0.2.0", metadata.distribution(TOY_DIST).read_text("entry_points.txt"))
    assert str(get_registry().condensers.entry("toy_mean").origin) == "dcbench-toy-plugin 0.2.0"
    assert cell.bind().key == first
    code, out, err = run_main(monkeypatch, capsys, *grid)
    assert code == 0, err
    assert "nothing to compute" in err
    assert stored(results, "SELECT key, condenser_origin FROM condensations") == [(first, "dcbench-toy-plugin 0.1.0")]

    # Outputs changed, so the author bumps spec.version: a new key, computed again.
    monkeypatch.setattr(ToyMean, "spec", dataclasses.replace(ToyMean.spec, version=2))
    bumped = cell.bind().key
    assert bumped != first
    code, out, err = run_main(monkeypatch, capsys, *grid)
    assert code == 0, err
    assert stored(results,
                  "SELECT key, condenser_version, condenser_origin FROM condensations ORDER BY condenser_version"
                  ) == [(first, 1, "dcbench-toy-plugin 0.1.0"), (bumped, 2, "dcbench-toy-plugin 0.2.0")]


# ---------------------------------------------------------------------------------------------
# Declared hooks, `dcbench check`, and listings for scripts

MISDECLARED = {
    "misdeclared": TOY_BASED.format(name="Misdeclared", entry="misdeclared", body="raise NotImplementedError").replace(
        'needs_network=False)', 'needs_network=False, resumable=True)'),
}


def test_a_misdeclared_hook_makes_a_broken_plugin_named_with_the_reason(site, monkeypatch, capsys):
    site("dcbench-misdeclared", "0.2", "[dcbench.condensers]\nmisdeclared = misdeclared:Misdeclared\n", MISDECLARED)
    code, out, err = run_main(monkeypatch, capsys, "plugins")
    assert code == 0, err
    status = " ".join(table_rows(out)["misdeclared"][4].split())
    assert "breaks the condenser contract" in status
    assert "spec.resumable is True but condense() takes no `checkpoint` argument" in status
    assert table_rows(out)["toy_mean"][4] == "ok"  # the toy declares the hook it uses
    assert get_registry().condenser("toy_mean").spec.details == ("class_sizes",)

    code, out, err = run_main(monkeypatch, capsys, "check", "condenser", "misdeclared")
    assert code == 1
    assert "✗ loads" in out and "condense() takes no `checkpoint`" in " ".join(out.split())
    assert "condenser 'misdeclared' failed the check 'loads'" in err


def test_check_exits_0_when_every_check_passes_and_1_naming_the_failed_one(site, monkeypatch, capsys):
    code, out, err = run_main(monkeypatch, capsys, "check", "condenser", "random")
    assert code == 0, err
    assert [line.split(" ", 1)[1] for line in out.splitlines()[:5]] == [
        "loads", "contract", "configuration", "condensed set", "determinism"]
    assert "condenser 'random' passes all 5 checks" in out
    code, out, err = run_main(monkeypatch, capsys, "check", "architecture", "toy_mlp")
    assert code == 0, err
    code, out, err = run_main(monkeypatch, capsys, "check", "dataset", "toy_blobs")
    assert code == 0, err

    site("dcbench-broken-plugins", "0.3", BROKEN_ENTRY_POINTS, BROKEN_MODULES)
    code, out, err = run_main(monkeypatch, capsys, "check", "condenser", "wrong_count")
    assert code == 1
    assert "✗ condensed set: wrong_count: images have shape (9, 1, 8, 8), expected (6, 1, 8, 8)" in out
    assert "determinism" not in out  # later checks rely on the failed one
    assert "condenser 'wrong_count' failed the check 'condensed set'" in err
    code, out, err = run_main(monkeypatch, capsys, "check", "condenser", "crashes")
    assert code == 1 and "✗ condensed set: raised RuntimeError: toy failure half-way" in out

    code, _, err = run_main(monkeypatch, capsys, "check", "condenser", "wrong_cont")
    assert code == 2 and "did you mean wrong_count" in err
    code, _, err = run_main(monkeypatch, capsys, "check", "network", "toy_mlp")
    assert code == 2 and "choose condenser, architecture, dataset or protocol" in err


def test_listings_print_json_and_full_names_when_piped(site, monkeypatch, capsys):
    site("dcbench-broken-plugins", "0.3", BROKEN_ENTRY_POINTS, BROKEN_MODULES)
    code, out, _ = run_main(monkeypatch, capsys, "plugins", "--json")
    assert code == 0
    rows = {(r["kind"], r["name"]): r for r in json.loads(out)}
    assert rows[("condenser", "dataset_distillation")]["aliases"] == ["dd"]
    assert rows[("condenser", "gradient_matching")]["hooks"] == [
        "resumable", "iteration_field", "implementations", "details"]
    assert rows[("condenser", "toy_mean")]["origin"] == "dcbench-toy-plugin 0.1.0"
    assert not rows[("condenser", "import_fails")]["ok"] and "ModuleNotFoundError" in rows[
        ("condenser", "import_fails")]["error"]

    code, out, _ = run_main(monkeypatch, capsys, "list", "condensers", "--json")
    listed = json.loads(out)
    assert code == 0 and isinstance(listed, list)
    assert "gradient_matching" in [r["name"] for r in listed] and all(r["kind"] == "condenser" for r in listed)
    code, out, _ = run_main(monkeypatch, capsys, "list", "profiles", "--json")
    assert {p["name"]: p["paper_budgets"] for p in json.loads(out)} == {"paper": True, "cpu": False, "smoke": False}

    # Piped (as here: not a terminal), a table keeps every name and description whole on one line.
    code, out, _ = run_main(monkeypatch, capsys, "list", "architectures", "timm:efficientnet_b0")
    description = get_registry().architecture("timm:efficientnet_b0").spec.description
    assert code == 0 and any("timm:efficientnet_b0" in line and description in line for line in out.splitlines())
    code, out, _ = run_main(monkeypatch, capsys, "plugins")
    assert any("dataset_distillation" in line and "condenser" in line for line in out.splitlines())
