"""Leaderboards from the results store: aggregation into entries, and the two table shapes.

A leaderboard entry is one cell of the grid (profile, data set and its serving options, ipc,
condenser configuration, schedule, synthesis net, classification net) and holds the mean and the
population standard deviation of the test accuracies of every classification net trained for it
(n). Nothing that changes what a number means is ever averaged together: profiles, serving
options, schedules and condenser configurations each get their own entries. The renderers (the
CLI's for the terminal, :mod:`dcbench.publish` for files) only format the :class:`View` objects
built here, so every output shows the same numbers.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from dcbench.classification import STANDARD
from dcbench.errors import UserError
from dcbench.recipe import DC_RECIPE
from dcbench.records import IMPORTED, WHOLE
from dcbench.stats import Interval, entry_interval
from dcbench.store import Store

MEMORY_KINDS = {"process_max_rss": "CPU RSS", "cuda_max_allocated": "CUDA"}
THIRD_PARTY_NOTE = "* a third-party plugin's result (not shipped with dcbench)"
IMPORTED_NOTE = "(imported): a set made elsewhere and imported, its source in the provenance table"
SCORE_NOTE = "test accuracy %: mean ± population std (n classification nets)"
RECIPE_NOTE = ("(dsa recipe): evaluation nets trained as the DSA and DM papers train theirs (the profile's "
               "augmented epochs, every batch DSA-augmented)")


@dataclass(frozen=True)
class Score:
    mean: float
    std: float
    n: int

    def __str__(self) -> str:
        return f"{100 * self.mean:.1f} ± {100 * self.std:.1f} ({self.n})"


def score(values: Iterable[float]) -> Score:
    """Mean and population std (numpy's default, as the paper reports) of accuracies."""
    values = list(values)
    mean = sum(values) / len(values)
    return Score(mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)), len(values))


@dataclass(frozen=True)
class Setting:
    """What a leaderboard column is about; ``ipc`` None is training on the whole data."""

    profile: str
    dataset: str
    options: str = "{}"  # serving options (size, channels) as canonical JSON; "{}" is the native data
    ipc: int | None = None

    @property
    def data(self) -> str:
        options = json.loads(self.options)
        return self.dataset + (f" ({', '.join(f'{k} {v}' for k, v in options.items())})" if options else "")

    @property
    def label(self) -> str:
        return f"{self.data} · ipc {self.ipc}" if self.ipc is not None else f"{self.data} · whole data"

    @property
    def whole(self) -> "Setting":
        return Setting(self.profile, self.dataset, self.options, None)

    def order(self) -> tuple:
        return self.profile, self.dataset, self.options, -1 if self.ipc is None else self.ipc


@dataclass(frozen=True)
class Method:
    """A leaderboard row: a condenser, in one configuration, evaluated under one schedule and one
    recipe (how the evaluation nets were trained: dcbench.recipe.RECIPES), never mixed.

    ``variant`` is empty unless the store holds several configurations (hyperparameters or spec
    versions) of the condenser for the same setting; then it names what differs.
    """

    condenser: str
    variant: str = ""
    schedule: str = STANDARD
    third_party: bool = False
    recipe: str = DC_RECIPE

    @property
    def imported(self) -> bool:
        return self.condenser.startswith(IMPORTED)

    @property
    def label(self) -> str:
        if self.condenser == WHOLE:
            return "whole data"
        if self.imported:
            text = f"{self.condenser.removeprefix(IMPORTED)} (imported)"
        else:
            text = self.condenser + ("*" if self.third_party else "")
        if self.variant:
            text += f" [{self.variant}]"
        if self.schedule != STANDARD:
            text += f" ({self.schedule} schedule)"
        if self.recipe != DC_RECIPE:
            text += f" ({self.recipe} recipe)"
        return text

    def order(self) -> tuple:
        return (self.condenser == WHOLE, self.condenser, self.variant, self.schedule != STANDARD, self.schedule,
                self.recipe != DC_RECIPE, self.recipe)


def _merge(values: Iterable[Any]) -> tuple:
    return tuple(sorted({v for v in values if v is not None}))


@dataclass(frozen=True)
class Provenance:
    """What produced an entry: package versions and hardware of its synthesis and evaluation rows."""

    versions: tuple[tuple[str, tuple[str, ...]], ...]
    synthesis_devices: tuple[str, ...]
    evaluation_devices: tuple[str, ...]
    condenser_versions: tuple[int, ...]
    condenser_origin: str
    cls_net_versions: tuple[int, ...]
    dataset_versions: tuple[int, ...]

    @classmethod
    def of(cls, rows: list[dict[str, Any]]) -> "Provenance":
        packages: dict[str, set[str]] = defaultdict(set)
        for r in rows:
            for blob in (r["versions"], r.get("synth_versions")):
                for name, version in json.loads(blob or "{}").items():
                    packages[name].add(str(version))
        return cls(
            versions=tuple((name, tuple(sorted(found))) for name, found in sorted(packages.items())),
            synthesis_devices=_merge(r.get("synth_device") for r in rows),
            evaluation_devices=_merge(r["device_name"] for r in rows),
            condenser_versions=_merge(r["condenser_version"] for r in rows),
            condenser_origin="; ".join(_merge(r["condenser_origin"] for r in rows)),
            cls_net_versions=_merge(r["cls_net_version"] for r in rows),
            dataset_versions=_merge(r["dataset_version"] for r in rows),
        )

    @property
    def packages(self) -> str:
        return ", ".join(f"{name} {'/'.join(found)}" for name, found in self.versions)

    @property
    def hardware(self) -> str:
        synth, evals = self.synthesis_devices, self.evaluation_devices
        if not synth or synth == evals:
            return "; ".join(evals)
        return f"synthesis: {'; '.join(synth)} · evaluation: {'; '.join(evals)}"


@dataclass(frozen=True)
class Entry:
    """One leaderboard cell: a method's score with one synthesis and one classification network.
    The one record later features add fields to."""

    setting: Setting
    method: Method
    synth_net: str | None
    cls_net: str
    score: Score
    runs: int  # distinct condensed sets (seeds) behind the score; 0 for whole data
    provenance: Provenance
    # 95% interval of the mean: over the condensed sets' means when there are two or more, else over the
    # nets of the one set (dcbench.stats); whole data: over its runs. None: a single net.
    interval: Interval | None = None

    # The flat names of a store row, for callers that filter entries.
    condenser = property(lambda self: self.method.condenser)
    schedule = property(lambda self: self.method.schedule)
    recipe = property(lambda self: self.method.recipe)
    third_party = property(lambda self: self.method.third_party)
    dataset = property(lambda self: self.setting.dataset)
    ipc = property(lambda self: self.setting.ipc)
    profile = property(lambda self: self.setting.profile)

    @property
    def synthesis(self) -> tuple:
        """The condensed sets this entry trained on: whose cost and image it shows."""
        return self.setting, self.method.condenser, self.method.variant, self.synth_net


@dataclass(frozen=True)
class Cost:
    """What making the condensed sets of one synthesis cost: wall time and peak memory per kind."""

    seconds: Score
    peak_memory: tuple[tuple[str, int], ...]  # (peak_mem_kind, the largest peak of its rows)

    @property
    def time_text(self) -> str:
        text = f"{self.seconds.mean:.1f} s"
        return text + (f" ± {self.seconds.std:.1f} ({self.seconds.n})" if self.seconds.n > 1 else "")

    @property
    def memory_text(self) -> str:
        return " / ".join(f"{peak / 2**20:,.0f} MiB {MEMORY_KINDS.get(kind, kind)}" for kind, peak in self.peak_memory)


@dataclass
class Leaderboard:
    """Every entry of a filtered store with the cost and first artifact of each synthesis."""

    entries: list[Entry]
    costs: dict[tuple, Cost] = field(default_factory=dict)
    artifacts: dict[tuple, str] = field(default_factory=dict)
    provenances: dict[tuple[Setting, Method], Provenance] = field(default_factory=dict)
    # The network of a method's headline cell, synthesising and classifying (registry.yaml's
    # leaderboard.headline_net: the paper's Table 1 uses ConvNet); None: no network is preferred.
    headline_net: str | None = None
    # The condenser improvements are measured against (registry.yaml's leaderboard.baseline); None: none.
    baseline: str | None = None
    # The results of the other protocols (dcbench.protocol_board.ProtocolEntry), shown in their own sections.
    protocol_entries: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Every table asks for the entries of one (setting, method): index them once, not per table cell.
        self._index: dict[tuple[Setting, Method], list[Entry]] = defaultdict(list)
        for e in self.entries:
            self._index[(e.setting, e.method)].append(e)

    @property
    def third_party(self) -> bool:
        return any(e.third_party for e in self.entries)

    @property
    def imported(self) -> bool:
        return any(e.method.imported for e in self.entries)

    @property
    def recipes(self) -> bool:
        """Some entry was evaluated under a recipe other than the seed paper's."""
        return any(e.recipe != DC_RECIPE for e in self.entries)

    def profiles(self) -> list[str]:
        return sorted({e.profile for e in self.entries})

    def settings(self, profile: str | None = None, *, whole: bool = False) -> list[Setting]:
        found = {e.setting for e in self.entries if (profile is None or e.profile == profile)
                 and (e.setting.ipc is None) == whole}
        return sorted(found, key=Setting.order)

    def methods(self, setting: Setting) -> list[Method]:
        return sorted({m for s, m in self._index if s == setting}, key=Method.order)

    def of(self, setting: Setting, method: Method) -> list[Entry]:
        return self._index.get((setting, method), [])

    def cls_nets(self, setting: Setting) -> list[str]:
        return sorted({e.cls_net for e in self.entries if e.setting == setting})

    def cost(self, entry: Entry) -> Cost | None:
        return self.costs.get(entry.synthesis)

    def default(self, setting: Setting, method: Method) -> Entry | None:
        """The entry a method shows in the condenser × data-set table.

        Its headline cell (``headline_net`` synthesises and classifies) when there is one; otherwise
        the best entry that uses one network in both stages (selection methods: any network), and
        only when no such entry exists the best entry of all. The table names the networks whenever
        the pick is not the headline cell.
        """
        entries = self.of(setting, method)
        if not entries:
            return None
        headline = [e for e in entries if self.is_headline(e)]
        if headline:
            return headline[0]
        diagonal = [e for e in entries if e.synth_net in (None, e.cls_net)]
        return max(diagonal or entries, key=lambda e: (e.score.mean, -e.score.std))

    def is_headline(self, entry: Entry) -> bool:
        return self.headline_net is not None and entry.cls_net == self.headline_net \
            and entry.synth_net in (None, self.headline_net)

    def baseline_of(self, entry: Entry) -> Entry | None:
        """The baseline's entry an entry is compared with: same setting, recipe and classification net
        (and schedule); None for whole data, the baseline itself, or when it was not evaluated so."""
        if self.baseline is None or entry.setting.ipc is None or entry.condenser == self.baseline:
            return None
        for method in self.methods(entry.setting):
            if method.condenser == self.baseline and method.recipe == entry.recipe and not method.variant:
                for e in self.of(entry.setting, method):
                    if e.cls_net == entry.cls_net:
                        return e
        return None

    def whole_of(self, entry: Entry) -> Entry | None:
        """The whole-data entry of the same data set (as served), profile and classification net."""
        if entry.setting.ipc is None:
            return None
        for method in self.methods(entry.setting.whole):
            for e in self.of(entry.setting.whole, method):
                if e.cls_net == entry.cls_net:
                    return e
        return None

    def columns(self, profile: str) -> list[Setting]:
        """Table 1's columns: each data set × ipc, and data sets that only have whole-data results."""
        condensed = self.settings(profile)
        covered = {s.whole for s in condensed}
        orphans = [s for s in self.settings(profile, whole=True) if s not in covered]
        return sorted(condensed + orphans, key=Setting.order)


def networks_of(entry: Entry) -> str:
    """How an entry's networks are written next to its score: "mlp" or "convnet → mlp"."""
    if entry.synth_net is None or entry.synth_net == entry.cls_net:
        return entry.cls_net
    return f"{entry.synth_net} → {entry.cls_net}"


# --- reading the store -------------------------------------------------------------------------

_EVALUATIONS = """
SELECT e.*, c.config AS synth_config, c.versions AS synth_versions, c.device_name AS synth_device
FROM evaluations e LEFT JOIN condensations c ON c.key = e.condensation
"""


def _filters(prefix: str, dataset: str | None, ipc: int | None, profile: str | None,
             whole: bool) -> tuple[str, list[Any]]:
    clauses, args = [f"{prefix}status = 'done'"], []
    for column, value in (("dataset", dataset), ("profile", profile)):
        if value is not None:
            clauses.append(f"{prefix}{column} = ?")
            args.append(value)
    if ipc is not None:
        # whole-data rows belong to every ipc: they are what each ipc is compared with
        clauses.append(f"({prefix}ipc = ? OR {prefix}ipc IS NULL)" if whole else f"{prefix}ipc = ?")
        args.append(ipc)
    return " AND ".join(clauses), args


def _setting(row: dict[str, Any]) -> Setting:
    options = json.dumps(json.loads(row["dataset_options"] or "{}"), sort_keys=True)
    return Setting(row["profile"], row["dataset"], options, row["ipc"])


def _recipe(blob: str | None) -> tuple[str, str]:
    """The recipe an evaluation row was trained under (rows made before recipes had names: dc), and
    its augmentation."""
    recorded = json.loads(blob or "{}")
    return recorded.get("name", DC_RECIPE), recorded.get("augment") or ""


def _recipe_names(found: dict[tuple, set[str]]) -> dict[tuple, str]:
    """One label per (group, recipe, augmentation): the recipe's name, or its augmentation where the same
    condenser in one setting was evaluated under one recipe with several (a data set's DSA strategy
    changed in the registry): never averaged together, and named by what differs."""
    return {(group, name, augment): name if len(augments) == 1 else augment or name
            for (group, name), augments in found.items() for augment in augments}


def _config(blob: str | None) -> str | None:
    return None if blob is None else json.dumps(json.loads(blob), sort_keys=True)


def _variant_names(configs: set[tuple[int, str | None]]) -> dict[tuple[int, str | None], str]:
    """Names for the configurations of one condenser in one setting: empty when there is only one,
    else what sets each apart (spec version, the hyperparameters that differ)."""
    if len(configs) <= 1:
        return {c: "" for c in configs}
    parsed = {c: json.loads(c[1]) if c[1] is not None else None for c in configs}
    keys = sorted({k for p in parsed.values() if p for k in p})
    differing = [k for k in keys if len({json.dumps((p or {}).get(k)) for p in parsed.values()}) > 1]
    versions = {c[0] for c in configs}
    names = {}
    for config, values in parsed.items():
        parts = [f"v{config[0]}"] if len(versions) > 1 else []
        if values is None:
            parts.append("configuration not stored")
        else:
            # a key a configuration lacks is an added_field at its default
            parts += [f"{k}={values[k] if k in values else 'default'}" for k in differing]
        names[config] = ", ".join(parts)
    return names


def _interval(rows: list[dict[str, Any]]) -> Interval | None:
    by_set: dict[str | None, list[float]] = defaultdict(list)
    for r in rows:
        by_set[r["condensation"]].append(r["accuracy"])
    return entry_interval(list(by_set.values()), whole=None in by_set)


def load_leaderboard(store: Store, *, dataset: str | None = None, ipc: int | None = None,
                     profile: str | None = None, headline_net: str | None = None,
                     baseline: str | None = None) -> "Leaderboard":
    where, args = _filters("e.", dataset, ipc, profile, whole=True)
    evaluations = list(store.query(f"{_EVALUATIONS} WHERE {where}", args))
    configs: dict[tuple, set] = defaultdict(set)
    for r in evaluations:
        if r["condenser"] != WHOLE:
            configs[(_setting(r), r["condenser"])].add((r["condenser_version"], _config(r["synth_config"])))
    variants = {(key, config): name for key, found in configs.items()
                for config, name in _variant_names(found).items()}

    augments: dict[tuple, set[str]] = defaultdict(set)
    for r in evaluations:
        name, augment = _recipe(r["recipe"])
        augments[((_setting(r), r["condenser"], r["schedule"]), name)].add(augment)
    recipes = _recipe_names(augments)

    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in evaluations:
        setting = _setting(r)
        variant = variants.get(((setting, r["condenser"]), (r["condenser_version"], _config(r["synth_config"]))), "")
        method = Method(r["condenser"], variant, r["schedule"] or STANDARD, bool(r["third_party"]),
                        recipes[((setting, r["condenser"], r["schedule"]), *_recipe(r["recipe"]))])
        groups[(setting, method, r["synth_net"], r["cls_net"])].append(r)
    entries = [
        Entry(setting, method, synth, cls, score(r["accuracy"] for r in rows),
              len({r["condensation"] for r in rows if r["condensation"]}), Provenance.of(rows), _interval(rows))
        for (setting, method, synth, cls), rows in groups.items()
    ]
    entries.sort(key=lambda e: (e.setting.order(), e.method.order(), e.synth_net or "", e.cls_net))
    by_method: dict[tuple, list[dict]] = defaultdict(list)
    for (setting, method, _, _), rows in groups.items():
        by_method[(setting, method)] += rows
    provenances = {key: Provenance.of(rows) for key, rows in by_method.items()}

    # imported sets have no profile of their own: they belong to every profile they were evaluated under
    where, args = _filters("", dataset, ipc, None, whole=False)
    profiles = {e.profile for e in entries}
    syntheses: dict[tuple, list[dict]] = defaultdict(list)
    for c in store.rows("condensations", where, args):
        for found in ([c["profile"]] if c["profile"] is not None else sorted(profiles)):
            if found not in profiles:
                continue
            setting = _setting({**c, "profile": found})
            name = variants.get(((setting, c["condenser"]), (c["condenser_version"], _config(c["config"]))))
            if name is not None:  # a configuration nothing was evaluated with has no entry to cost
                syntheses[(setting, c["condenser"], name, c["synth_net"])].append(c)
    costs, artifacts = {}, {}
    for key, rows in syntheses.items():
        peaks: dict[str, int] = {}
        for r in rows:
            if r["peak_mem_bytes"]:
                peaks[r["peak_mem_kind"]] = max(peaks.get(r["peak_mem_kind"], 0), r["peak_mem_bytes"])
        timed = [r["wall_s"] for r in rows if r["wall_s"] is not None]
        if timed:
            costs[key] = Cost(score(timed), tuple(sorted(peaks.items())))
        first = min(rows, key=lambda r: (r["seed"], r["finished_at"] or 0.0))
        if first["artifact"]:
            artifacts[key] = first["artifact"]
    return Leaderboard(entries, costs, artifacts, provenances, headline_net, baseline)


def open_leaderboard(results: Path, *, dataset: str | None = None, ipc: int | None = None,
                     profile: str | None = None, headline_net: str | None = None,
                     baseline: str | None = None) -> Leaderboard:
    """The leaderboard of a results folder, or a user error when it has nothing to show."""
    from dcbench.protocol_board import load_protocol_entries  # it builds on this module's tables

    store = Store(results, write=False)
    try:
        board = load_leaderboard(store, dataset=dataset, ipc=ipc, profile=profile, headline_net=headline_net,
                                 baseline=baseline)
        board.protocol_entries = load_protocol_entries(store, dataset=dataset, ipc=ipc, profile=profile)
    finally:
        store.close()
    if not board.entries and not board.protocol_entries:
        asked = ", ".join(f"--{k} {v}" for k, v in (("dataset", dataset), ("ipc", ipc), ("profile", profile))
                          if v is not None)
        raise UserError(f"no finished evaluations in {store.path}{' match ' + asked if asked else ''}; "
                        "evaluate condensed sets first (`dcbench synth --cls NETS`, `dcbench eval`)"
                        + (" or drop the filters" if asked else ""))
    return board


# --- the tables, independent of how they are drawn ---------------------------------------------

@dataclass
class ViewRow:
    cells: list[str]
    whole: bool = False  # the whole-data reference, drawn dim
    ends_group: bool = False  # the last row of one condenser's block


@dataclass
class View:
    key: str  # unique among a board's views: the HTML id of its table
    title: str
    columns: list[str]
    rows: list[ViewRow]
    caption: str = ""
    left: int = 1  # leading columns of text, aligned left; the rest are numbers, aligned right


def slug(*parts: Any) -> str:
    text = "-".join(str(p) for p in parts if p not in (None, ""))
    return "".join(ch if ch.isalnum() or ch in "._" else "-" for ch in text.lower()).strip("-")


def _options_slug(setting: Setting) -> str:
    return "-".join(f"{k}{v}" for k, v in json.loads(setting.options).items())


def setting_key(setting: Setting) -> str:
    ipc = "whole" if setting.ipc is None else f"ipc{setting.ipc}"
    return slug(setting.profile, setting.dataset, _options_slug(setting), ipc)


def _cell(entry: Entry | None, *, board: Leaderboard | None = None) -> str:
    """An entry's score; with ``board``, followed by its networks unless it is the headline cell."""
    if entry is None:
        return ""
    if board is not None and not board.is_headline(entry):
        return f"{entry.score} [{networks_of(entry)}]"
    return str(entry.score)


def overview(board: Leaderboard, profile: str) -> View:
    """Table 1's shape: condensers × (data set, ipc), each its default entry; whole data last."""
    columns = board.columns(profile)
    methods = sorted({m for s in columns if s.ipc is not None for m in board.methods(s)}, key=Method.order)
    rows = [ViewRow([m.label, *[_cell(board.default(s, m), board=board) for s in columns]]) for m in methods]
    wholes = {m for s in columns for m in board.methods(s.whole)}
    for m in sorted(wholes, key=Method.order):
        rows.append(ViewRow([m.label, *[_cell(board.default(s.whole, m), board=board) for s in columns]],
                            whole=True))
    return View(
        key=slug("overview", profile), title=f"Condensers × data sets · profile {profile}",
        columns=["condenser", *[s.label for s in columns]], rows=rows,
        caption=_caption(board, f"{SCORE_NOTE}. Each entry is the ConvNet → ConvNet cell, or else the best cell "
                                "using one network in both stages, named in brackets; whole data: trained on the "
                                "full training split."))


def _cost_cells(board: Leaderboard, entry: Entry | None) -> list[str]:
    cost = board.cost(entry) if entry else None
    return [cost.time_text, cost.memory_text or "—"] if cost else ["—", "—"]


def _matrix_rows(board: Leaderboard, setting: Setting, method: Method, cls_nets: list[str]) -> list[ViewRow]:
    by_synth: dict[str | None, dict[str, Entry]] = defaultdict(dict)
    for e in board.of(setting, method):
        by_synth[e.synth_net][e.cls_net] = e
    rows = []
    for synth in sorted(by_synth, key=lambda s: s or ""):
        cells = by_synth[synth]
        first = next(iter(cells.values()))
        rows.append(ViewRow([synth or "—", *[_cell(cells.get(n)) for n in cls_nets], *_cost_cells(board, first)]))
    return rows


COST_COLUMNS = ["synthesis time", "peak memory"]
MATRIX_NOTE = ("Rows: the network the set was synthesised with (— for selection methods); "
               "columns: the network trained on it. Synthesis time: mean wall time per condensed set; peak "
               "memory: CPU RSS is the peak resident set of the process that ran it, CUDA is torch's allocator peak "
               "(max_memory_allocated).")


def method_matrix(board: Leaderboard, setting: Setting, method: Method) -> View:
    """Table 2's shape for one condenser: synthesis net × classification net, with its cost."""
    nets = sorted({e.cls_net for e in board.of(setting, method)})
    recipe = method.recipe if method.recipe != DC_RECIPE else None  # left out at dc: older pages keep their ids
    return View(key=slug("matrix", setting_key(setting), method.condenser, method.variant, method.schedule, recipe),
                title=f"{method.label} · {setting.label} · profile {setting.profile}",
                columns=["synthesis net", *nets, *COST_COLUMNS],
                rows=_matrix_rows(board, setting, method, nets))


def setting_matrix(board: Leaderboard, setting: Setting) -> View:
    """Every condenser's matrix for one setting in one table, and the whole-data reference."""
    nets = board.cls_nets(setting)
    rows = []
    for method in board.methods(setting):
        block = _matrix_rows(board, setting, method, nets)
        for i, row in enumerate(block):
            row.cells.insert(0, method.label if i == 0 else "")
        block[-1].ends_group = True
        rows += block
    for method in board.methods(setting.whole):
        wholes = {e.cls_net: e for e in board.of(setting.whole, method)}
        if any(n in wholes for n in nets):
            rows.append(ViewRow([method.label, "—", *[_cell(wholes.get(n)) for n in nets], "", ""], whole=True))
    return View(key=slug("setting", setting_key(setting)), title=f"{setting.label} · profile {setting.profile}",
                columns=["condenser", "synthesis net", *nets, *COST_COLUMNS], rows=rows,
                caption=_caption(board, f"{SCORE_NOTE}. {MATRIX_NOTE}"), left=2)


RANKING_NOTE = ("95% CI: Student's t interval of the mean, over the condensed sets' means where an entry has two "
                "sets or more, else over the nets trained on its one set (which says how well that set was measured, "
                "not how much the method varies); the CI over column says which. Rank: one more than the entries whose "
                "whole interval lies above this one's, and never better than a row above it; a shared rank (=) is a "
                "tie these runs cannot separate. vs {baseline} (the baseline): points above it at the same data set, "
                "ipc, recipe and classifier; of whole: the fraction of the whole-data accuracy of the same classifier "
                "and profile.")


def ranking_note(board: Leaderboard) -> str:
    return RANKING_NOTE.format(baseline=board.baseline or "baseline")


def ranks(entries: list[Entry]) -> list[str]:
    """Each entry's rank among ``entries`` (best mean first): 1 + the number whose interval lies wholly
    above its own (an entry without an interval is its mean alone), and never better than the entry
    before it, so that ranks read down the table; "=" where another entry has the same rank."""
    def bounds(e: Entry) -> tuple[float, float]:
        return (e.interval.low, e.interval.high) if e.interval else (e.score.mean, e.score.mean)

    found = [1 + sum(bounds(o)[0] > bounds(e)[1] for o in entries if o is not e) for e in entries]
    for i in range(1, len(found)):
        found[i] = max(found[i], found[i - 1])
    return [("=" if found.count(r) > 1 else "") + str(r) for r in found]


def ranking(board: Leaderboard, setting: Setting) -> View:
    """One setting's methods (each its Table 1 entry) ranked, with how sure each number is, its gain over
    the baseline and its fraction of whole-data accuracy."""
    entries = sorted((e for m in board.methods(setting) if (e := board.default(setting, m)) is not None),
                     key=lambda e: (-e.score.mean, e.method.order()))
    rows = []
    for entry, rank in zip(entries, ranks(entries), strict=True):
        base, whole = board.baseline_of(entry), board.whole_of(entry)
        rows.append(ViewRow([
            rank, entry.method.label, networks_of(entry), str(entry.score),
            str(entry.interval) if entry.interval else "—", entry.interval.level if entry.interval else "one net",
            f"{100 * (entry.score.mean - base.score.mean):+.1f}" if base else "—",
            f"{entry.score.mean / whole.score.mean:.0%}" if whole and whole.score.mean > 0 else "—",
        ]))
    return View(key=slug("ranking", setting_key(setting)), title=f"Ranking · {setting.label} · profile "
                f"{setting.profile}", columns=["rank", "condenser", "networks", "accuracy %", "95% CI", "CI over",
                                               f"vs {board.baseline or 'baseline'}", "of whole"],
                rows=rows, caption=_caption(board, f"{SCORE_NOTE}. {ranking_note(board)}"), left=3)


def provenance(board: Leaderboard) -> View:
    """Which versions, hardware and component versions produced each condenser's numbers."""
    rows = []
    for (setting, method), found in sorted(board.provenances.items(),
                                          key=lambda item: (item[0][0].order(), item[0][1].order())):
        rows.append(ViewRow([
            setting.profile, setting.data, "—" if setting.ipc is None else str(setting.ipc), method.label,
            "/".join(map(str, found.condenser_versions)), found.condenser_origin, found.packages, found.hardware,
        ]))
    return View(key="provenance-table", title="Provenance",
                columns=["profile", "data set", "ipc", "condenser", "spec version", "origin", "packages",
                         "hardware"], rows=rows,
                caption="Package versions and devices of every synthesis and evaluation behind the numbers; "
                        "results.csv and results.json hold them per entry.", left=8)


def _caption(board: Leaderboard, text: str) -> str:
    notes = [note for note, shown in ((THIRD_PARTY_NOTE, board.third_party), (IMPORTED_NOTE, board.imported),
                                      (RECIPE_NOTE, board.recipes)) if shown]
    return " ".join([text, *(f"{note}." for note in notes)])
