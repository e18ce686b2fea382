"""The component registry: registry.yaml, entry points of installed distributions, selectors, errors.

Third-party plugins are real (if tiny) distributions written into a temporary folder put on
``sys.path``: a package plus a ``*.dist-info`` folder with METADATA and entry_points.txt, which is
exactly what ``importlib.metadata`` finds for a pip-installed plugin. No network, no install.
"""

from __future__ import annotations

import importlib
import importlib.resources
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from helpers import run_main, table_rows
from typer.testing import CliRunner

import dcbench
from dcbench.cli import app
from dcbench.errors import RegistryError, UserError
from dcbench.registry import PluginError, Registry, get_registry, load_registry, registry_path

REPO = Path(__file__).resolve().parents[1]
REGISTRY_YAML = REPO / "registry.yaml"
PAPER_NETS = ["mlp", "convnet", "lenet", "alexnet", "vgg11", "resnet18"]
ALL_NETS = {"mlp", "convnet", "lenet", "alexnet", "alexcifarnet", "vgg11", "resnet18"}

# A minimal valid third-party condenser: the first ipc training images of every class.
TOY_SOURCE = '''
from dataclasses import dataclass

import torch

import dcbench


class Toy(dcbench.SelectionCondenser):
    spec = dcbench.CondenserSpec(name="toy", kind="selection", version=3, needs_network=False)

    @dataclass(frozen=True)
    class Config:
        pass

    def select(self, train, *, ipc, generator, device, model_factory, report):
        return torch.cat([train.class_indices(c)[:ipc] for c in range(train.spec.classes)])
'''

MINIMAL_PROFILE = {"iterations": 1, "runs": 1, "evals": 1, "cls_epochs": 1, "cls_epochs_aug": 1, "whole_epochs": 1}


# ---------------------------------------------------------------------------------------------
# Fixtures and helpers


@pytest.fixture
def fresh_registry(monkeypatch):
    """A process registry rebuilt from scratch, and rebuilt again afterwards for the next test."""
    monkeypatch.delenv("DCBENCH_REGISTRY", raising=False)
    get_registry.cache_clear()
    yield
    get_registry.cache_clear()


class FakeSite:
    """A folder on ``sys.path`` into which tests write installed-looking distributions."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.modules: set[str] = set()

    def add(self, name: str, version: str, entry_points: dict[str, dict[str, str]],
            modules: dict[str, str] | None = None) -> None:
        for module, source in (modules or {}).items():
            package = self.root / module
            package.mkdir()
            (package / "__init__.py").write_text(textwrap.dedent(source))
            self.modules.add(module)
        info = self.root / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        sections = []
        for group, entries in entry_points.items():
            sections.append(f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items()))
        (info / "entry_points.txt").write_text("\n".join(sections))
        importlib.invalidate_caches()  # the metadata finder caches folder listings
        get_registry.cache_clear()


@pytest.fixture
def site(tmp_path, monkeypatch, fresh_registry):
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    fake = FakeSite(root)
    yield fake
    for module in list(sys.modules):
        if module.split(".")[0] in fake.modules:
            del sys.modules[module]
    importlib.invalidate_caches()


def invoke(*args: str, **env: str):
    """``dcbench ARGS`` through typer's test runner, wide enough that table rows stay on one line."""
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "400", **env})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def write_registry(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def minimal_config(**changes) -> dict:
    config = {"schema": 1, "condensers": {"random": "dcbench_coresets:RandomCondenser"},
              "profiles": {"smoke": dict(MINIMAL_PROFILE)}}
    config.update(changes)
    return config


def assert_registry_error(path: Path, *phrases: str) -> str:
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    message = str(caught.value)
    assert "\n" not in message
    for phrase in phrases:
        assert phrase in message, message
    return message


# ---------------------------------------------------------------------------------------------
# 1. The built-in registry and selectors


def test_every_builtin_name_in_registry_yaml_resolves(fresh_registry):
    config = yaml.safe_load(REGISTRY_YAML.read_text())
    reg = get_registry()
    assert reg.where == str(REGISTRY_YAML)
    for section, kinds in (("condensers", reg.condensers), ("architectures", reg.architectures),
                           ("datasets", reg.datasets)):
        assert set(config[section]) <= set(kinds.names()), section
        for name in config[section]:
            component = kinds.get(name)
            assert component is kinds.get(name)  # imported once
            assert kinds.entry(name).origin.builtin
            assert str(kinds.entry(name).origin) == "built-in"
            if section != "architectures":  # condenser and data-set specs carry their registered name
                assert component.spec.name == name


def test_all_means_every_network_that_is_not_a_variant(fresh_registry):
    reg = get_registry()
    chosen = reg.select("architecture", "all")
    assert ALL_NETS <= set(chosen)
    assert not {"convnet_d4", "convnet_w64", "convnet_bn", "convnet_mp", "vgg11_bn", "resnet18_bn",
                "alexnet_bn"} & set(chosen)
    assert not [n for n in chosen if n.endswith("_bn")]
    for name in reg.architectures.names():  # exactly the non-variants
        assert (name in chosen) == (reg.architecture(name).spec.variant_of is None), name
    assert len(chosen) == len(set(chosen))


def test_selectors_suites_globs_lists_and_dedup(fresh_registry):
    reg = get_registry()
    assert reg.select("architecture", "@paper") == PAPER_NETS
    assert reg.select("architecture", "convnet_w*") == ["convnet_w256", "convnet_w32", "convnet_w64"]
    assert reg.select("architecture", "mlp, lenet") == ["mlp", "lenet"]
    assert reg.select("architecture", "mlp,convnet,mlp") == ["mlp", "convnet"]
    assert reg.select("architecture", "convnet,@paper,convnet_w6?") == [
        "convnet", "mlp", "lenet", "alexnet", "vgg11", "resnet18", "convnet_w64"]
    assert reg.select("architecture", "@convnet_depth") == ["convnet_d1", "convnet_d2", "convnet", "convnet_d4"]
    assert reg.select("condenser", "all") == reg.condensers.names()
    assert "random" in reg.select("condenser", "all")
    assert set(reg.select("dataset", "all")) >= {"digits", "mnist", "fashion_mnist", "svhn", "cifar10",
                                                 "cifar100", "usps"}


@pytest.mark.parametrize("selector, phrase", [
    ("@nosuch", "suite 'nosuch'"),
    ("zzz*", "no architecture matches 'zzz*'"),
    ("convnett", "unknown architecture 'convnett'"),
    ("mlp,nosuchnet", "nosuchnet"),
    ("", "selects nothing"),
    (" , ", "selects nothing"),
])
def test_bad_selectors_are_registry_errors(fresh_registry, selector, phrase):
    with pytest.raises(RegistryError) as caught:
        get_registry().select("architecture", selector)
    assert phrase in str(caught.value)
    assert isinstance(caught.value, UserError)


def test_lenient_selection_collects_the_parts_that_name_nothing(fresh_registry):
    reg = get_registry()
    unknown: list = []
    assert reg.select("architecture", "mlp,convnett,@nosuch,zzz*,lenet", unknown=unknown) == ["mlp", "lenet"]
    assert [part for part, _ in unknown] == ["convnett", "@nosuch", "zzz*"]
    assert all(isinstance(exc, RegistryError) for _, exc in unknown)
    assert "did you mean convnet" in str(unknown[0][1])
    # a selector left with nothing still raises, with its first part's error, and adds nothing
    more: list = []
    with pytest.raises(RegistryError, match="'convnett'"):
        reg.select("architecture", "convnett,zzz*", unknown=more)
    assert more == []


# ---------------------------------------------------------------------------------------------
# 2. Unknown names suggest close matches


@pytest.mark.parametrize("kind, typo, suggestion", [
    ("condenser", "randm", "random"),
    ("dataset", "minst", "mnist"),
    ("architecture", "convnett", "convnet"),
])
def test_unknown_names_suggest_close_matches(fresh_registry, kind, typo, suggestion):
    kinds = get_registry().kinds[kind]
    with pytest.raises(RegistryError) as caught:
        kinds.canonical(typo)
    message = str(caught.value)
    assert f"'{typo}'" in message
    assert "did you mean" in message
    assert suggestion in message.split("did you mean", 1)[1].replace(",", " ").replace("?", " ").split()
    with pytest.raises(RegistryError):
        kinds.get(typo)


def test_unknown_name_without_close_match_points_to_list(fresh_registry):
    with pytest.raises(RegistryError, match="dcbench list condensers"):
        get_registry().condensers.canonical("qqqqqqqq")
    with pytest.raises(RegistryError, match="profile 'fast'"):
        get_registry().profile("fast")


# ---------------------------------------------------------------------------------------------
# 3. A third-party plugin from an installed distribution


def test_entry_point_of_a_fake_distribution_is_registered_and_runs(site, tmp_path, monkeypatch, capsys):
    site.add("toyplug", "0.4", {"dcbench.condensers": {"toy": "toyplug:Toy"}}, {"toyplug": TOY_SOURCE})
    reg = get_registry()
    entry = reg.condensers.entry("toy")
    assert entry.origin.distribution == "toyplug"
    assert entry.origin.version == "0.4"
    assert not entry.origin.builtin
    assert str(entry.origin) == "toyplug 0.4"
    assert entry.origin.to_json() == {"distribution": "toyplug", "version": "0.4", "third_party": True}
    toy = reg.condenser("toy")
    assert toy is sys.modules["toyplug"].Toy
    assert toy.spec.version == 3
    assert "toy" in reg.select("condenser", "all")
    assert reg.condensers.entry("random").origin.builtin  # the built-ins are still there

    # It condenses through the framework like a built-in...
    from dcbench.data import load_dataset
    from dcbench.runtime import generator

    data = load_dataset("digits", root=tmp_path / "data")
    condensed = toy(toy.make_config()).condense(data.train, ipc=2, generator=generator(0), device="cpu")
    assert condensed.indices.tolist() == [i for c in range(10) for i in data.train.class_indices(c)[:2].tolist()]

    # ...and a stored result records the plugin's version and distribution (docs/plugins.md, "Versions and cache keys").
    results = tmp_path / "results"
    code, out, err = run_main(monkeypatch, capsys, "synth", "-c", "toy", "--ipc", "1", "--results", str(results),
                              "--data-root", str(tmp_path / "data"), "--device", "cpu")
    assert code == 0, err
    with sqlite3.connect(results / "results.sqlite") as db:
        origin, third_party, versions = db.execute(
            "SELECT condenser_origin, third_party, versions FROM condensations WHERE condenser = 'toy'").fetchone()
    assert (origin, third_party) == ("toyplug 0.4", 1)
    assert '"toyplug": "0.4"' in versions


def test_plugins_command_lists_the_fake_distribution(site):
    site.add("toyplug", "0.4", {"dcbench.condensers": {"toy": "toyplug:Toy"}}, {"toyplug": TOY_SOURCE})
    result = invoke("plugins")
    assert result.exit_code == 0, result.output
    rows = table_rows(result.stdout)
    assert rows["toy"][1:5] == ["condenser", "3", "toyplug 0.4", "ok"]
    assert rows["random"][1:5] == ["condenser", "1", "built-in", "ok"]

    listed = table_rows(invoke("list", "condensers").stdout)
    assert listed["toy"][1] == "3"
    assert listed["toy"][3] == "toyplug 0.4"


def test_plugins_command_in_a_subprocess_sees_the_distribution(site):
    """The real entry-point discovery of a fresh interpreter, with the plugin found via PYTHONPATH."""
    site.add("toyplug", "0.4", {"dcbench.condensers": {"toy": "toyplug:Toy"}}, {"toyplug": TOY_SOURCE})
    pythonpath = [str(site.root), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(pythonpath), "COLUMNS": "400"}
    env.pop("DCBENCH_REGISTRY", None)
    proc = subprocess.run([sys.executable, "-c", "from dcbench.cli import main; main()", "plugins"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert table_rows(proc.stdout)["toy"][1:5] == ["condenser", "3", "toyplug 0.4", "ok"]


# ---------------------------------------------------------------------------------------------
# 4. Broken plugins are reported by name and do not take the others down


def test_plugin_that_fails_to_import_is_reported_and_isolated(site):
    site.add("brokenplug", "1.2", {"dcbench.condensers": {"broken": "brokenplug:Broken"}},
             {"brokenplug": "import does_not_exist\n"})
    reg = get_registry()  # building the registry imports nothing
    assert "broken" in reg.condensers
    with pytest.raises(PluginError) as caught:
        reg.condenser("broken")
    message = str(caught.value)
    assert "'broken'" in message
    assert "brokenplug 1.2" in message
    assert "does_not_exist" in message
    assert "\n" not in message
    assert isinstance(caught.value, UserError)
    assert reg.condenser("random").spec.name == "random"  # the others still load

    result = invoke("plugins")
    assert result.exit_code == 0, result.output
    rows = table_rows(result.stdout)
    assert rows["broken"][1] == "condenser"
    assert rows["broken"][3] == "brokenplug 1.2"
    assert "failed to load" in rows["broken"][4] and "does_not_exist" in rows["broken"][4]
    config = yaml.safe_load(REGISTRY_YAML.read_text())
    for section in ("condensers", "architectures", "datasets"):
        for name in config[section]:
            assert rows[name][4] == "ok", rows[name]
    assert "1 plugin(s) failed to load" in result.stderr

    listed = invoke("list", "condensers")
    assert listed.exit_code == 0
    rows = table_rows(listed.stdout)
    assert rows["random"][1] == "1"
    assert rows["broken"][1] == "?"


def test_plugin_class_without_condense_is_refused(site):
    source = '''
    from dataclasses import dataclass

    import dcbench


    class NoCondense:
        spec = dcbench.CondenserSpec(name="lazy", kind="selection", version=1, needs_network=False)

        @dataclass(frozen=True)
        class Config:
            pass
    '''
    site.add("lazyplug", "0.1", {"dcbench.condensers": {"lazy": "lazyplug:NoCondense"}}, {"lazyplug": source})
    with pytest.raises(PluginError) as caught:
        get_registry().condenser("lazy")
    assert "condense" in str(caught.value)
    assert "lazyplug 0.1" in str(caught.value)


def test_plugin_attribute_missing_and_wrong_contract(site):
    site.add("oddplug", "2.0", {
        "dcbench.condensers": {"ghost": "oddplug:Ghost", "notaclass": "oddplug:make"},
        "dcbench.datasets": {"nodata": "oddplug:make"},
        "dcbench.architectures": {"nonet": "oddplug:make"},
    }, {"oddplug": "def make():\n    return None\n"})
    reg = get_registry()
    with pytest.raises(PluginError, match="ghost.*AttributeError"):
        reg.condenser("ghost")
    with pytest.raises(PluginError, match="not a class"):
        reg.condenser("notaclass")
    with pytest.raises(PluginError, match="DatasetSpec"):
        reg.dataset("nodata")
    with pytest.raises(PluginError, match="ArchSpec"):
        reg.architecture("nonet")
    assert "nonet" in reg.select("architecture", "all")  # broken plugins stay visible, not silently dropped


def test_malformed_entry_point_is_ignored_and_reported(site):
    site.add("badname", "0.1", {"dcbench.condensers": {"Bad-Name": "badname:X", "nocolon": "badname"}})
    reg = get_registry()
    assert "Bad-Name" not in reg.condensers and "nocolon" not in reg.condensers
    assert len(reg.broken_entry_points) == 2
    assert all("badname 0.1" in line for line in reg.broken_entry_points)
    result = invoke("plugins")
    assert result.exit_code == 0
    assert "Bad-Name" in result.stdout and "nocolon" in result.stdout


# ---------------------------------------------------------------------------------------------
# 5. A name defined twice is an error naming both origins


def _assert_conflict(kinds, name: str, *origins: str) -> str:
    with pytest.raises(RegistryError) as caught:
        kinds.canonical(name)
    message = str(caught.value)
    assert f"'{name}'" in message and "defined twice" in message, message
    for origin in origins:
        assert origin in message, message
    with pytest.raises(RegistryError, match="defined twice"):
        kinds.get(name)
    return message


def test_entry_point_shadowing_a_builtin_is_an_error_naming_both(site):
    site.add("shadowplug", "1.0", {"dcbench.condensers": {"random": "shadowplug:Random"}},
             {"shadowplug": "Random = None\n"})
    reg = load_registry()  # a conflict does not take the registry down...
    _assert_conflict(reg.condensers, "random", "registry.yaml", "dcbench_coresets:RandomCondenser",
                     "shadowplug 1.0", "shadowplug:Random")
    assert "random" not in reg.condensers.names()  # ...neither definition is used...
    with pytest.raises(RegistryError, match="defined twice"):
        reg.select("condenser", "random")
    assert reg.dataset("digits").spec.name == "digits"  # ...and every other name still works
    assert reg.select("architecture", "@paper") == PAPER_NETS


def test_two_distributions_defining_one_name_is_an_error_naming_both(site):
    site.add("toyplug", "0.4", {"dcbench.condensers": {"toy": "toyplug:Toy"}}, {"toyplug": TOY_SOURCE})
    site.add("otherplug", "2.1", {"dcbench.condensers": {"toy": "otherplug:Toy"}}, {"otherplug": TOY_SOURCE})
    reg = get_registry()
    _assert_conflict(reg.condensers, "toy", "toyplug 0.4", "otherplug 2.1")
    assert reg.condenser("random").spec.name == "random"


def test_entry_point_colliding_with_a_builtin_alias_is_an_error():
    config = minimal_config(condensers={"random": {"target": "dcbench_coresets:RandomCondenser",
                                                   "aliases": ["rnd"]}})
    reg = Registry(config, where="test.yaml")
    assert reg.condensers.canonical("rnd") == "random"
    assert reg.select("condenser", "rnd,random") == ["random"]
    ep = importlib.metadata.EntryPoint(name="rnd", value="elsewhere:Rnd", group="dcbench.condensers")
    reg = Registry(config, where="test.yaml", entry_points=[("condenser", ep)])
    _assert_conflict(reg.condensers, "rnd", "registry.yaml", "elsewhere:Rnd")
    assert reg.condensers.canonical("random") == "random"


def test_alias_conflict_leaves_the_entry_itself_usable():
    config = minimal_config(condensers={"random": {"target": "dcbench_coresets:RandomCondenser", "aliases": ["rnd"]},
                                        "other": {"target": "dcbench_coresets.random:RandomCondenser",
                                                  "aliases": ["rnd"]}})
    reg = Registry(config, where="test.yaml")
    with pytest.raises(RegistryError, match="'rnd' is defined twice"):
        reg.condensers.canonical("rnd")
    assert reg.condensers.canonical("random") == "random"
    assert reg.condensers.canonical("other") == "other"


def test_name_conflicts_in_the_cli(site, monkeypatch, capsys, tmp_path):
    site.add("shadowplug", "1.0", {"dcbench.condensers": {"random": "shadowplug:Random"}},
             {"shadowplug": "Random = None\n"})
    result = invoke("plugins")  # lists the conflict, and everything else as usual
    assert result.exit_code == 0, result.output
    rows = table_rows(result.stdout)
    assert "defined twice" in rows["random"][4] and "shadowplug 1.0" in rows["random"][4]
    assert rows["mlp"][4] == "ok"

    code, out, err = run_main(monkeypatch, capsys, "synth", "-c", "random", "--dataset", "digits")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert "defined twice" in err and "shadowplug 1.0" in err and "registry.yaml" in err

    # in a grid list, a clash is its packages' problem (left out, exit 1), not the user's typo (exit 2)
    code, out, err = run_main(monkeypatch, capsys, "grid", "-c", "random,gm", "--synth", "mlp", "--cls", "mlp",
                              "--evals", "1", "--set", "iterations=1", "--dataset", "digits", "--runner", "local",
                              "--device", "cpu", "--results", str(tmp_path / "r"))
    assert code == 1, err
    assert "left out because their plugin failed to load: -c/--condenser random" in " ".join(err.split())


def test_name_listed_twice_in_registry_yaml_is_an_error(tmp_path):
    path = tmp_path / "registry.yaml"
    path.write_text("schema: 1\ncondensers:\n  random: dcbench_coresets:RandomCondenser\n"
                    "  random: dcbench_coresets:Other\n"
                    "profiles:\n  smoke: {iterations: 1, runs: 1, evals: 1, cls_epochs: 1, cls_epochs_aug: 1, "
                    "whole_epochs: 1}\n")
    with pytest.raises(RegistryError, match="random"):
        load_registry(path)


# ---------------------------------------------------------------------------------------------
# 6. Malformed registry.yaml


def test_invalid_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "registry.yaml"
    path.write_text("schema: 1\ncondensers:\n  random: dcbench_coresets:RandomCondenser\n   bad: x\n")
    assert_registry_error(path, str(path), "not valid YAML", "line 4")


def test_unknown_top_level_key_is_named(tmp_path):
    path = write_registry(tmp_path / "r.yaml", minimal_config(condenser={"x": "a:b"}))
    assert_registry_error(path, str(path), "unknown top-level key(s) condenser;")


@pytest.mark.parametrize("target", ["dcbench_coresets.RandomCondenser", "", 3, ["a:b"], "a:b:c"])
def test_target_without_colon_names_section_and_key(tmp_path, target):
    path = write_registry(tmp_path / "r.yaml", minimal_config(condensers={"random": target}))
    assert_registry_error(path, str(path), "condensers.random", "module:attr")


def test_bad_component_names_and_aliases(tmp_path):
    path = write_registry(tmp_path / "r.yaml", minimal_config(datasets={"Digits": "dcbench_vision:digits"}))
    assert_registry_error(path, "datasets.", "Digits", "lower-case")
    path = write_registry(tmp_path / "r.yaml", minimal_config(
        condensers={"random": {"target": "dcbench_coresets:RandomCondenser", "aliases": "rnd"}}))
    assert_registry_error(path, "condensers.random.aliases")
    path = write_registry(tmp_path / "r.yaml", minimal_config(
        condensers={"random": {"target": "dcbench_coresets:RandomCondenser", "alias": ["rnd"]}}))
    assert_registry_error(path, "condensers.random", "alias")


@pytest.mark.parametrize("change, phrase", [
    ({"runs": None}, "profiles.smoke.runs is missing"),
    ({"runs": "two"}, "profiles.smoke.runs must be a positive integer"),
    ({"runs": 1.5}, "profiles.smoke.runs"),
    ({"runs": True}, "profiles.smoke.runs"),
    ({"runs": 0}, "profiles.smoke.runs"),
    ({"speed": 3}, "profiles.smoke has unknown key"),
])
def test_bad_profiles_name_the_field(tmp_path, change, phrase):
    profile = dict(MINIMAL_PROFILE)
    for key, value in change.items():
        if value is None:
            del profile[key]
        else:
            profile[key] = value
    path = write_registry(tmp_path / "r.yaml", minimal_config(profiles={"smoke": profile}))
    assert_registry_error(path, str(path), phrase)


@pytest.mark.parametrize("schema", [None, 2, "1"])
def test_schema_must_be_1(tmp_path, schema):
    config = minimal_config(schema=schema)
    if schema is None:
        del config["schema"]
    path = write_registry(tmp_path / "r.yaml", config)
    assert_registry_error(path, str(path), "schema")


def test_other_structural_errors(tmp_path):
    for content, phrase in [
        ("- a\n- b\n", "top level must be a mapping"),
        ("", "top level must be a mapping"),
        ("schema: 1\ncondensers: [a]\nprofiles: {smoke: {}}\n", "'condensers' must map"),
        ("schema: 1\n", "'profiles' must define at least one"),
    ]:
        path = tmp_path / "r.yaml"
        path.write_text(content)
        assert_registry_error(path, phrase)
    path = write_registry(tmp_path / "r.yaml", minimal_config(suites={"paper": "mlp"}))
    assert_registry_error(path, "suites.paper")
    assert_registry_error(tmp_path / "missing.yaml", "cannot read registry file", "missing.yaml")


def test_dcbench_registry_env_selects_the_file(tmp_path, monkeypatch, fresh_registry):
    path = write_registry(tmp_path / "r.yaml", minimal_config(suites={"tiny": ["random"]}))
    monkeypatch.setenv("DCBENCH_REGISTRY", str(path))
    get_registry.cache_clear()
    reg = get_registry()
    assert reg.where == str(path)
    builtin = {kind: [e.name for e in reg.kinds[kind].entries() if e.origin.builtin] for kind in reg.kinds}
    assert builtin["condenser"] == ["random"]  # installed distributions' entry points still add theirs
    assert builtin["architecture"] == []
    assert reg.select("condenser", "@tiny") == ["random"]


def test_malformed_registry_through_the_cli_is_one_line_exit_2(tmp_path):
    path = tmp_path / "registry.yaml"
    path.write_text("schema: 1\ncondensers:\n  random: dcbench_coresets.RandomCondenser\n"
                    "profiles:\n  smoke: {iterations: 1}\n")
    env = {**os.environ, "DCBENCH_REGISTRY": str(path)}
    proc = subprocess.run([sys.executable, "-c", "from dcbench.cli import main; main()", "list", "condensers"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error:")
    assert str(path) in lines[0] and "condensers.random" in lines[0]


@pytest.mark.parametrize("content, phrase", [
    ("schema: 1\ncondensers: {random: [\n", "not valid YAML"),
    ("schema: 2\nprofiles: {}\n", "schema"),
    ("schema: 1\nwhatever: 1\n", "whatever"),
])
def test_malformed_registry_in_process_cli(tmp_path, monkeypatch, capsys, fresh_registry, content, phrase):
    path = tmp_path / "registry.yaml"
    path.write_text(content)
    monkeypatch.setenv("DCBENCH_REGISTRY", str(path))
    code, out, err = run_main(monkeypatch, capsys, "plugins")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert str(path) in lines[0] and phrase in lines[0]


def test_error_messages_with_brackets_are_printed_verbatim(tmp_path, monkeypatch, capsys, fresh_registry):
    path = write_registry(tmp_path / "r.yaml", minimal_config(condensers={"Bad": "a:b"}))
    monkeypatch.setenv("DCBENCH_REGISTRY", str(path))
    code, out, err = run_main(monkeypatch, capsys, "list", "condensers")
    assert code == 2
    assert "[a-z0-9_]+" in err


# ---------------------------------------------------------------------------------------------
# 7. Where registry.yaml is found


def test_registry_yaml_is_found_in_an_editable_install(monkeypatch):
    monkeypatch.delenv("DCBENCH_REGISTRY", raising=False)
    packaged = importlib.resources.files("dcbench") / "registry.yaml"
    if packaged.is_file():
        pytest.skip("dcbench is installed from a wheel: registry.yaml is packaged")
    expected = Path(dcbench.__file__).resolve().parent.parent / "registry.yaml"
    assert registry_path() == expected
    assert registry_path().is_file()
    assert registry_path().read_bytes() == REGISTRY_YAML.read_bytes()

    monkeypatch.setenv("DCBENCH_REGISTRY", "/some/where/registry.yaml")
    assert registry_path() == Path("/some/where/registry.yaml")


def test_an_added_field_is_left_out_of_the_configuration_at_its_default():
    import dataclasses

    from dcbench import added_field
    from dcbench.condenser import config_dict

    @dataclasses.dataclass(frozen=True)
    class Config:
        lr: float = 0.1
        precision: str = added_field("default")

    assert config_dict(Config()) == {"lr": 0.1}  # what a result stored before the field existed holds
    assert config_dict(Config(precision="bf16")) == {"lr": 0.1, "precision": "bf16"}
    assert config_dict(Config(lr=0.2, precision="default")) == {"lr": 0.2}


def test_a_study_entry_must_be_a_study_of_the_same_name():
    config = minimal_config(studies={"table1": "dcbench_studies:table1", "first": "dcbench_studies:table1",
                                     "nothing": "dcbench_coresets:RandomCondenser"})
    reg = Registry(config, where="test.yaml")
    assert reg.component("study", "table1").value.name == "table1"
    with pytest.raises(PluginError, match="registered as 'first' but its file names it 'table1'"):
        reg.component("study", "first")
    with pytest.raises(PluginError, match="is not a dcbench.Study"):
        reg.component("study", "nothing")
    listed = {row.name: row for row in reg.listing("study")}
    assert listed["table1"].ok and not listed["nothing"].ok
