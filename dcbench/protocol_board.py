"""Leaderboard sections of the protocols other than classification, one per setting.

A section is one protocol at one version and configuration, profile, data set (as served) and
ipc; its rows are the condensers (and the protocol's baseline, which has no ipc and so appears in
every ipc section of its configuration), each with the mean ± population std of the protocol's
metric over its evaluations, the points it gains over the baseline on the same network, and the
protocol's own columns (e.g. continual's accuracy after each stage). Configurations are never
averaged together: the title names what differs between the stored ones.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from dcbench.errors import UserError
from dcbench.leaderboard import Score, View, ViewRow, _config, _variant_names, score, slug
from dcbench.registry import get_registry
from dcbench.runtime import digest
from dcbench.store import Store

PROTOCOL_NOTE = ("mean ± population std (n evaluations: sets × nets) of the protocol's metric, in %; vs baseline: "
                 "points above the protocol's baseline (no set) on the same network; further columns: means")


@dataclass(frozen=True, order=True)
class ProtocolSetting:
    protocol: str
    version: int
    config: str  # canonical JSON
    profile: str
    dataset: str
    options: str  # canonical JSON
    ipc: int | None


@dataclass(frozen=True)
class ProtocolEntry:
    setting: ProtocolSetting
    condenser: str
    synth_net: str | None
    cls_net: str
    score: Score
    metrics: dict[str, float]  # means of the numeric metrics over the entry's evaluations
    sets: int  # condenser runs (0 for the baseline)

    @property
    def baseline(self) -> bool:
        return self.sets == 0


def load_protocol_entries(store: Store, *, dataset: str | None = None, ipc: int | None = None,
                          profile: str | None = None) -> list[ProtocolEntry]:
    """Every stored protocol result, done, of the filters, aggregated into entries; baselines (no ipc)
    are kept under any ``ipc``."""
    where, args = ["status = 'done'"], []
    for column, value in (("dataset", dataset), ("profile", profile)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if ipc is not None:
        where.append("(ipc = ? OR ipc IS NULL)")
        args.append(ipc)
    rows = list(store.rows("protocol_results", " AND ".join(where), args))
    # the configuration of the condenser that made each row's sets: rows of two configurations are two entries
    wanted = {json.loads(r["condensations"])[0] for r in rows if json.loads(r["condensations"] or "[]")}
    made = {c["key"]: (c["condenser_version"], _config(c["config"])) for c in store.rows("condensations")
            if c["key"] in wanted}
    configs: dict[tuple, set] = defaultdict(set)
    for row in rows:
        row["made_by"] = made.get((json.loads(row["condensations"] or "[]") or [None])[0], (None, None))
        configs[(row["protocol"], row["protocol_config"], row["profile"], row["dataset"], row["condenser"])].add(
            row["made_by"])
    variants = {(family, config): name for family, found in configs.items()
                for config, name in _variant_names(found).items()}
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        setting = ProtocolSetting(row["protocol"], row["protocol_version"], _canonical(row["protocol_config"]),
                                  row["profile"], row["dataset"], _canonical(row["dataset_options"]), row["ipc"])
        variant = variants[((row["protocol"], row["protocol_config"], row["profile"], row["dataset"],
                             row["condenser"]), row["made_by"])]
        condenser = row["condenser"] + (f" [{variant}]" if variant else "")
        groups[(setting, condenser, row["synth_net"], row["cls_net"])].append(row)
    entries = []
    for (setting, condenser, synth, cls), rows in groups.items():
        metrics: dict[str, list[float]] = defaultdict(list)
        for row in rows:
            for name, value in json.loads(row["metrics"] or "{}").items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    metrics[name].append(float(value))
        entries.append(ProtocolEntry(setting, condenser, synth, cls, score(r["value"] / 100 for r in rows),
                                     {k: sum(v) / len(v) for k, v in metrics.items()},
                                     len({json.dumps(json.loads(r["artifacts"] or "[]")) for r in rows} - {"[]"})))
    return sorted(entries, key=lambda e: (e.setting.protocol, e.setting.profile, e.setting.dataset,
                                          e.setting.ipc or 0, e.setting.config, e.baseline, -e.score.mean,
                                          e.condenser, e.cls_net))


def _canonical(blob: str | None) -> str:
    return json.dumps(json.loads(blob or "{}"), sort_keys=True)


def _spec(protocol: str) -> Any:
    try:
        return get_registry().component("protocol", protocol).spec
    except UserError:  # a protocol whose plugin is gone: its stored numbers still show, under plain headings
        return None


def protocol_views(entries: list[ProtocolEntry]) -> list[View]:
    """One table per protocol setting: its condensers ranked by the metric, then its baseline."""
    differing = _differing(entries)
    sections: dict[tuple, list[ProtocolEntry]] = defaultdict(list)
    ipcs: dict[tuple, set[int]] = defaultdict(set)
    for entry in entries:
        s = entry.setting
        family = (s.protocol, s.version, s.config, s.profile, s.dataset, s.options)
        if not entry.baseline:
            ipcs[family].add(s.ipc)
    for entry in entries:
        s = entry.setting
        family = (s.protocol, s.version, s.config, s.profile, s.dataset, s.options)
        for ipc in ([s.ipc] if not entry.baseline else sorted(ipcs[family]) or [None]):
            sections[(*family, ipc)].append(entry)
    return [_view(key, found, differing) for key, found in sorted(sections.items(), key=lambda kv: str(kv[0]))]


def _differing(entries: list[ProtocolEntry]) -> dict[str, list[str]]:
    """Per protocol, the configuration keys whose values differ between its stored configurations."""
    configs: dict[str, set[str]] = defaultdict(set)
    for entry in entries:
        configs[entry.setting.protocol].add(entry.setting.config)
    found = {}
    for protocol, blobs in configs.items():
        values = [json.loads(blob) for blob in blobs]
        keys = sorted({k for v in values for k in v})
        found[protocol] = [k for k in keys if len({json.dumps(v.get(k)) for v in values}) > 1]
    return found


def _view(key: tuple, entries: list[ProtocolEntry], differing: dict[str, list[str]]) -> View:
    protocol, version, config, profile, dataset, options, ipc = key
    spec = _spec(protocol)
    values = json.loads(config)
    named = ", ".join(f"{k}={json.dumps(values.get(k))}" for k in differing.get(protocol, []))
    served = ", ".join(f"{k} {v}" for k, v in json.loads(options).items())
    what = " · ".join(part for part in (
        f"{protocol} v{version}", dataset + (f" ({served})" if served else ""),
        "" if ipc is None else f"ipc {ipc}", named, f"profile {profile}") if part)
    metric = spec.metric if spec else "value"
    columns = [c for c in (spec.columns if spec else ()) if any(c in e.metrics for e in entries)]
    baselines = {e.cls_net: e for e in entries if e.baseline}
    rows = []
    for entry in sorted(entries, key=lambda e: (e.baseline, -e.score.mean, e.condenser, e.synth_net or "", e.cls_net)):
        base = baselines.get(entry.cls_net)
        gain = "—" if entry.baseline or base is None else f"{100 * (entry.score.mean - base.score.mean):+.1f}"
        rows.append(ViewRow([entry.condenser, entry.synth_net or "—", entry.cls_net, str(entry.score), gain,
                             *(f"{entry.metrics[c]:.1f}" if c in entry.metrics else "—" for c in columns)],
                            whole=entry.baseline))
    baseline = f"vs {spec.baseline}" if spec and spec.baseline else "vs baseline"
    return View(key=slug("protocol", protocol, version, profile, dataset, served, ipc, digest(config)[:8]), title=what,
                columns=["condenser", "synthesis net", "network", f"{metric} %", baseline, *columns], rows=rows,
                caption=f"{PROTOCOL_NOTE}. Configuration: {config}.", left=3)
