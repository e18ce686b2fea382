"""One lazy registry per component kind, fed by registry.yaml and by entry points.

Built-ins are listed in registry.yaml as ``name: "module:attr"``; third parties declare the same
in the entry-point groups below. Nothing is imported until a component is used, so a plugin that
fails to import is reported by name when it is asked for and never takes the others down.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import importlib
import importlib.metadata as metadata
import importlib.resources
import inspect
import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import yaml

from dcbench.augment import AUGMENTATIONS, check_strategy
from dcbench.errors import RegistryError, UserError
from dcbench.profiles import Profile, parse_profile

GROUPS = {
    "condenser": "dcbench.condensers",
    "architecture": "dcbench.architectures",
    "architecture namespace": "dcbench.architecture_namespaces",
    "dataset": "dcbench.datasets",
    "study": "dcbench.studies",
    "protocol": "dcbench.protocols",
}
_YAML_SECTIONS = {
    "condenser": "condensers",
    "architecture": "architectures",
    "architecture namespace": "architecture_namespaces",
    "dataset": "datasets",
    "study": "studies",
    "protocol": "protocols",
}
_TOP_KEYS = {"schema", *(_YAML_SECTIONS.values()), "suites", "profiles", "dataset_overrides", "leaderboard"}
_LEADERBOARD_KEYS = {"headline_net", "baseline"}
NAME_RE = re.compile(r"^[a-z0-9_]+$")
TARGET_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class PluginError(UserError):
    """A plugin failed to import or does not honour its contract."""


class NameConflict(RegistryError):
    """Two plugins (or a plugin and registry.yaml) define the same name: a packaging problem, not a typo."""


@dataclass(frozen=True)
class Origin:
    """Where a component came from: registry.yaml, or an installed distribution's entry point."""

    distribution: str | None = None  # None: built in
    version: str | None = None

    @property
    def builtin(self) -> bool:
        return self.distribution is None

    def __str__(self) -> str:
        return "built-in" if self.builtin else f"{self.distribution} {self.version}"

    def to_json(self) -> dict[str, Any]:
        return {"distribution": self.distribution or "dcbench", "version": self.version,
                "third_party": not self.builtin}


@dataclass(frozen=True)
class Reference:
    """A component name as users write it: ``convnet``, or ``prefix:model``, a model that the name
    space ``prefix`` resolves (``timm:resnet18``). The one place that syntax is read."""

    namespace: str | None
    name: str

    @classmethod
    def parse(cls, text: str) -> "Reference":
        prefix, sep, model = text.partition(":")
        return cls(prefix, model) if sep else cls(None, text)

    def __str__(self) -> str:
        return f"{self.namespace}:{self.name}" if self.namespace else self.name


@dataclass(frozen=True)
class Component:
    """A component looked up once: its canonical name, the loaded object and where it came from.
    Cells carry these, so a name is resolved once per process, not at every step of the cell."""

    kind: str
    name: str
    value: Any  # the condenser class, architecture factory or data set
    origin: Origin

    @property
    def spec(self) -> Any:
        return self.value.spec

    @property
    def version(self) -> int:
        return self.spec.version


@dataclass(frozen=True)
class Listing:
    """One row of ``dcbench plugins`` or ``dcbench list``: a component as the registry sees it,
    loaded to say whether it works. ``error`` is why it cannot be used (None: it loads)."""

    name: str
    kind: str
    origin: str  # "built-in", or the declaring distribution and its version
    version: int | None = None  # its spec version; None when it cannot be loaded
    about: str = ""
    aliases: tuple[str, ...] = ()
    hooks: tuple[str, ...] = ()  # a condenser's declared hooks beyond condense
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "version": self.version, "origin": self.origin,
                "about": self.about, "aliases": list(self.aliases), "hooks": list(self.hooks), "ok": self.ok,
                "error": self.error}


def describe(kind: str, spec: Any) -> str:
    """A component's one-line description, from its spec."""
    if kind == "condenser":
        return f"{spec.kind}{', needs a network' if spec.needs_network else ''}. {spec.description}".strip()
    if kind == "dataset":
        return f"{spec.channels}×{spec.size}×{spec.size}, {spec.classes} classes"
    if kind == "architecture namespace":
        return ""
    if kind == "study":
        return spec.description
    if kind == "protocol":
        baseline = f", baseline: {spec.baseline}" if spec.baseline else ""
        return f"{spec.metric}{baseline}. {spec.description}".strip()
    sizes = "any size" if spec.sizes is None else "/".join(f"{s}px" for s in spec.sizes)
    variant = f" (variant of {spec.variant_of})" if spec.variant_of else ""
    return f"{spec.description} [{sizes}]{variant}".strip()


def _hooks(kind: str, spec: Any) -> tuple[str, ...]:
    if kind != "condenser":
        return ()
    declared = [("resumable", spec.resumable), ("iteration_field", spec.iteration_field),
                ("implementations", spec.implementations), ("details", spec.details), ("extras", spec.extras)]
    return tuple(name for name, value in declared if value)


@dataclass
class RegistryEntry:
    kind: str
    name: str
    target: str
    origin: Origin
    aliases: tuple[str, ...] = ()
    _value: Any = field(default=None, repr=False)

    def describe(self) -> str:
        return f"{self.kind} '{self.name}' ({self.origin}, {self.target})"


class KindRegistry:
    """The components of one kind: names, aliases, lazy loading and contract checks."""

    def __init__(self, kind: str, validate: Callable[[RegistryEntry, Any], None]) -> None:
        self.kind = kind
        self._validate = validate
        self._entries: dict[str, RegistryEntry] = {}
        self._aliases: dict[str, str] = {}
        self.conflicts: dict[str, str] = {}

    def add(self, entry: RegistryEntry) -> None:
        """Register ``entry``. A name or alias defined twice is unusable (either definition could be
        the one meant): asking for it raises an error naming both origins; every other name works."""
        other = self._owner(entry.name)
        if other is not None:
            if other.target != entry.target or other.origin != entry.origin:  # else: one dist seen twice
                self._conflict(entry.name, other, entry)
            return
        self._entries[entry.name] = entry
        for alias in entry.aliases:
            other = self._owner(alias)
            if other is not None:
                self._conflict(alias, other, entry)
            else:
                self._aliases[alias] = entry.name

    def _owner(self, key: str) -> RegistryEntry | None:
        return self._entries.get(key) or self._entries.get(self._aliases.get(key, ""))

    def _conflict(self, key: str, first: RegistryEntry, second: RegistryEntry) -> None:
        self.conflicts[key] = (f"{self.kind} '{key}' is defined twice: by {_origin_phrase(first)} and by "
                               f"{_origin_phrase(second)}; uninstall or rename one of them")

    def names(self) -> list[str]:
        return sorted(n for n in self._entries if n not in self.conflicts)

    def entries(self) -> list[RegistryEntry]:
        return [self._entries[n] for n in self.names()]

    def __contains__(self, name: str) -> bool:
        return name in self._entries or name in self._aliases

    def canonical(self, name: str) -> str:
        if name in self.conflicts:
            raise NameConflict(self.conflicts[name])
        if name in self._entries:
            return name
        if name in self._aliases:
            return self._aliases[name]
        raise RegistryError(unknown_message(self.kind, name, [*self._entries, *self._aliases]))

    def entry(self, name: str) -> RegistryEntry:
        return self._entries[self.canonical(name)]

    def get(self, name: str) -> Any:
        """Import (once) and return the component, checking it honours its contract."""
        entry = self.entry(name)
        if entry._value is None:
            value = load_target(entry)
            self._validate(entry, value)
            entry._value = value
        return entry._value


def _origin_phrase(entry: RegistryEntry) -> str:
    if entry.origin.builtin:
        return f"registry.yaml ({entry.target})"
    return f"the entry point of {entry.origin.distribution} {entry.origin.version} ({entry.target})"


def unknown_message(kind: str, name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"see `dcbench list {kind.split()[0]}s`"
    return f"unknown {kind} '{name}': {hint}"


def load_target(entry: RegistryEntry) -> Any:
    module_name, _, attr = entry.target.partition(":")
    try:
        value: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            value = getattr(value, part)
    except Exception as exc:  # any import-time failure of a plugin is the plugin's, not ours
        raise PluginError(f"{entry.describe()} failed to load: {type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")) from None
    return value


# --- contract checks ---------------------------------------------------------------------------

def condenser_problems(value: Any) -> list[str]:
    """What keeps ``value`` from being a registered condenser: the contract
    (:func:`dcbench.condenser.contract_problems`) and a name users can type."""
    from dcbench.condenser import CondenserSpec, contract_problems

    if not inspect.isclass(value):
        return ["it is not a class"]
    problems = contract_problems(value)
    spec = getattr(value, "spec", None)
    if isinstance(spec, CondenserSpec) and not (isinstance(spec.name, str) and NAME_RE.match(spec.name)):
        problems.insert(0, f"spec.name {spec.name!r} must be lower-case [a-z0-9_]+ (the name users type)")
    return problems


def _check_condenser(entry: RegistryEntry, value: Any) -> None:
    if problems := condenser_problems(value):
        raise PluginError(f"{entry.describe()} breaks the condenser contract: {'; '.join(problems)}")


def _check_architecture(entry: RegistryEntry, value: Any) -> None:
    from dcbench.architecture import ArchSpec

    if not callable(value) or not isinstance(getattr(value, "spec", None), ArchSpec):
        raise PluginError(f"{entry.describe()} is not a factory with a dcbench.ArchSpec `spec`")


def _check_namespace(entry: RegistryEntry, value: Any) -> None:
    if not (callable(getattr(value, "get", None)) and callable(getattr(value, "names", None))):
        raise PluginError(f"{entry.describe()} lacks `get(model)` and `names(pattern)`")


def _check_dataset(entry: RegistryEntry, value: Any) -> None:
    from dcbench.dataset import DatasetSpec

    if not isinstance(getattr(value, "spec", None), DatasetSpec) or not callable(getattr(value, "load", None)):
        raise PluginError(f"{entry.describe()} needs a dcbench.DatasetSpec `spec` and a `load` method")


def _check_study(entry: RegistryEntry, value: Any) -> None:
    from dcbench.study import Study

    if not isinstance(value, Study):
        raise PluginError(f"{entry.describe()} is not a dcbench.Study (make one with Study.from_yaml)")
    if value.spec.name != entry.name:
        raise PluginError(f"{entry.describe()} is registered as '{entry.name}' but its file names it "
                          f"'{value.spec.name}'; make the two the same")


def protocol_problems(value: Any) -> list[str]:
    """What keeps ``value`` from being a protocol (dcbench.protocol's contract), or nothing."""
    from dcbench.protocol import ProtocolSpec

    problems = []
    if not isinstance(getattr(value, "spec", None), ProtocolSpec):
        problems.append("needs a dcbench.ProtocolSpec `spec`")
    if not dataclasses.is_dataclass(getattr(value, "Config", None)):
        problems.append("needs a dataclass `Config`")
    problems += [f"needs a `{name}` method" for name in ("make_config", "views", "run")
                 if not callable(getattr(value, name, None))]
    return problems


def _check_protocol(entry: RegistryEntry, value: Any) -> None:
    if problems := protocol_problems(value):
        raise PluginError(f"{entry.describe()} is not a protocol: it {'; it '.join(problems)}")
    if value.spec.name != entry.name:
        raise PluginError(f"{entry.describe()} is registered as '{entry.name}' but its spec names it "
                          f"'{value.spec.name}'; make the two the same")


_VALIDATORS = {"condenser": _check_condenser, "architecture": _check_architecture,
               "architecture namespace": _check_namespace, "dataset": _check_dataset, "study": _check_study,
               "protocol": _check_protocol}


# --- the registry ------------------------------------------------------------------------------

class Registry:
    """Every component kind plus the suites, profiles and per-data-set settings of registry.yaml."""

    def __init__(self, config: Mapping[str, Any], *, where: str,
                 entry_points: Iterable[tuple[str, metadata.EntryPoint]] = ()) -> None:
        self.where = where
        self.kinds = {kind: KindRegistry(kind, _VALIDATORS[kind]) for kind in GROUPS}
        self.broken_entry_points: list[str] = []
        self._parse(config)
        for kind, ep in entry_points:
            self._add_entry_point(kind, ep)

    @property
    def condensers(self) -> KindRegistry:
        return self.kinds["condenser"]

    @property
    def architectures(self) -> KindRegistry:
        return self.kinds["architecture"]

    @property
    def namespaces(self) -> KindRegistry:
        return self.kinds["architecture namespace"]

    @property
    def datasets(self) -> KindRegistry:
        return self.kinds["dataset"]

    @property
    def studies(self) -> KindRegistry:
        return self.kinds["study"]

    @property
    def protocols(self) -> KindRegistry:
        return self.kinds["protocol"]

    # parsing -----------------------------------------------------------------------------

    def _parse(self, config: Mapping[str, Any]) -> None:
        where = self.where
        if not isinstance(config, Mapping):
            raise RegistryError(f"{where}: the top level must be a mapping")
        unknown = sorted(set(config) - _TOP_KEYS)
        if unknown:
            raise RegistryError(f"{where}: unknown top-level key(s) {', '.join(unknown)}; "
                                f"valid: {', '.join(sorted(_TOP_KEYS))}")
        if config.get("schema") != 1:
            raise RegistryError(f"{where}: key 'schema' must be 1, got {config.get('schema')!r}")
        for kind, section in _YAML_SECTIONS.items():
            raw = config.get(section) or {}
            if not isinstance(raw, Mapping):
                raise RegistryError(f"{where}: '{section}' must map names to \"module:attr\" targets")
            for name, value in raw.items():
                target, aliases = self._parse_target(section, name, value)
                self.kinds[kind].add(RegistryEntry(kind, name, target, Origin(), aliases))
        self.suites = self._parse_suites(config.get("suites") or {})
        raw_profiles = config.get("profiles") or {}
        if not isinstance(raw_profiles, Mapping) or not raw_profiles:
            raise RegistryError(f"{where}: 'profiles' must define at least one profile")
        self.profiles = {name: parse_profile(name, value, where=where) for name, value in raw_profiles.items()}
        overrides = config.get("dataset_overrides") or {}
        if not isinstance(overrides, Mapping) or not all(isinstance(v, Mapping) for v in overrides.values()):
            raise RegistryError(f"{where}: 'dataset_overrides' must map data-set names to settings")
        self.dataset_overrides = {k: _dataset_settings(k, v, where) for k, v in overrides.items()}
        board = config.get("leaderboard") or {}
        if not isinstance(board, Mapping) or set(board) - _LEADERBOARD_KEYS:
            raise RegistryError(f"{where}: 'leaderboard' may set only {', '.join(sorted(_LEADERBOARD_KEYS))}")
        headline = board.get("headline_net")
        if headline is not None and not isinstance(headline, str):
            raise RegistryError(f"{where}: leaderboard.headline_net must be a network name, got {headline!r}")
        self.headline_net: str | None = headline
        baseline = board.get("baseline")
        if baseline is not None and not isinstance(baseline, str):
            raise RegistryError(f"{where}: leaderboard.baseline must be a condenser name, got {baseline!r}")
        self.baseline: str | None = baseline

    def _parse_target(self, section: str, name: Any, value: Any) -> tuple[str, tuple[str, ...]]:
        where = self.where
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise RegistryError(f"{where}: {section}.{name!r}: names are lower-case [a-z0-9_]+")
        aliases: tuple[str, ...] = ()
        if isinstance(value, Mapping):
            extra = sorted(set(value) - {"target", "aliases"})
            if extra:
                raise RegistryError(f"{where}: {section}.{name} has unknown key(s) {', '.join(extra)}")
            raw_aliases = value.get("aliases") or []
            if not isinstance(raw_aliases, list) or not all(isinstance(a, str) and NAME_RE.match(a)
                                                            for a in raw_aliases):
                raise RegistryError(f"{where}: {section}.{name}.aliases must be a list of names")
            aliases = tuple(raw_aliases)
            value = value.get("target")
        if not isinstance(value, str) or not TARGET_RE.match(value):
            raise RegistryError(f"{where}: {section}.{name} must be a \"module:attr\" target, got {value!r}")
        return value, aliases

    def _parse_suites(self, raw: Any) -> dict[str, list[str]]:
        if not isinstance(raw, Mapping):
            raise RegistryError(f"{self.where}: 'suites' must map suite names to lists of names")
        suites = {}
        for name, members in raw.items():
            if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
                raise RegistryError(f"{self.where}: suites.{name} must be a list of component names")
            suites[str(name)] = list(members)
        return suites

    def _add_entry_point(self, kind: str, ep: metadata.EntryPoint) -> None:
        dist = getattr(ep, "dist", None)
        origin = Origin(distribution=dist.name if dist else "unknown distribution",
                        version=dist.version if dist else "?")
        if not NAME_RE.match(ep.name) or not TARGET_RE.match(ep.value.replace(" ", "")):
            self.broken_entry_points.append(
                f"{kind} entry point '{ep.name} = {ep.value}' of {origin} is malformed "
                "(names are [a-z0-9_]+, values \"module:attr\"); it was ignored")
            return
        self.kinds[kind].add(RegistryEntry(kind, ep.name, ep.value.replace(" ", ""), origin))

    # lookups -------------------------------------------------------------------------------

    def condenser(self, name: str) -> type:
        return self.condensers.get(name)

    def dataset(self, name: str) -> Any:
        return self.datasets.get(name)

    def architecture(self, name: str) -> Any:
        """A registered network, or ``prefix:model`` resolved by an architecture name space."""
        return self.component("architecture", name).value

    def architecture_origin(self, name: str) -> Origin:
        ref = Reference.parse(name)
        return (self.namespaces.entry(ref.namespace) if ref.namespace else self.architectures.entry(name)).origin

    def component(self, kind: str, name: str) -> Component:
        """The component ``name`` of ``kind`` (an alias or, for networks, ``prefix:model``), loaded."""
        ref = Reference.parse(name)
        if kind == "architecture" and ref.namespace:
            space = self.namespaces.entry(ref.namespace)
            return Component(kind, str(ref), self.namespaces.get(ref.namespace).get(ref.name), space.origin)
        registry = self.kinds[kind]
        entry = registry.entry(name)
        return Component(kind, entry.name, registry.get(name), entry.origin)

    def listing(self, kind: str | None = None, pattern: str | None = None) -> list[Listing]:
        """Every component (of ``kind``, matching the selector ``pattern``), each loaded to see whether
        it works; with no ``kind``, also the names defined twice and the malformed entry points."""
        if kind is None:
            rows = [self._listed(k, entry.name) for k, kinds in self.kinds.items() for entry in kinds.entries()]
            rows += [Listing(name, k, "", error=message) for k, kinds in self.kinds.items()
                     for name, message in kinds.conflicts.items()]
            return rows + [Listing("?", "entry point", "", error=line) for line in self.broken_entry_points]
        if kind not in self.kinds:
            raise UserError(f"unknown component kind '{kind}'; kinds: {', '.join(self.kinds)}")
        names = self.select(kind, pattern) if pattern else self.kinds[kind].names()
        return [self._listed(kind, name) for name in names]

    def _listed(self, kind: str, name: str) -> Listing:
        ref = Reference.parse(name)
        entry = None if kind == "architecture" and ref.namespace else self.kinds[kind].entry(name)
        origin = str(self.architecture_origin(name) if entry is None else entry.origin)
        aliases = entry.aliases if entry else ()
        try:
            spec = self.component(kind, name).value if kind == "architecture namespace" else \
                self.component(kind, name).spec
        except PluginError as exc:
            return Listing(name, kind, origin, aliases=aliases, error=str(exc))
        if kind == "architecture namespace":
            return Listing(name, kind, origin, aliases=aliases)
        return Listing(name, kind, origin, spec.version, describe(kind, spec), aliases, _hooks(kind, spec))

    def distributions(self) -> dict[str, str]:
        """The installed distributions that declare components, with their versions."""
        found = {entry.origin.distribution: entry.origin.version for kinds in self.kinds.values()
                 for entry in kinds.entries() if not entry.origin.builtin}
        return dict(sorted(found.items()))

    def profile(self, name: str) -> Profile:
        if name not in self.profiles:
            raise RegistryError(unknown_message("profile", name, self.profiles))
        return self.profiles[name]

    def dataset_settings(self, name: str) -> dict[str, Any]:
        return dict(self.dataset_overrides.get(name, {}))

    def select(self, kind: str, selector: str, *,
               unknown: list[tuple[str, UserError]] | None = None) -> list[str]:
        """Expand a selector: ``all``, comma lists, globs, ``@suite``, ``prefix:glob`` name spaces.

        A part that cannot be expanded (it names nothing, or its name space's plugin is broken)
        raises, or, when ``unknown`` is given, is appended there with its error and left out (a grid
        runs the rest); either way the selector as a whole must select something.
        """
        chosen: list[str] = []
        missed: list[tuple[str, UserError]] = []
        parts = [p.strip() for p in selector.split(",")]
        if any(parts) and not all(parts):
            raise RegistryError(f"the {kind} selector '{selector}' has an empty element: separate names by single "
                                "commas")
        for part in filter(None, parts):
            try:
                names = self._select_part(kind, part)
            except (RegistryError, PluginError) as exc:
                if unknown is None:
                    raise
                missed.append((part, exc))
                continue
            chosen += [n for n in names if n not in chosen]
        if missed and chosen:
            unknown += missed
        if not chosen:
            if missed:
                raise missed[0][1]
            raise RegistryError(f"the {kind} selector '{selector}' selects nothing")
        return chosen

    def _select_part(self, kind: str, part: str) -> list[str]:
        registry = self.kinds[kind]
        if part == "all":
            return [n for n in registry.names() if not _is_variant(registry, n)]
        if part.startswith("@"):
            if part[1:] not in self.suites:
                raise RegistryError(unknown_message("suite", part[1:], self.suites))
            return [n if Reference.parse(n).namespace else registry.canonical(n) for n in self.suites[part[1:]]]
        ref = Reference.parse(part)
        if kind == "architecture" and ref.namespace:
            prefix, pattern = ref.namespace, ref.name
            space = self.namespaces.get(prefix)
            if not _is_glob(pattern):
                return [part]
            if not (names := [f"{prefix}:{m}" for m in space.names(pattern)]):
                raise RegistryError(f"no {prefix} model matches '{pattern}'")
            return names
        if _is_glob(part):
            if not (names := fnmatch.filter(registry.names(), part)):
                raise RegistryError(f"no {kind} matches '{part}': see `dcbench list {kind}s`")
            return names
        return [registry.canonical(part)]


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def _is_variant(registry: KindRegistry, name: str) -> bool:
    if registry.kind != "architecture":
        return False
    try:
        return registry.get(name).spec.variant_of is not None
    except PluginError:
        return False  # keep broken plugins visible: selecting them reports the failure


# --- construction ------------------------------------------------------------------------------

def registry_path() -> Path:
    """registry.yaml: ``$DCBENCH_REGISTRY``, else inside the installed package (a wheel), else the
    repository root next to the package (an editable install or a source checkout)."""
    if env := os.environ.get("DCBENCH_REGISTRY"):
        return Path(env)
    packaged = importlib.resources.files("dcbench") / "registry.yaml"
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "registry.yaml"


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML keeps the last of two equal keys silently; a registry must not."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"'{key}' is defined twice (lines {seen[key] + 1} and {key_node.start_mark.line + 1})",
                    key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def read_registry_file(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as exc:
        raise RegistryError(f"cannot read registry file {path}: {exc.strerror}") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RegistryError(f"{path} is not valid YAML{at}: {problem}") from None


def discover_entry_points() -> list[tuple[str, metadata.EntryPoint]]:
    found = []
    for kind, group in GROUPS.items():
        found += [(kind, ep) for ep in metadata.entry_points(group=group)]
    return found


def load_registry(path: Path | None = None) -> Registry:
    path = path or registry_path()
    return Registry(read_registry_file(path), where=str(path), entry_points=discover_entry_points())


@cache
def get_registry() -> Registry:
    """The process-wide registry (built once; cleared by tests with ``get_registry.cache_clear()``)."""
    return load_registry()


def _dataset_settings(dataset: str, raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A data set's classification settings, checked here so that a typo stops at load, not in every cell."""
    place = f"{where}: dataset_overrides.{dataset}"
    unknown = sorted(set(raw) - {"augment", "dsa_strategy"})
    if unknown:
        raise RegistryError(f"{place} has unknown key(s) {', '.join(unknown)}; valid: augment, dsa_strategy")
    if raw.get("augment") is not None and raw["augment"] not in AUGMENTATIONS:
        raise RegistryError(f"{place}.augment must be one of {', '.join(AUGMENTATIONS)} (or absent), "
                            f"got {raw['augment']!r}")
    if "dsa_strategy" in raw:
        try:
            check_strategy(str(raw["dsa_strategy"]))
        except ValueError as exc:
            raise RegistryError(f"{place}.dsa_strategy: {exc}") from None
    return dict(raw)
