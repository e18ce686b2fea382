"""Publishing a leaderboard as files: Markdown, CSV, JSON, a static web page, image grids, plots.

Every output is rendered from one :class:`Page` (sections of :class:`~dcbench.leaderboard.View`
tables, figures and plots), so the Markdown and the web page show the same numbers as
``dcbench leaderboard show``. The folder keeps a manifest of what was generated: publishing again
replaces those files only, and refuses to overwrite a file it did not write.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dcbench.errors import UserError
from dcbench.files import write_atomically
from dcbench.leaderboard import (
    IMPORTED_NOTE,
    MATRIX_NOTE,
    RECIPE_NOTE,
    SCORE_NOTE,
    THIRD_PARTY_NOTE,
    Leaderboard,
    View,
    method_matrix,
    overview,
    provenance,
    ranking,
    ranking_note,
    setting_key,
    slug,
)
from dcbench.protocol_board import PROTOCOL_NOTE, ProtocolEntry, protocol_views
from dcbench.publish.plot import accuracy_plot, plot_groups
from dcbench.reproduce import Reproduction, reproduction_view
from dcbench.runtime import digest
from dcbench.version import __version__

MANIFEST = ".dcbench-publish.json"
IMAGES = "images"
PLOTS = "plots"


@dataclass
class Figure:
    path: str  # relative to the published folder
    caption: str


@dataclass
class Plot:
    path: str
    svg: str
    caption: str


@dataclass
class Section:
    heading: str
    level: int
    anchor: str
    paragraphs: list[str] = field(default_factory=list)
    views: list[View] = field(default_factory=list)
    plots: list[Plot] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


@dataclass(frozen=True)
class Link:
    """A file beside a page: named in its Markdown and in its HTML version (each points to its own kind)."""

    label: str
    markdown: str | None  # the target from the Markdown page; None: not linked there
    html: str | None


@dataclass
class Page:
    title: str
    sections: list[Section]
    links: list[Link] = field(default_factory=list)  # shown under the first heading


@dataclass
class Published:
    folder: Path
    files: list[str]
    records: int  # rows of results.csv and protocols.csv
    images: int
    missing_images: list[str]  # why a synthesis has no picture (e.g. its artifact was deleted)


def image_name(synthesis: tuple) -> str:
    setting, condenser, variant, synth_net = synthesis
    return f"{IMAGES}/" + slug(setting_key(setting), condenser, variant and digest(variant, 8),
                               synth_net or "selection") + ".png"


def _grids(board: Leaderboard, results: Path) -> tuple[dict[tuple, Any], list[str]]:
    """The image grid of each synthesis's first run; a set that cannot be read is reported, not fatal."""
    from dcbench.artifacts import image_grid, load_artifact

    grids, missing = {}, []
    for synthesis, artifact in sorted(board.artifacts.items(), key=lambda item: image_name(item[0])):
        try:
            loaded = load_artifact(artifact, results)
        except UserError as exc:
            missing.append(f"{synthesis[1]} on {synthesis[0].label} (synthesis net {synthesis[3] or '—'}): {exc}")
            continue
        grids[synthesis] = image_grid(loaded)
    return grids, missing


def records(board: Leaderboard, images: dict[tuple, str]) -> list[dict[str, Any]]:
    """One record per leaderboard entry: its numbers, whether Table 1 shows it, cost and provenance."""
    defaults = {board.default(s, m) for s in board.settings() + board.settings(whole=True)
                for m in board.methods(s)}
    found = []
    for e in board.entries:
        cost = board.cost(e)
        p = e.provenance
        found.append({
            "profile": e.profile, "dataset": e.dataset, "dataset_options": json.loads(e.setting.options),
            "ipc": e.ipc, "condenser": e.condenser, "variant": e.method.variant, "schedule": e.schedule,
            "recipe": e.recipe,
            "label": e.method.label, "third_party": e.third_party, "imported": e.method.imported,
            "synth_net": e.synth_net, "cls_net": e.cls_net,
            "accuracy_mean": e.score.mean, "accuracy_std": e.score.std, "n": e.score.n, "runs": e.runs,
            "ci95_low": e.interval.low if e.interval else None, "ci95_high": e.interval.high if e.interval else None,
            "ci_over": e.interval.level if e.interval else None,
            "vs_baseline": e.score.mean - base.score.mean if (base := board.baseline_of(e)) else None,
            "of_whole": e.score.mean / whole.score.mean if (whole := board.whole_of(e)) and whole.score.mean else None,
            "default": e in defaults,
            "synthesis_seconds_mean": cost.seconds.mean if cost else None,
            "synthesis_seconds_std": cost.seconds.std if cost else None,
            "syntheses": cost.seconds.n if cost else None,
            "peak_memory_bytes": dict(cost.peak_memory) if cost else {},
            "condenser_version": list(p.condenser_versions), "condenser_origin": p.condenser_origin,
            "cls_net_version": list(p.cls_net_versions), "dataset_version": list(p.dataset_versions),
            "versions": {name: list(seen) for name, seen in p.versions},
            "synthesis_devices": list(p.synthesis_devices), "evaluation_devices": list(p.evaluation_devices),
            "artifact": board.artifacts.get(e.synthesis), "image": images.get(e.synthesis),
        })
    return found


def _csv(rows: list[dict[str, Any]]) -> str:
    def flat(value: Any) -> Any:
        if isinstance(value, dict):
            return "; ".join(f"{k} {'/'.join(v) if isinstance(v, list) else v}" for k, v in value.items())
        if isinstance(value, list):
            return "; ".join(map(str, value))
        return "" if value is None else value

    buffer = io.StringIO()
    # the union of the rows' columns, in order of appearance (protocols' metrics differ between rows)
    writer = csv.DictWriter(buffer, fieldnames=list(dict.fromkeys(k for r in rows for k in r)), lineterminator="\n",
                            restval="")
    writer.writeheader()
    writer.writerows({k: flat(v) for k, v in r.items()} for r in rows)
    return buffer.getvalue()


def protocol_records(entries: list[ProtocolEntry]) -> list[dict[str, Any]]:
    """One row per protocol entry: its setting, method, score and metric means (the protocols' files)."""
    return [{"protocol": e.setting.protocol, "protocol_version": e.setting.version,
             "protocol_config": json.loads(e.setting.config), "profile": e.setting.profile,
             "dataset": e.setting.dataset, "dataset_options": json.loads(e.setting.options), "ipc": e.setting.ipc,
             "condenser": e.condenser, "synth_net": e.synth_net, "cls_net": e.cls_net, "baseline": e.baseline,
             "value_mean": 100 * e.score.mean, "value_std": 100 * e.score.std, "n": e.score.n, "sets": e.sets,
             **{f"mean_{k}": v for k, v in sorted(e.metrics.items())}} for e in entries]


def page(board: Leaderboard, images: dict[tuple, str], plots: dict[Any, Plot], missing: list[str],
         filters: dict[str, Any], *, reproduced: bool = False) -> Page:
    asked = ", ".join(f"{k} {v}" for k, v in filters.items() if v is not None) or "none (everything stored)"
    how = [
        f"Published by dcbench {__version__}. Filters: {asked}. Every number is in results.csv and "
        "results.json with the versions, profile and hardware that produced it.",
        f"Entries: {SCORE_NOTE}. Profiles, data-set serving options, schedules, evaluation recipes and "
        "condenser configurations are never averaged together: a condenser stored with several configurations "
        "in one setting gets a row per configuration, named by what differs.",
        f"Per-condenser matrices: {MATRIX_NOTE}",
        f"Rankings: {ranking_note(board)}",
    ]
    if board.third_party:
        how.append(THIRD_PARTY_NOTE + ".")
    if board.imported:
        how.append(IMPORTED_NOTE + ".")
    if board.recipes:
        how.append(RECIPE_NOTE + ".")
    sections = [Section("dcbench leaderboard", 1, "top", how)]
    for profile in board.profiles():
        top = Section(f"Profile {profile}", 2, slug("profile", profile), views=[overview(board, profile)])
        top.plots = [plots[data] for data in plot_groups(board, profile)]
        sections.append(top)
        for setting in board.settings(profile):
            part = Section(f"{setting.label} · profile {profile}", 3, slug("setting", setting_key(setting)),
                           views=[ranking(board, setting), *(method_matrix(board, setting, m)
                                                             for m in board.methods(setting))])
            for synthesis in sorted((k for k in images if k[0] == setting), key=lambda k: (k[1], k[2], k[3] or "")):
                _, condenser, variant, synth_net = synthesis
                label = condenser + (f" [{variant}]" if variant else "")
                part.figures.append(Figure(images[synthesis], f"{label} · synthesis net {synth_net or '—'} · "
                                                               f"artifact {board.artifacts[synthesis][:12]}"))
            sections.append(part)
    protocols = protocol_views(board.protocol_entries)
    if protocols:
        sections.append(Section("Other protocols", 2, "protocols", [
            f"Condensed sets used as the protocols of docs/protocols.md say, one table per protocol setting: "
            f"{PROTOCOL_NOTE}. Their records are in protocols.csv and protocols.json."]))
        sections += [Section(view.title, 3, view.key, views=[view]) for view in protocols]
    sections.append(Section("Provenance", 2, "provenance", views=[provenance(board)]))
    if missing:
        sections.append(Section("Images not drawn", 2, "missing-images", missing))
    links = [Link("index.html (the same as a web page)", "index.html", None),
             Link("README.md (the same in Markdown)", None, "README.md"),
             Link("results.csv", "results.csv", "results.csv"), Link("results.json", "results.json", "results.json")]
    if reproduced:
        links.append(Link("the paper tables reproduced", "reproduction.md", "reproduction.html"))
    return Page("dcbench leaderboard", sections, links)


def reproduction_page(reproductions: list[Reproduction]) -> Page:
    """Every study with a stored cell, ours beside the paper's numbers (``dcbench reproduce``, dry run)."""
    sections = [Section("Paper tables reproduced", 1, "top", [
        "Each study cell compares the paper's reported number with the stored evaluations of the same grid cell "
        "under one profile; `dcbench reproduce STUDY` computes the missing ones. Verdicts: within the combined "
        "noise of the two means, below or above the paper, not run, failed, refused (the cell cannot be computed as "
        "written), or missing data.",
    ])]
    for rep in reproductions:
        view = reproduction_view(rep, key=slug("reproduction", rep.study.name, rep.profile))
        sections.append(Section(view.title, 2, view.key, [f"Source: {rep.study.spec.source}.", *rep.study.notes],
                                views=[view]))
    return Page("dcbench: paper tables reproduced", sections,
                [Link("the leaderboard", "README.md", "index.html")])


def publish(board: Leaderboard, out: Path, results: Path, filters: dict[str, Any],
            reproductions: list[Reproduction] = ()) -> Published:
    from dcbench.artifacts import write_png
    from dcbench.publish.html import render_html
    from dcbench.publish.markdown import render_markdown

    grids, missing = _grids(board, results)
    images = {synthesis: image_name(synthesis) for synthesis in grids}
    plots = {data: Plot(f"{PLOTS}/" + slug("accuracy-vs-ipc", setting_key(data).removesuffix("-whole")) + ".svg",
                        accuracy_plot(board, data),
                        f"Each condenser's Table 1 entry against images per class on {data.data}, ± std as bars; "
                        "dashed: whole data.")
             for profile in board.profiles() for data in plot_groups(board, profile)}
    content = page(board, images, plots, missing, filters, reproduced=bool(reproductions))
    rows = records(board, images)
    protocol_rows = protocol_records(board.protocol_entries)
    texts = {
        "README.md": render_markdown(content),
        "index.html": render_html(content),
        "results.csv": _csv(rows),
        "results.json": json.dumps({"generator": f"dcbench {__version__}", "filters": filters, "records": rows},
                                   indent=1, sort_keys=False) + "\n",
        **{plot.path: plot.svg + "\n" for plot in plots.values()},
    }
    if protocol_rows:
        texts |= {"protocols.csv": _csv(protocol_rows),
                  "protocols.json": json.dumps({"generator": f"dcbench {__version__}", "filters": filters,
                                                "records": protocol_rows}, indent=1) + "\n"}
    if reproductions:
        reproduced = reproduction_page(list(reproductions))
        texts |= {"reproduction.md": render_markdown(reproduced), "reproduction.html": render_html(reproduced)}
    generated = sorted([*texts, *images.values()])
    previous = _claim(out, generated)
    for name, text in texts.items():
        write_atomically(out / name, lambda tmp, text=text: tmp.write_text(text, encoding="utf-8"))
    for synthesis, name in images.items():
        write_atomically(out / name, lambda tmp, grid=grids[synthesis]: write_png(grid, tmp))
    for stale in sorted(previous - set(generated)):
        (out / stale).unlink(missing_ok=True)
    for folder in (IMAGES, PLOTS):
        if (out / folder).is_dir() and not any((out / folder).iterdir()):
            (out / folder).rmdir()
    write_atomically(out / MANIFEST, lambda tmp: tmp.write_text(json.dumps(
        {"generator": f"dcbench {__version__}", "files": generated}, indent=1) + "\n", encoding="utf-8"))
    return Published(out, generated, len(rows) + len(protocol_rows), len(images), missing)


def _claim(out: Path, generated: list[str]) -> set[str]:
    """The files an earlier publish wrote here; refuses to overwrite any file it did not write."""
    out.mkdir(parents=True, exist_ok=True)
    previous: set[str] = set()
    manifest = out / MANIFEST
    if manifest.exists():
        try:
            listed = json.loads(manifest.read_text(encoding="utf-8"))["files"]
        except (ValueError, KeyError, TypeError):
            raise UserError(f"{manifest} is not a dcbench publish manifest; delete it to publish into "
                            f"{out}") from None
        root = out.resolve()
        # Only names inside the folder: a hand-edited manifest must not make publish delete elsewhere.
        previous = {str(name) for name in listed if isinstance(name, str)
                    and (out / name).resolve().is_relative_to(root) and (out / name).resolve() != root}
    clashes = [name for name in generated if (out / name).exists() and name not in previous]
    if clashes:
        raise UserError(f"{out / clashes[0]} exists and was not written by `dcbench leaderboard publish`; publish "
                        "into an empty folder or an earlier leaderboard, or move that file away")
    return previous
