"""The ``dcbench`` command line (typer + rich): it parses options, calls :class:`dcbench.Bench`, prints.

User errors: one line on stderr, exit code 2. Exit code 1: a computation failed (its record says why).
"""

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dcbench.bench import DEFAULT_RESULTS, Bench
from dcbench.cli.display import console as err_console
from dcbench.cli.options import (
    CellArgs,
    DataRoot,
    DownloadOpt,
    DryRunOpt,
    EvalsOpt,
    ProfileOpt,
    RecipeOpt,
    Results,
    SeedOpt,
    SetsOpt,
    parse_sets,
    parse_vary,
    uses_bench,
    uses_cell,
    uses_runner,
)
from dcbench.cli.tables import (
    benchmark_ratios,
    benchmark_table,
    components_table,
    evaluation_summary,
    grid_summary,
    leaderboard_tables,
    rich_table,
)
from dcbench.errors import UserError
from dcbench.profiles import budget
from dcbench.recipe import check_recipe
from dcbench.records import Evaluation
from dcbench.store import FILENAME

app = typer.Typer(help="Benchmark dataset condensation: condensers × networks × data sets.",
                  no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode="rich")
out = Console()


# --- synth / eval ------------------------------------------------------------------------------

@app.command()
@uses_bench
@uses_cell
def synth(
    bench: Bench,
    cell: CellArgs,
    cls: Annotated[Optional[str], typer.Option("--cls", help="Also evaluate on these networks (comma list).")] = None,
    evals: EvalsOpt = None,
    rerun: Annotated[bool, typer.Option("--rerun", help="Compute again even if this cell is stored.")] = False,
    recipe: RecipeOpt = None,
    size: Optional[int] = None,
    channels: Optional[int] = None,
    zca: bool = False,
) -> None:
    """Condense a data set into IPC images per class and save the artifact."""
    nets = bench.select("architecture", cls, load=True) if cls else []  # mistakes here stop before synthesis
    if nets:
        budget(evals, 1, "--evals")
    if recipe is not None and not nets:
        raise UserError("--recipe says how the --cls nets train: give --cls, or drop --recipe")
    check_recipe(recipe)
    made = bench.synthesize(cell.condenser, dataset=cell.dataset, ipc=cell.ipc, seed=cell.seed, synth=cell.synth_net,
                            overrides=cell.overrides, profile=cell.profile, size=size, channels=channels, zca=zca,
                            rerun=rerun)
    if not made.done:
        err_console.print(f"[red]synthesis failed[/red]: {escape(made.error or '')} (recorded in "
                          f"{bench.results / FILENAME})")
        raise typer.Exit(1)
    out.print(f"artifact [bold]{made.artifact}[/bold]  ({made.condenser}, {made.dataset}, ipc {made.ipc}, "
              f"{made.wall_s:.1f}s)")
    if nets:
        _print_evaluations(bench.evaluate(made.artifact, cls=nets, evals=evals, seed=cell.seed, profile=cell.profile,
                                          recipe=recipe))


def _print_evaluations(records: list[Evaluation]) -> None:
    out.print(evaluation_summary(records))
    if not all(r.done for r in records):
        raise typer.Exit(1)


@app.command("eval")
@uses_bench
def eval_(
    bench: Bench,
    artifact: Annotated[Optional[str], typer.Argument(help="Artifact id (or prefix) or .safetensors path.")] = None,
    cls: Annotated[str, typer.Option("--cls", help="Classification networks: names, globs, @suites.")] = "convnet",
    evals: EvalsOpt = None,
    whole: Annotated[bool, typer.Option("--whole", help="Train on the whole training split of --dataset.")] = False,
    dataset: Annotated[Optional[str], typer.Option("--dataset", help="Data set (with --whole).")] = None,
    seed: SeedOpt = 0,
    profile: Annotated[Optional[str], typer.Option("--profile", help="Profile \\[default: the artifact's; smoke for "
                                                                     "an imported set].")] = None,
    recipe: RecipeOpt = None,
    size: Optional[int] = None,
    channels: Optional[int] = None,
    zca: bool = False,
) -> None:
    """Train fresh networks on a condensed set (or the whole data) and test them."""
    nets = bench.select("architecture", cls)
    if whole == (artifact is not None):
        raise UserError("give either an ARTIFACT or --whole --dataset NAME")
    if whole:
        if not dataset:
            raise UserError("--whole needs --dataset NAME")
        if recipe not in (None, "dc"):
            raise UserError("--recipe: the whole training split is trained with its own recipe; drop --recipe")
        records = bench.evaluate_whole(dataset=dataset, cls=nets, evals=evals, seed=seed, profile=profile or "smoke",
                                       size=size, channels=channels, zca=zca)
    else:
        records = bench.evaluate(artifact, cls=nets, evals=evals, seed=seed, profile=profile, size=size,
                                 channels=channels, zca=zca, recipe=recipe)
    _print_evaluations(records)


# --- import / export ---------------------------------------------------------------------------

FormatOpt = Annotated[Optional[str], typer.Option("--format", help="dc, mtt, tensors or folder \\[default: told from "
                                                                   "the content].", show_default=False)]


@app.command("import")
@uses_bench
def import_(
    bench: Bench,
    path: Annotated[Path, typer.Argument(help="The file or folder of the set(s) made elsewhere.")],
    dataset: Annotated[str, typer.Option("--dataset", help="The data set the set(s) condense.")],
    format: FormatOpt = None,
    normalization: Annotated[Optional[str], typer.Option(
        "--normalization", help="dataset (normalised with the data set's mean/std), unit (pixels in [0, 1]) or zca "
                                "(whitened; with --zca) \\[default: unit for a folder of images, else dataset].",
        show_default=False)] = None,
    name: Annotated[str, typer.Option("--name", help="The method's name: rows show it as import:NAME.")] = "imported",
    source: Annotated[Optional[str], typer.Option("--source", help="Where the set comes from (paper, URL), "
                                                                   "recorded with it.")] = None,
    images_key: Annotated[str, typer.Option("--images-key", help="The images' name in a tensors file.")] = "images",
    labels_key: Annotated[str, typer.Option("--labels-key", help="The labels' name in a tensors file.")] = "labels",
    recipe: Annotated[str, typer.Option("--recipe", help="How its evaluation nets train unless told otherwise: dc, "
                                                         "or dsa for sets of DSA and DM.")] = "dc",
    size: Optional[int] = None,
    channels: Optional[int] = None,
    zca: bool = False,
) -> None:
    """Import condensed sets made by other codebases (checked, then stored as artifacts); prints their ids.

    Evaluate them with `dcbench eval ID` or `dcbench grid --import ID,ID`."""
    made = bench.import_set(path, dataset=dataset, format=format, normalization=normalization, name=name,
                            source=source, size=size, channels=channels, zca=zca, images_key=images_key,
                            labels_key=labels_key, recipe=recipe)
    for record in made:
        config = record.config or {}
        out.print(f"artifact [bold]{record.artifact}[/bold]  ({record.condenser}, {record.dataset}, ipc {record.ipc}, "
                  f"experiment {record.seed}; {config.get('format')}, normalisation {config.get('normalization')})")


@app.command("export")
def export_(
    artifact: Annotated[str, typer.Argument(help="Artifact id (or prefix) or .safetensors path.")],
    format: Annotated[str, typer.Option("--format", help="dc, mtt, tensors (.pt/.safetensors/.npz by --out's "
                                                         "suffix) or folder (PNG files).")],
    out_path: Annotated[Path, typer.Option("--out", help="The file (dc, tensors) or new folder (mtt, folder).")],
    results: Results = DEFAULT_RESULTS,
) -> None:
    """Write a condensed set as other codebases read it; `dcbench import` of it gives the same set back."""
    done = Bench(results).export(artifact, format=format, out=out_path)
    out.print(f"wrote {len(done.files)} file(s) to {escape(str(out_path))} ({done.format}, normalisation "
              f"{done.normalization}: import it with --normalization {done.normalization})")
    for note in done.notes:
        err_console.print(f"note: {note}", highlight=False)


# --- bench -------------------------------------------------------------------------------------

@app.command("bench")
@uses_bench
@uses_cell
def bench_(
    bench: Bench,
    cell: CellArgs,
    iterations: Annotated[int, typer.Option("--iterations", help="Outer iterations to time (first is warm-up).")] = 4,
    compare: Annotated[bool, typer.Option("--compare", help="Time every implementation and print ratios.")] = False,
    vary: Annotated[list[str], typer.Option("--vary", help="Also time these values of a hyperparameter, "
                                                           "key=v1,v2 (repeatable; with --compare, per "
                                                           "implementation).")] = [],
    size: Optional[int] = None,
    channels: Optional[int] = None,
    zca: bool = False,
) -> None:
    """Time a condenser (seconds per outer iteration or in total, peak memory) without evaluating it.

    -c may name several (gm,dsa,dm), timed one after the other in this run. Runs cold in a scratch
    folder (no cached whole-data run). On CPU, peak memory is the process's high-water mark: time
    condensers in separate commands to compare their memory. Ratios compare every variant with the first."""
    timed = bench.benchmark(cell.condenser, synth=cell.synth_net, dataset=cell.dataset, ipc=cell.ipc,
                            iterations=iterations, compare=compare, vary=parse_vary(vary), seed=cell.seed,
                            profile=cell.profile, overrides=cell.overrides, size=size, channels=channels, zca=zca)
    names = ", ".join(dict.fromkeys(r.condenser for r in timed))
    out.print(benchmark_table(timed, f"{names} · {cell.dataset} · ipc {cell.ipc} · synth {cell.synth_net or '—'}"))
    for line in benchmark_ratios(timed):
        out.print(line)


# --- grid --------------------------------------------------------------------------------------

@app.command()
@uses_bench
@uses_runner
def grid(
    bench: Bench,
    runner_options: dict,
    condenser: Annotated[Optional[str], typer.Option("--condenser", "-c", help="Condensers: names, globs, lists, all "
                                                                            "\\[default: all; none with --import].",
                                                     show_default=False)] = None,
    imports: Annotated[Optional[str], typer.Option("--import", help="Also evaluate these stored sets (artifact ids "
                                                                    "or prefixes, a comma list; see `dcbench "
                                                                    "import`) on every --cls net.")] = None,
    synth_net: Annotated[str, typer.Option("--synth", help="Synthesis nets (for condensers that need one): "
                                                           "names, globs, @suites, all.")] = "convnet",
    cls: Annotated[str, typer.Option("--cls", help="Classification nets: names, globs, @suites, all.")] = "convnet",
    dataset: Annotated[str, typer.Option("--dataset", help="Data sets: names, globs, lists, all.")] = "digits",
    ipc: Annotated[str, typer.Option("--ipc", help="Images per class, a comma list: 1,10,50.")] = "1",
    runs: Annotated[Optional[int], typer.Option("--runs", help="Condensed sets per cell, seeds SEED, SEED+1, … "
                                                               "\\[default: profile's].")] = None,
    evals: EvalsOpt = None,
    seed: SeedOpt = 0,
    profile: ProfileOpt = "smoke",
    sets: Annotated[list[str], typer.Option("--set", help="Hyperparameter override key=value for every selected "
                                                          "condenser that has the key; protocol.KEY=VALUE sets "
                                                          "the protocol's (repeatable).")] = [],
    protocol: Annotated[str, typer.Option("--protocol", help="What the sets are used for: classification, "
                                                             "continual, domain_adaptation, … (`dcbench list "
                                                             "protocols`).")] = "classification",
    whole: Annotated[bool, typer.Option("--whole", help="Also train the classification nets on the whole "
                                                        "training split.")] = False,
    rerun: Annotated[str, typer.Option("--rerun", help="missing: cells with no stored result; failed: those and "
                                                       "failed ones; all: every cell.")] = "missing",
    dry_run: DryRunOpt = False,
    recipe: RecipeOpt = None,
    size: Optional[int] = None,
    channels: Optional[int] = None,
    zca: bool = False,
) -> None:
    """Run a grid: condensers × synthesis nets × classification nets × data sets × ipc × runs.

    Only cells missing from the store are computed; killing a grid loses no finished result."""
    result = bench.grid(condenser, synth=synth_net, cls=cls, dataset=dataset, ipc=ipc, runs=runs, evals=evals,
                        seed=seed, profile=profile, overrides=parse_sets(sets), whole=whole, rerun=rerun,
                        dry_run=dry_run, size=size, channels=channels, zca=zca, imports=imports or (), recipe=recipe,
                        protocol=protocol, **runner_options)
    typos = result.typo_error()
    if dry_run:
        if typos:
            raise typos
        return
    if result.run_id is None:
        err_console.print("nothing to compute: every cell of this grid is stored")
    out.print(grid_summary(result))
    ipc_shown = result.ipcs[0] if len(result.ipcs) == 1 else None
    for name in result.datasets:
        try:
            board = bench.leaderboard(dataset=name, ipc=ipc_shown, profile=result.profile)
        except UserError:  # nothing of this data set was evaluated (every cell of it failed)
            continue
        for table in leaderboard_tables(board):
            out.print(table)
    failed = len(result.failed) + result.kept_failed
    if failed:
        err_console.print(f"{failed} cell(s) of this grid failed; their errors are in {bench.results / FILENAME} "
                          "(`--rerun failed` computes them again)", highlight=False)
    if result.broken:
        err_console.print(f"left out because their plugin failed to load: {', '.join(result.broken)} (see `dcbench "
                          "plugins`); fix or uninstall it and run the same grid again", highlight=False)
    if typos:
        raise typos
    if not result.complete:
        raise typer.Exit(1)


# --- show --------------------------------------------------------------------------------------

# --- reproduce ---------------------------------------------------------------------------------

@app.command()
@uses_bench
@uses_runner
def reproduce(
    bench: Bench,
    runner_options: dict,
    study: Annotated[str, typer.Argument(help="A study (`dcbench list studies`) or a study's YAML file.")],
    dataset: Annotated[Optional[str], typer.Option("--dataset", help="Only this data set's cells.")] = None,
    ipc: Annotated[Optional[int], typer.Option("--ipc", help="Only this ipc's cells (and the whole-data "
                                                             "ones).")] = None,
    profile: ProfileOpt = "smoke",
    runs: Annotated[Optional[int], typer.Option("--runs", help="Condensed sets per cell \\[default: profile's].",
                                                show_default=False)] = None,
    evals: EvalsOpt = None,
    whole_evals: Annotated[int, typer.Option("--whole-evals", help="Nets per whole-data cell (each trains on the "
                                                                   "whole split).")] = 1,
    seed: SeedOpt = 0,
    rerun: Annotated[str, typer.Option("--rerun", help="missing: cells with no stored result; failed: those and "
                                                       "failed ones; all: every cell.")] = "missing",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Compute nothing: say what is missing and compare "
                                                            "what is stored.")] = False,
    markdown: Annotated[Optional[Path], typer.Option("--markdown", help="Also write the table as Markdown to "
                                                                        "this file.")] = None,
) -> None:
    """Reproduce a paper's table: run the cells still missing, then print ours beside the paper's numbers.

    Each cell gets a verdict: within the combined noise of the two means, below or above the paper;
    cells whose data set is missing are listed, not failed. Resumable: run it again and it computes
    only what is missing."""
    from dcbench.reproduce import MISSING_DATA, counts, markdown_text, missing_datasets, reproduction_view

    if markdown is not None and not markdown.parent.is_dir():
        raise UserError(f"--markdown {markdown}: the folder {markdown.parent} does not exist; create it first")
    rep = bench.reproduce(study, dataset=dataset, ipc=ipc, profile=profile, runs=runs, evals=evals,
                          whole_evals=whole_evals, seed=seed, rerun=rerun, dry_run=dry_run, **runner_options)
    view = reproduction_view(rep)
    out.print(rich_table(view))
    tally = ", ".join(f"{n} {kind}" for kind, n in counts(rep).items())
    done = (f"dry run: {rep.to_compute} cells to compute, {rep.stored} stored" if rep.dry_run else
            f"computed {rep.to_compute} cells now, {rep.stored} were stored" if rep.to_compute else
            f"nothing to compute: all {rep.stored} cells were stored")
    if rep.kept_failed:
        done += f", {rep.kept_failed} failed earlier (--rerun failed computes them again)"
    err_console.print(f"{done}; verdicts: {tally}", highlight=False)
    if missing := missing_datasets(rep):
        err_console.print(f"{MISSING_DATA}: {', '.join(missing)} (put the files under {bench.data_root} or add "
                          "--download where there is network)", highlight=False)
    if markdown is not None:
        markdown.write_text(markdown_text(rep), encoding="utf-8")
        err_console.print(f"wrote {markdown}", highlight=False)


@app.command()
def show(
    artifact: Annotated[str, typer.Argument(help="Artifact id (or prefix) or .safetensors path.")],
    png: Annotated[Optional[Path], typer.Option("--png", help="Image grid file \\[default: ./<id>.png].")] = None,
    results: Results = DEFAULT_RESULTS,
) -> None:
    """Print an artifact's metadata and write a PNG grid of its images, one row per class."""
    from dcbench.artifacts import image_grid, write_png
    from dcbench.cells import origin_text

    loaded = Bench(results).artifact(artifact)
    meta = loaded.metadata
    table = Table(title=f"artifact {loaded.id}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key in ("condenser", "condenser_version", "config", "dataset", "dataset_version", "options", "synth_net",
                "ipc", "seed", "profile", "normalisation", "key"):
        table.add_row(key, str(meta.get(key)))
    table.add_row("origin", origin_text(meta["condenser_origin"]))
    for key in ("labels", "set_lr", "same_as"):
        if key in meta:
            table.add_row(key, str(meta[key]))
    table.add_row("images", f"{tuple(loaded.condensed.images.shape)}")
    if loaded.condensed.indices is not None:
        indices = loaded.condensed.indices.tolist()
        table.add_row("indices", str(indices[:20]) + (" …" if len(indices) > 20 else ""))
    for name, value in loaded.condensed.extras.items():
        table.add_row(f"extra {name}", f"{tuple(value.shape)}")
    table.add_row("file", str(loaded.path))
    out.print(table)
    grid = image_grid(loaded)
    path = write_png(grid, png or Path(f"{loaded.id[:12]}.png"))
    out.print(f"image grid written to {path}")


# --- list / plugins ----------------------------------------------------------------------------

KINDS = {"condensers": "condenser", "architectures": "architecture", "datasets": "dataset",
         "studies": "study", "protocols": "protocol"}
CHECKABLE = ("condenser", "architecture", "dataset", "protocol")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a JSON list instead of a table.")]


@app.command("list")
def list_(
    what: Annotated[str, typer.Argument(help="condensers, architectures, datasets, studies, protocols, suites or "
                                             "profiles.")],
    pattern: Annotated[Optional[str], typer.Argument(help="Selector or glob, e.g. 'convnet*' or 'timm:*res*'.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List registered components, suites or profiles."""
    from dcbench.registry import get_registry

    reg = get_registry()
    if what == "suites":
        rows = [{"name": name, "members": members} for name, members in reg.suites.items()]
        table = Table("suite", "members")
        for row in rows:
            table.add_row("@" + row["name"], ", ".join(row["members"]))
    elif what == "profiles":
        rows = [p.to_json() for p in reg.profiles.values()]
        table = Table("profile", "K", "runs × evals", "cls epochs (aug)", "whole-data epochs", "for")
        for p in reg.profiles.values():
            table.add_row(p.name, str(p.iterations), f"{p.runs} × {p.evals}", f"{p.cls_epochs} ({p.cls_epochs_aug})",
                          str(p.whole_epochs), p.description)
    elif what in KINDS:
        listed = Bench().components(KINDS[what], pattern)
        rows = [row.to_json() for row in listed]
        table = components_table(listed, kinds=False)
    else:
        raise UserError(f"cannot list '{what}': choose condensers, architectures, datasets, studies, protocols, "
                        "suites or profiles")
    _print_listing(table, rows, as_json)


@app.command()
def plugins(as_json: JsonOpt = False) -> None:
    """Every registered component with its kind, spec version and origin; broken plugins in red.

    Exits 0 even when some are broken (the others work); each broken row says why."""
    listed = Bench().components()
    _print_listing(components_table(listed, kinds=True), [row.to_json() for row in listed], as_json)
    broken = sum(not row.ok for row in listed)
    if broken:
        err_console.print(f"{broken} plugin(s) failed to load; the others work")


def _print_listing(table: Table, rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows, indent=2))
    elif out.is_terminal:
        out.print(table)
    else:  # piped: every name in full, never cut to the width of a terminal there is none of
        Console(file=out.file, width=1_000_000, no_color=True).print(table)


# --- check -------------------------------------------------------------------------------------

@app.command()
def check(
    kind: Annotated[str, typer.Argument(help="condenser, architecture, dataset or protocol.")],
    name: Annotated[str, typer.Argument(help="The registered name (an alias, or prefix:model for networks).")],
    sets: SetsOpt = [],
    profile: ProfileOpt = "smoke",
    data_root: DataRoot = None,
    download: DownloadOpt = False,
) -> None:
    """Run dcbench's conformance checks (dcbench.testing) on a component, in seconds on tiny data.

    Exit code 0 when every check passes; 1 naming the check that failed, with what it found."""
    if kind not in CHECKABLE:
        raise UserError(f"cannot check a {kind}: choose condenser, architecture, dataset or protocol")
    results = Bench(data_root=data_root, download=download).check(kind, name, overrides=parse_sets(sets),
                                                                 profile=profile)
    for result in results:
        mark = "[green]✓[/green]" if result.passed else "[red]✗[/red]"
        out.print(f"{mark} {result.name}" + ("" if result.passed else f": {escape(result.error or '')}"))
    failed = [r for r in results if not r.passed]
    if failed:
        err_console.print(f"{kind} '{name}' failed the check '{failed[0].name}'")
        raise typer.Exit(1)
    out.print(f"{kind} '{name}' passes all {len(results)} checks")


# --- leaderboard -------------------------------------------------------------------------------

leaderboard_app = typer.Typer(help="Leaderboards from the results store.", invoke_without_command=True)
app.add_typer(leaderboard_app, name="leaderboard")

LbDataset = Annotated[Optional[str], typer.Option("--dataset", help="Only this data set.")]
LbIpc = Annotated[Optional[int], typer.Option("--ipc", help="Only this many images per class.")]
LbProfile = Annotated[Optional[str], typer.Option("--profile", help="Only this profile.")]


@leaderboard_app.callback()
def leaderboard(ctx: typer.Context, dataset: LbDataset = None, ipc: LbIpc = None, profile: LbProfile = None,
                results: Results = DEFAULT_RESULTS) -> None:
    """Leaderboards from the results store (`show` is the default)."""
    if ctx.invoked_subcommand is None:
        show_leaderboard(dataset=dataset, ipc=ipc, profile=profile, results=results)
        return
    # `dcbench leaderboard --dataset x publish` would otherwise publish everything, silently. (By name:
    # typer vendors its own copy of click's ParameterSource enum.)
    given = [f"--{name}" for name in ("dataset", "ipc", "profile", "results")
             if getattr(ctx.get_parameter_source(name), "name", None) == "COMMANDLINE"]
    if given:
        raise UserError(f"give {', '.join(given)} after the subcommand: dcbench leaderboard "
                        f"{ctx.invoked_subcommand} {' '.join(given)} …")


@leaderboard_app.command("show")
def show_leaderboard(dataset: LbDataset = None, ipc: LbIpc = None, profile: LbProfile = None,
                     results: Results = DEFAULT_RESULTS) -> None:
    """Condenser × network tables per data set, ipc and profile: mean ± std (n), synthesis cost."""
    for table in leaderboard_tables(Bench(results).leaderboard(dataset=dataset, ipc=ipc, profile=profile)):
        out.print(table)


@leaderboard_app.command("publish")
def publish_leaderboard(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the leaderboard into.")] = Path("leaderboard"),
    dataset: LbDataset = None,
    ipc: LbIpc = None,
    profile: LbProfile = None,
    results: Results = DEFAULT_RESULTS,
    data_root: DataRoot = None,
) -> None:
    """Write README.md, results.csv/json, a static index.html, image grids and plots into --out, and the
    paper tables with a stored cell into reproduction.md/.html.

    Publishing into an earlier leaderboard replaces the files it generated, nothing else."""
    done = Bench(results, data_root=data_root).publish(out_dir, dataset=dataset, ipc=ipc, profile=profile)
    if done.missing_images:
        err_console.print(f"[yellow]{len(done.missing_images)} image grid(s) not drawn[/yellow]: artifact missing or "
                          "unreadable (listed under 'Images not drawn' in README.md)")
    out.print(f"published {done.records} entries, {done.images} image grid(s) and {len(done.files)} files to "
              f"{escape(str(done.folder))} (open {escape(str(done.folder / 'index.html'))})")


def _print_versions(asked: bool) -> None:
    if not asked:
        return
    from dcbench.registry import get_registry
    from dcbench.runtime import versions

    for name, version in versions().items():
        out.print(f"{name} {version}", highlight=False)
    try:
        plugins = get_registry().distributions()
    except UserError as exc:
        out.print(f"plugins: not listed, {exc}", highlight=False, markup=False)
        raise typer.Exit() from None
    for name, version in plugins.items():
        out.print(f"{name} {version}", highlight=False)
    raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_print_versions,
        help="Print the versions of dcbench, torch, Python and the plugins' distributions, and exit.")] = False,
) -> None:
    pass


def main() -> None:
    try:
        app()
    except UserError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted; finished results are kept")
        sys.exit(130)
