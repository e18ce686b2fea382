"""What the CLI prints, as rich tables: leaderboards, a grid's summary, evaluations, timings."""

import itertools
from collections.abc import Sequence

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from dcbench.classification import STANDARD
from dcbench.grid import Skip
from dcbench.grid.result import GridResult
from dcbench.leaderboard import Leaderboard, View, overview, ranking, score, setting_matrix
from dcbench.protocol_board import protocol_views
from dcbench.records import WHOLE, Benchmark, Evaluation
from dcbench.registry import Listing


def rich_table(view: View) -> Table:
    # Text, not markup: a variant label such as "gm [precision=bf16]" would be read as a style tag.
    table = Table(title=Text(view.title), caption=view.caption or None, caption_justify="left")
    for i, column in enumerate(view.columns):
        # In a narrow terminal numbers wrap at spaces rather than being cut short with an ellipsis; the row
        # labels are the last to give way.
        table.add_column(Text(column), justify="left" if i < view.left else "right", overflow="fold",
                         no_wrap=i == 0)
    for row in view.rows:
        table.add_row(*map(Text, row.cells), style="dim" if row.whole else None, end_section=row.ends_group)
    return table


def leaderboard_tables(board: Leaderboard) -> list[Table]:
    """Per profile: the condenser × data-set overview when there is more than one data set or ipc
    to compare (with one, it would repeat the matrix below it), then per setting its matrix and its
    ranking (intervals, gain over the baseline, fraction of whole data); then a table per setting of
    every other protocol."""
    tables = []
    for profile in board.profiles():
        if len(board.columns(profile)) > 1:
            tables.append(rich_table(overview(board, profile)))
        for setting in board.settings(profile):
            tables += [rich_table(setting_matrix(board, setting)), rich_table(ranking(board, setting))]
        if not board.settings(profile):
            tables.append(rich_table(overview(board, profile)))
    tables += [rich_table(view) for view in protocol_views(board.protocol_entries)]
    return tables


def skipped_table(skipped: Sequence[Skip]) -> Table:
    table = Table("skipped", "why", title="left out of this grid", title_justify="left")
    for skip in skipped:
        table.add_row(escape(skip.what), escape(skip.reason))
    return table


def grid_summary(result: GridResult) -> Table:
    table = Table("cells", "count", title="grid summary", title_justify="left")
    for label, value in (("computed now", len(result.done)), ("failed now", len(result.failed)),
                         ("already stored", result.stored), ("failed earlier (kept)", result.kept_failed),
                         ("blocked (their synthesis failed)", result.blocked),
                         ("left out (listed above)", len(result.skipped))):
        if value:
            table.add_row(label, str(value))
    return table


def evaluation_summary(records: Sequence[Evaluation]) -> Table:
    """Mean ± std (n) and seconds per net, per network and schedule, in the order evaluated."""
    first = records[0]
    what = f"whole {first.dataset}" if first.condenser == WHOLE else \
        f"{first.condenser} {first.dataset} ipc {first.ipc}"
    table = Table(title=f"{what} · profile {first.profile}")
    for column in ("network", "accuracy % (mean ± std (n))", "seconds per net"):
        table.add_column(column)
    for (net, schedule), group in itertools.groupby(records, key=lambda r: (r.cls_net, r.schedule)):
        done = [r for r in group if r.done]
        label = net if schedule == STANDARD else f"{net} ({schedule} schedule)"
        table.add_row(label, str(score(r.accuracy for r in done)) if done else "failed",
                      f"{sum(r.wall_s for r in done) / len(done):.1f}" if done else "")
    return table


def benchmark_table(records: Sequence[Benchmark], title: str) -> Table:
    several = len({r.condenser for r in records}) > 1
    table = Table(title=f"{title} · {records[0].device_name}")
    for column in (("condenser",) if several else ()) + ("variant", "implementation", "s / outer iteration",
                                                          "iterations timed", "total s", "peak memory", "status"):
        table.add_column(column)
    for r in records:
        memory = f"{r.peak_mem_bytes / 2**20:,.0f} MiB ({r.peak_mem_kind})" if r.peak_mem_bytes else "—"
        per_iteration = f"{r.seconds_per_iteration:.3f}" if r.seconds_per_iteration is not None else "—"
        timed = str(max(r.iterations - 1, 0)) if r.iterations is not None else "—"
        total = f"{r.wall_s:.2f}" if r.wall_s is not None else "—"
        table.add_row(*((r.condenser,) if several else ()), r.variant, r.implementation or "—", per_iteration, timed,
                      total, memory, r.status if r.done else f"[red]{escape(r.error or '')}[/red]")
    return table


def benchmark_ratios(records: Sequence[Benchmark]) -> list[str]:
    """Each timed variant's speed against the first that finished (per outer iteration: with several
    condensers, an iteration of each is its own method's unit of work)."""
    several = len({r.condenser for r in records}) > 1

    def label(r: Benchmark) -> str:
        if not several:
            return r.variant
        return r.condenser if r.variant == "as configured" else f"{r.condenser} {r.variant}"

    timed = [r for r in records if r.done and r.seconds_per_iteration]
    return [f"{label(timed[0])} / {label(r)}: {timed[0].seconds_per_iteration / r.seconds_per_iteration:.2f}× "
            f"(>1 means {label(r)} is faster)" for r in timed[1:]]


def components_table(listed: list[Listing], *, kinds: bool) -> Table:
    """``dcbench plugins`` (``kinds``: every kind, with status and aliases) or ``dcbench list``."""
    if kinds:
        table = Table("name", "kind", "spec version", "origin", "status", "aliases")
        for row in listed:
            status = "ok" if row.ok else f"[red]{escape(row.error or '')}[/red]"
            table.add_row(row.name, row.kind, _version(row), row.origin, status, ", ".join(row.aliases))
        return table
    table = Table("name", "version", "about", "origin")
    for row in listed:
        about = escape(row.about) if row.ok else f"[red]{escape(row.error or '')}[/red]"
        table.add_row(row.name, _version(row), about, row.origin)
    return table


def _version(row: Listing) -> str:
    if row.version is not None:
        return str(row.version)
    return "—" if row.ok else "?"  # a name space has no version of its own
