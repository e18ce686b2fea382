"""Aggregating stored evaluations into leaderboards: mean ± std (n) per cell, never mixing profiles."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable

from rich.table import Table

from dcbench.store import Store

WHOLE = "whole_data"


@dataclass(frozen=True)
class Score:
    mean: float
    std: float
    n: int

    def __str__(self) -> str:
        return f"{100 * self.mean:.1f} ± {100 * self.std:.1f} ({self.n})"


@dataclass(frozen=True)
class Row:
    dataset: str
    ipc: int | None
    profile: str
    condenser: str
    synth_net: str | None
    cls_net: str
    schedule: str
    third_party: bool
    score: Score


def score(values: Iterable[float]) -> Score:
    """Mean and population std (numpy's default, as the paper reports) of accuracies."""
    values = list(values)
    mean = sum(values) / len(values)
    return Score(mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)), len(values))


def aggregate(store: Store, *, dataset: str | None = None, ipc: int | None = None,
              profile: str | None = None) -> list[Row]:
    clauses, args = ["status = 'done'"], []
    for column, value in (("dataset", dataset), ("profile", profile)):
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    if ipc is not None:
        clauses.append("(ipc = ? OR ipc IS NULL)")  # whole-data rows belong to every ipc
        args.append(ipc)
    groups: dict[tuple, list[float]] = defaultdict(list)
    third: dict[tuple, bool] = {}
    for r in store.rows("evaluations", " AND ".join(clauses), args):
        key = (r["dataset"], r["ipc"], r["profile"], r["condenser"], r["synth_net"], r["cls_net"], r["schedule"])
        groups[key].append(r["accuracy"])
        third[key] = bool(r["third_party"])
    return [Row(*key, third_party=third[key], score=score(vals)) for key, vals in sorted(groups.items(), key=_order)]


def _order(item: tuple) -> tuple:
    dataset, ipc, profile, condenser, synth, cls, schedule = item[0]
    return (dataset, profile, ipc if ipc is not None else -1, condenser == WHOLE, condenser, synth or "", cls,
            schedule)


def condenser_tables(rows: list[Row]) -> list[Table]:
    """One table per (data set, ipc, profile): condenser (and synthesis net) × classification net."""
    by_setting: dict[tuple, list[Row]] = defaultdict(list)
    whole = [r for r in rows if r.condenser == WHOLE]
    for r in rows:
        if r.condenser != WHOLE:
            by_setting[(r.dataset, r.ipc, r.profile)].append(r)
    tables = []
    for (dataset, ipc, profile), members in by_setting.items():
        cls_nets = sorted({r.cls_net for r in members})
        table = Table(title=f"{dataset} · {ipc} image(s) per class · profile {profile}",
                      caption="test accuracy %, mean ± std (n nets); * third-party plugin")
        table.add_column("condenser")
        table.add_column("synthesis net")
        for net in cls_nets:
            table.add_column(net, justify="right")
        lines: dict[tuple, dict[str, Score]] = defaultdict(dict)
        for r in members:
            schedule = "" if r.schedule == "standard" else f" ({r.schedule})"
            label = r.condenser + ("*" if r.third_party else "") + schedule
            lines[(label, r.synth_net or "—")][r.cls_net] = r.score
        for (label, synth), scores in lines.items():
            table.add_row(label, synth, *[str(scores[n]) if n in scores else "" for n in cls_nets])
        for w in (w for w in whole if w.dataset == dataset and w.profile == profile):
            if w.cls_net in cls_nets:
                table.add_row("whole data", "—", *[str(w.score) if n == w.cls_net else "" for n in cls_nets],
                              style="dim")
        tables.append(table)
    settings = {(r.dataset, r.profile) for r in rows if r.condenser != WHOLE}
    orphans = [w for w in whole if (w.dataset, w.profile) not in settings]
    if orphans:
        table = Table(title="whole-data training", caption="test accuracy %, mean ± std (n nets)")
        for col in ("data set", "profile", "network", "accuracy"):
            table.add_column(col)
        for w in orphans:
            table.add_row(w.dataset, w.profile, w.cls_net, str(w.score))
        tables.append(table)
    return tables
