"""Reproducing a study: the grid cells a paper's table needs, run where missing, compared with the paper.

Each study cell becomes a grid request of one condenser, one synthesis net and one classification
net (:func:`plan_study`), so its condensed sets and evaluation nets have exactly the keys a
``dcbench grid`` of the same cell would: what a grid already computed is not computed again, and
the other way round. The cells of every request share one queue (one run, one runner), and a set
unlocks only the evaluations its own cells ask for. After the run, each cell's evaluations are
found by their keys (:func:`compare`) and set beside the paper's number with a verdict
(:mod:`dcbench.stats`).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from dcbench.artifacts import load_artifact
from dcbench.classification import SCHEDULES, schedules_of
from dcbench.dataset import DatasetOptions
from dcbench.errors import DataError, UserError
from dcbench.grid.plan import GridRequest, NothingToRun, Skip, expand
from dcbench.leaderboard import Score, View, ViewRow, score
from dcbench.records import CellRecord
from dcbench.stats import Interval, level_values, noise_bound, t_interval, verdict
from dcbench.study import Study, StudyCell
from dcbench.tasks import SYNTH, Task, eval_tasks, synth_task

#: Verdicts beyond stats' within / below / above.
MISSING_DATA, NOT_RUN, REFUSED, FAILED = "missing data", "not run", "refused", "failed"


@dataclass
class CellPlan:
    """How one study cell is computed: its condensed sets (synth keys) and evaluations; or why not."""

    cell: StudyCell
    synth_keys: list[str] = field(default_factory=list)
    reason: str | None = None  # why it cannot run
    verdict: str | None = None  # MISSING_DATA or REFUSED when it cannot run
    eval_keys: list[str] = field(default_factory=list)  # filled as its sets are found or made


@dataclass
class StudyPlan:
    """Every cell of a study, planned: the tasks to admit and what each new set unlocks."""

    cells: list[CellPlan]
    tasks: list[Task]
    unlocks: Callable[[str], list[Task]]
    estimate: Callable[[Task], int]

    # what the display of a planned run shows (as for a grid's plan)
    @property
    def synths(self) -> list[Task]:
        return [t for t in self.tasks if t.kind == SYNTH]

    @property
    def skipped(self) -> list[Skip]:
        """The cells left out: refused ones each, those of a missing data set once per data set."""
        missing: dict[str, list[CellPlan]] = defaultdict(list)
        found = []
        for cp in self.cells:
            if cp.verdict == MISSING_DATA:
                missing[cp.cell.dataset].append(cp)
            elif cp.verdict is not None:
                found.append(Skip(cp.cell.label, f"{cp.verdict}: {cp.reason or ''}"))
        found += [Skip(f"{len(cps)} cell(s) of {dataset}", f"{MISSING_DATA}: {cps[0].reason}")
                  for dataset, cps in missing.items()]
        return found


def plan_study(cells: list[StudyCell], *, profile: str, runs: int | None, evals: int | None, whole_evals: int,
               seed: int, data_root: Path, download: bool, results: Path) -> StudyPlan:
    """Every cell as a one-cell grid request, expanded and checked now (a mistake in a study is a
    user error before anything runs); a cell whose data set is missing is kept, with the reason."""
    planned: list[CellPlan] = []
    tasks: dict[str, Task] = {}
    # what each condensed set (by its synth key) is evaluated on: (cls net, evals, recipe, schedule, cell plan)
    wanted: dict[str, list[tuple[str, int, str | None, str, CellPlan]]] = defaultdict(list)
    for cell in cells:
        cp = CellPlan(cell)
        planned.append(cp)
        request = GridRequest(
            condensers="" if cell.whole else cell.condenser, datasets=cell.dataset, synth=cell.synth or "convnet",
            cls=cell.cls, ipcs=(cell.ipc or 1,), seed=seed, profile=profile, runs=runs,
            evals=whole_evals if cell.whole else evals, options=DatasetOptions(cell.size, cell.channels),
            overrides=cell.overrides, whole=cell.whole, recipe=cell.recipe)
        if cell.schedule not in SCHEDULES:
            raise UserError(f"cell '{cell.label}': schedule '{cell.schedule}' is not one of {', '.join(SCHEDULES)}")
        try:
            plan = expand(request, data_root=data_root, download=download)
        except DataError as exc:
            cp.verdict, cp.reason = MISSING_DATA, str(exc)
            continue
        except NothingToRun as exc:  # the cell's networks cannot take the data set as served
            cp.verdict, cp.reason = REFUSED, _refusals(exc.skipped)
            continue
        except UserError as exc:  # a mistake in the study: said with the cell it is in
            raise UserError(f"cell '{cell.label}': {exc}") from None
        if refused := [s for s in plan.skipped if s.cause == "refused"]:
            cp.verdict, cp.reason = REFUSED, _refusals(refused)
            continue
        if cell.whole:
            cp.eval_keys = [t.key for t in plan.wholes]
            tasks.update((t.key, t) for t in plan.wholes)
            continue
        for bound in plan.synths:
            cp.synth_keys.append(bound.key)
            tasks.setdefault(bound.key, synth_task(bound))
            wanted[bound.key].append((cell.cls, plan.evals, cell.recipe, cell.schedule, cp))

    def unlocks(artifact: str) -> list[Task]:
        """The evaluations a set's own cells ask for, under their schedules only."""
        loaded = load_artifact(artifact, results)
        found: dict[str, Task] = {}
        for net, n, recipe, schedule, cp in wanted.get(loaded.metadata["key"], []):
            if schedule not in schedules_of(loaded.metadata):
                cp.verdict, cp.reason = REFUSED, f"its sets carry no {schedule} schedule"
                continue
            for task in eval_tasks(loaded, [net], n, base_seed=loaded.metadata["seed"], recipe=recipe):
                if task.cell.schedule == schedule:
                    found.setdefault(task.key, task)
                    if task.key not in cp.eval_keys:
                        cp.eval_keys.append(task.key)
        return list(found.values())

    def estimate(task: Task) -> int:
        return sum({(net, recipe): n for net, n, recipe, _, _ in wanted.get(task.key, [])}.values())

    return StudyPlan(planned, list(tasks.values()), unlocks, estimate)


def _refusals(skipped: list[Skip]) -> str:
    return "; ".join(f"{s.what}: {s.reason}" for s in skipped if s.cause == "refused") or "nothing to run"


# --- ours beside the paper -----------------------------------------------------------------------

@dataclass(frozen=True)
class Compared:
    """One study cell: the paper's number, ours (None: none stored), their difference and the verdict."""

    cell: StudyCell
    verdict: str
    ours: Score | None = None
    interval: Interval | None = None
    delta: float | None = None  # ours − paper, in points
    bound: float | None = None  # the combined noise the verdict compares |delta| with, in points
    reason: str = ""
    sets: int = 0


@dataclass(frozen=True)
class Reproduction:
    """What ``Bench.reproduce`` did and found: every cell compared, and the counts of the run."""

    study: Study
    profile: str
    reduced: bool  # the profile does not keep the paper's budgets
    cells: tuple[Compared, ...]
    to_compute: int
    stored: int
    run_id: str | None = None
    dry_run: bool = False
    kept_failed: int = 0  # cells that failed before and were not retried (rerun="failed" retries them)

    def count(self, kind: str) -> int:
        return sum(c.verdict == kind for c in self.cells)


def compare(plan: StudyPlan, records: Mapping[str, CellRecord]) -> list[Compared]:
    """Each cell's stored evaluations (by key) against the paper's number.

    The noise of ours is the spread of the level that varies the method: the condensed sets' means
    when a cell has two sets or more, else its nets; a single value has no spread of its own, and is
    given the paper's (the same protocol's nets vary about as much), so that one net is not taken
    for an exact number."""
    out = []
    for cp in plan.cells:
        cell = cp.cell
        if cp.verdict is not None:
            out.append(Compared(cell, cp.verdict, reason=cp.reason or ""))
            continue
        stored = [records[k] for k in [*cp.synth_keys, *cp.eval_keys] if k in records]
        failed = [r for r in stored if not r.done]
        found = [records[k] for k in cp.eval_keys if k in records and records[k].done]
        if not found:
            out.append(Compared(cell, FAILED if failed else NOT_RUN, reason=failed[0].error or "" if failed else ""))
            continue
        by_set: dict[str | None, list[float]] = defaultdict(list)
        for r in found:
            by_set[r.condensation].append(r.accuracy)
        ours = score(r.accuracy for r in found)
        values, level = level_values(list(by_set.values()), whole=cell.whole)
        interval = t_interval(values, level)
        sd = 100 * statistics.stdev(values) if len(values) > 1 else cell.paper.std or 0.0
        delta = 100 * ours.mean - cell.paper.mean
        bound = noise_bound(cell.paper.std, cell.paper.n, sd, len(values))
        reason = f"{len(failed)} of its cells failed; the rest are compared" if failed else ""
        out.append(Compared(cell, verdict(delta, bound), ours, interval, delta, bound, reason,
                            sets=0 if cell.whole else len(by_set)))
    return out


def reproduction_view(rep: Reproduction, key: str = "reproduction") -> View:
    """The table ``dcbench reproduce`` prints and ``--markdown`` writes: one row per cell."""
    rows = []
    for c in rep.cells:
        ours = "—" if c.ours is None else str(c.ours)
        delta = "" if c.delta is None else f"{c.delta:+.1f}"
        bound = "" if c.bound is None else f"{c.bound:.1f}" + ("" if c.cell.paper.std is not None else " (ours only)")
        rows.append(ViewRow([c.cell.row, c.cell.column, str(c.cell.paper), ours, delta, bound,
                             c.verdict + (f": {c.reason}" if c.reason and c.verdict in (FAILED,) else "")]))
    profile = f"profile {rep.profile}" + (" (reduced: not the paper's budgets)" if rep.reduced else "")
    caption = (f"paper: as reported (n = {_ns(rep)}); ours: test accuracy %, mean ± population std (n nets); "
               "Δ = ours − paper; within: |Δ| ≤ 2·√(σ²_paper/n_paper + σ²_ours/n_ours), the bound column, where "
               "ours is over condensed sets when a cell has two or more, else over its nets.")
    if rep.reduced:
        caption += " A reduced profile trains less than the paper: below is expected, and not a failure to reproduce."
    return View(key=key, title=f"{rep.study.spec.title} · {profile}", columns=[
        "row", "column", "paper", "ours", "Δ", "bound", "verdict"], rows=rows, caption=caption, left=2)


def markdown_text(rep: Reproduction) -> str:
    """The reproduction as Markdown: the table, its caption and the study's notes (what differs from
    the paper's setting), for a document to embed."""
    from dcbench.publish.markdown import table

    view = reproduction_view(rep)
    lines = [table(view, heading=None), "", view.caption]
    lines += [f"- {note}" for note in rep.study.notes]
    return "\n".join(lines) + "\n"


def _ns(rep: Reproduction) -> str:
    ns = sorted({c.cell.paper.n for c in rep.cells})
    return "/".join(map(str, ns)) if ns else "—"


def missing_datasets(rep: Reproduction) -> list[str]:
    return sorted({c.cell.dataset for c in rep.cells if c.verdict == MISSING_DATA})


def counts(rep: Reproduction) -> dict[str, Any]:
    return {kind: rep.count(kind) for kind in ("within", "below", "above", MISSING_DATA, NOT_RUN, REFUSED, FAILED)
            if rep.count(kind)}
