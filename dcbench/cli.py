"""The ``dcbench`` command line (typer + rich). User errors: one line on stderr, exit code 2."""

from __future__ import annotations

import dataclasses
import itertools
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dcbench import __version__
from dcbench.errors import UserError
from dcbench.progress import console as err_console
from dcbench.progress import progress, reporter

app = typer.Typer(help="Benchmark dataset condensation: condensers × networks × data sets.",
                  no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode="rich")
out = Console()

# --- shared options (one spelling everywhere, DESIGN.md) --------------------------------------

Results = Annotated[Path, typer.Option("--results", envvar="DCBENCH_RESULTS",
                                       help="Folder holding results.sqlite, artifacts/ and cache/.")]
DataRoot = Annotated[Optional[Path], typer.Option("--data-root", envvar="DCBENCH_DATA", show_default=False,
                                                  help="Data sets folder \\[default: ~/.cache/dcbench/data].")]
ProfileOpt = Annotated[str, typer.Option("--profile", help="Protocol profile: smoke, cpu or paper.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto (CUDA when present), cpu, cuda or cuda:N.")]
DownloadOpt = Annotated[bool, typer.Option("--download", help="Download missing data sets (needs network).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Base seed: same seed, same result on CPU.")]
SizeOpt = Annotated[Optional[int], typer.Option("--size", help="Serve images resized to SIZE×SIZE.")]
ChannelsOpt = Annotated[Optional[int], typer.Option("--channels", help="Serve images with 1 or 3 channels.")]
EvalsOpt = Annotated[Optional[int], typer.Option("--evals", help="Fresh nets per network \\[default: profile's].")]
CondenserOpt = Annotated[str, typer.Option("--condenser", "-c", help="Condenser (see `dcbench list condensers`).")]
DatasetOpt = Annotated[str, typer.Option("--dataset", help="Data set name.")]
IpcOpt = Annotated[int, typer.Option("--ipc", help="Images per class.")]
SynthOpt = Annotated[Optional[str], typer.Option("--synth", help="Synthesis net, if the method needs one.")]
SetsOpt = Annotated[list[str], typer.Option("--set", help="Hyperparameter override key=value (repeatable).")]

DEFAULT_RESULTS = Path("dcbench-results")


def _workspace(results: Path, data_root: Path | None, device: str, download: bool = False):
    from dcbench.cells import Workspace
    from dcbench.dataset import default_data_root
    from dcbench.runtime import resolve_device

    return Workspace(results=results.resolve(), data_root=(data_root or default_data_root()).resolve(),
                     device=resolve_device(device), download=download)


def _parse_sets(pairs: list[str]) -> tuple[tuple[str, Any], ...]:
    """``--set key=value`` hyperparameter overrides; values are YAML scalars (1, 0.1, true, noise)."""
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--set expects key=value, got '{pair}'")
        try:
            parsed[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise UserError(f"--set {key}: cannot read value '{value}'") from None
    return tuple(sorted(parsed.items()))


def _parse_vary(pairs: list[str]) -> list[tuple[str, list[Any]]]:
    """``--vary key=v1,v2``: each value a YAML scalar, as for ``--set`` (so values hold no commas)."""
    parsed = []
    for pair in pairs:
        key, sep, values = pair.partition("=")
        parts = [part.strip() for part in values.split(",")]
        if not sep or not key.strip() or not all(parts):
            raise UserError(f"--vary expects key=value1,value2 with no empty value, got '{pair}'")
        try:
            parsed.append((key.strip(), [yaml.safe_load(part) for part in parts]))
        except yaml.YAMLError:
            raise UserError(f"--vary {key}: cannot read the values '{values}'") from None
    return parsed


# --- synth / eval ------------------------------------------------------------------------------

@app.command()
def synth(
    condenser: CondenserOpt,
    dataset: DatasetOpt = "digits",
    ipc: IpcOpt = 1,
    synth_net: SynthOpt = None,
    seed: SeedOpt = 0,
    profile: ProfileOpt = "smoke",
    sets: SetsOpt = [],
    cls: Annotated[Optional[str], typer.Option("--cls", help="Also evaluate on these networks (comma list).")] = None,
    evals: EvalsOpt = None,
    rerun: Annotated[bool, typer.Option("--rerun", help="Compute again even if this cell is stored.")] = False,
    size: SizeOpt = None,
    channels: ChannelsOpt = None,
    results: Results = DEFAULT_RESULTS,
    data_root: DataRoot = None,
    device: DeviceOpt = "auto",
    download: DownloadOpt = False,
) -> None:
    """Condense a data set into IPC images per class and save the artifact."""
    from dcbench.cells import SynthCell, check_inputs, run_synth
    from dcbench.dataset import DatasetOptions
    from dcbench.registry import get_registry
    from dcbench.store import Store

    ws = _workspace(results, data_root, device, download)
    nets = get_registry().select("architecture", cls) if cls else []
    cell = SynthCell(condenser=condenser, dataset=dataset, ipc=ipc, seed=seed, profile=profile, synth_net=synth_net,
                     options=DatasetOptions(size=size, channels=channels), overrides=_parse_sets(sets))
    resolved = cell.resolved()
    store = Store(ws.results)
    done = store.condensation(resolved.key)
    if done and done["status"] == "done" and not rerun and _artifact_exists(ws, done["artifact"]):
        err_console.print(f"already computed (key {resolved.key}); --rerun computes it again")
        row = done
    else:
        check_inputs(ws, resolved)  # user errors surface before any run is recorded
        run_id = store.start_run("synth", sys.argv[1:], ws.device.type, _versions())
        name = resolved.identity["condenser"]
        try:
            with progress() as bar:
                row = run_synth(ws, resolved, report=reporter(bar, f"{name} {dataset} ipc {ipc}", None))
        except BaseException:
            store.finish_run(run_id, "interrupted")
            raise
        store.record_condensation({**row, "run_id": run_id})
        store.finish_run(run_id, row["status"])
        if row["status"] != "done":
            err_console.print(f"[red]synthesis failed[/red]: {escape(row['error'])} (recorded in {store.path})")
            raise typer.Exit(1)
    out.print(f"artifact [bold]{row['artifact']}[/bold]  ({row['condenser']}, {row['dataset']}, ipc {row['ipc']}, "
              f"{row['wall_s']:.1f}s)")
    if nets:
        _evaluate(ws, store, row["artifact"], nets, evals, seed, profile)


def _artifact_exists(ws, artifact_id: str | None) -> bool:
    from dcbench.artifacts import resolve

    try:
        return artifact_id is not None and resolve(artifact_id, ws.results).is_file()
    except UserError:
        return False


def _versions() -> dict[str, str]:
    from dcbench.runtime import versions

    return versions()


def _evaluate(ws, store, artifact: str | None, nets: list[str], evals: int | None, seed: int, profile: str,
              dataset: str | None = None, options=None) -> None:
    from dcbench.cells import EvalCell, eval_identity, eval_seed, run_eval, schedules_of
    from dcbench.dataset import DatasetOptions
    from dcbench.leaderboard import score
    from dcbench.registry import get_registry

    options = options or DatasetOptions()
    n = evals or get_registry().profile(profile).evals
    meta = None
    if artifact:
        from dcbench.artifacts import load_artifact

        loaded = load_artifact(artifact, ws.results)
        artifact, meta = loaded.id, loaded.metadata
    run_id = store.start_run("eval", sys.argv[1:], ws.device.type, _versions())
    what = f"{meta['condenser']} {meta['dataset']} ipc {meta['ipc']}" if meta else f"whole {dataset}"
    summary = Table(title=f"{what} · profile {profile}")
    for col in ("network", "accuracy % (mean ± std (n))", "seconds per net"):
        summary.add_column(col)
    failed = 0
    schedules = schedules_of(meta) if meta else ("standard",)
    for net, schedule in itertools.product(nets, schedules):
        label = net if schedule == "standard" else f"{net} ({schedule} schedule)"
        cells = [EvalCell(cls_net=net, eval_index=i, seed=eval_seed(seed, artifact, net, i), profile=profile,
                          artifact=artifact, dataset=dataset, options=options, schedule=schedule) for i in range(n)]
        keys = [eval_identity(c, meta)[0] for c in cells]
        stored = {r["key"]: r for r in store.rows("evaluations", f"key IN ({','.join('?' * len(keys))})", keys)}
        rows = []
        with progress() as bar:
            for cell, key in zip(cells, keys, strict=True):
                if key in stored and stored[key]["status"] == "done":
                    rows.append(stored[key])
                    continue
                row = run_eval(ws, cell, report=reporter(bar, f"{label} net {cell.eval_index + 1}/{n}", None))
                store.record_evaluation({**row, "run_id": run_id})
                rows.append(row)
                if row["status"] != "done":
                    failed += 1
                    err_console.print(f"[red]evaluation failed[/red]: {escape(row['error'])}")
        accs = [r["accuracy"] for r in rows if r["status"] == "done"]
        secs = [r["wall_s"] for r in rows if r["status"] == "done"]
        summary.add_row(label, str(score(accs)) if accs else "failed",
                        f"{sum(secs) / len(secs):.1f}" if secs else "")
    store.finish_run(run_id, "failed" if failed else "done")
    out.print(summary)
    if failed:
        raise typer.Exit(1)


@app.command("eval")
def eval_(
    artifact: Annotated[Optional[str], typer.Argument(help="Artifact id (or prefix) or .safetensors path.")] = None,
    cls: Annotated[str, typer.Option("--cls", help="Classification networks: names, globs, @suites.")] = "convnet",
    evals: EvalsOpt = None,
    whole: Annotated[bool, typer.Option("--whole", help="Train on the whole training split of --dataset.")] = False,
    dataset: Annotated[Optional[str], typer.Option("--dataset", help="Data set (with --whole).")] = None,
    seed: SeedOpt = 0,
    profile: Annotated[Optional[str], typer.Option("--profile", help="Profile \\[default: the artifact's].")] = None,
    size: SizeOpt = None,
    channels: ChannelsOpt = None,
    results: Results = DEFAULT_RESULTS,
    data_root: DataRoot = None,
    device: DeviceOpt = "auto",
    download: DownloadOpt = False,
) -> None:
    """Train fresh networks on a condensed set (or the whole data) and test them."""
    from dcbench.artifacts import load_artifact
    from dcbench.dataset import DatasetOptions
    from dcbench.registry import get_registry
    from dcbench.store import Store

    ws = _workspace(results, data_root, device, download)
    nets = get_registry().select("architecture", cls)
    if whole == (artifact is not None):
        raise UserError("give either an ARTIFACT or --whole --dataset NAME")
    store = Store(ws.results)
    if whole:
        if not dataset:
            raise UserError("--whole needs --dataset NAME")
        _evaluate(ws, store, None, nets, evals, seed, profile or "smoke", dataset=dataset,
                  options=DatasetOptions(size=size, channels=channels))
    else:
        meta = load_artifact(artifact, ws.results).metadata
        _evaluate(ws, store, artifact, nets, evals, seed, profile or meta["profile"])


# --- bench -------------------------------------------------------------------------------------

@app.command()
def bench(
    condenser: CondenserOpt,
    dataset: DatasetOpt = "digits",
    ipc: IpcOpt = 1,
    synth_net: SynthOpt = None,
    iterations: Annotated[int, typer.Option("--iterations", help="Outer iterations to time (first is warm-up).")] = 4,
    compare: Annotated[bool, typer.Option("--compare", help="Time every implementation and print ratios.")] = False,
    vary: Annotated[list[str], typer.Option("--vary", help="Also time these values of a hyperparameter, "
                                                           "key=v1,v2 (repeatable; with --compare, per "
                                                           "implementation).")] = [],
    seed: SeedOpt = 0,
    profile: ProfileOpt = "smoke",
    sets: SetsOpt = [],
    size: SizeOpt = None,
    channels: ChannelsOpt = None,
    results: Results = DEFAULT_RESULTS,
    data_root: DataRoot = None,
    device: DeviceOpt = "auto",
    download: DownloadOpt = False,
) -> None:
    """Time a condenser (seconds per outer iteration or in total, peak memory) without evaluating it.

    Runs cold in a scratch folder (no cached whole-data run). On CPU, peak memory is the process's
    high-water mark: time condensers in separate commands to compare their memory. Ratios compare
    every variant with the first."""
    from dcbench.bench import bench_cell, implementations, iterative, variant_label, variants, with_variant
    from dcbench.cells import SynthCell, check_inputs
    from dcbench.dataset import DatasetOptions
    from dcbench.store import Store

    ws = _workspace(results, data_root, device, download)
    overrides = dict(_parse_sets(sets))
    cell = SynthCell(condenser=condenser, dataset=dataset, ipc=ipc, seed=seed, profile=profile, synth_net=synth_net,
                     options=DatasetOptions(size=size, channels=channels), overrides=())
    resolved = cell.resolved()
    if iterative(resolved):
        overrides.setdefault("iterations", iterations)
    cell = dataclasses.replace(cell, overrides=tuple(sorted(overrides.items())))
    resolved = cell.resolved()
    check_inputs(ws, resolved)
    choices: dict[str, list[Any]] = {}
    if compare:
        if not implementations(resolved):
            raise UserError(f"{resolved.identity['condenser']} has only one implementation; drop --compare")
        choices["implementation"] = list(implementations(resolved))
    for name, values in _parse_vary(vary):
        if name in choices:
            raise UserError(f"--vary {name}: given twice (or with --compare, which varies implementation); "
                            "list every value once: --vary key=value1,value2")
        choices[name] = values
    settings = variants(choices)
    for setting in settings:  # a typo or a bad value stops here, before anything is timed
        with_variant(cell, setting).resolved()
    store = Store(ws.results)
    run_id = store.start_run("bench", sys.argv[1:], ws.device.type, _versions())
    rows = []
    with progress() as bar:
        for setting in settings:
            label = f"{resolved.identity['condenser']} {variant_label(setting) if setting else ''}".strip()
            row = bench_cell(ws, cell, variant=setting, report=reporter(bar, label, None))
            store.record_benchmark({**row, "run_id": run_id})
            rows.append({**row, "variant": variant_label(setting)})
    store.finish_run(run_id, "done" if all(r["status"] == "done" for r in rows) else "failed")
    table = Table(title=f"{resolved.identity['condenser']} · {dataset} · ipc {ipc} · synth {synth_net or '—'}"
                        f" · {rows[0]['device_name']}")
    for col in ("variant", "implementation", "s / outer iteration", "iterations timed", "total s", "peak memory",
                "status"):
        table.add_column(col)
    for r in rows:
        mem = f"{r['peak_mem_bytes'] / 2**20:,.0f} MiB ({r['peak_mem_kind']})" if r["peak_mem_bytes"] else "—"
        spi = f"{r['seconds_per_iteration']:.3f}" if r["seconds_per_iteration"] is not None else "—"
        timed = str(max(r["iterations"] - 1, 0)) if r["iterations"] is not None else "—"
        total = f"{r['wall_s']:.2f}" if r["wall_s"] is not None else "—"
        table.add_row(r["variant"], r["implementation"] or "—", spi, timed, total, mem,
                      r["status"] if r["status"] == "done" else f"[red]{escape(r['error'] or '')}[/red]")
    out.print(table)
    timed = [r for r in rows if r["status"] == "done" and r["seconds_per_iteration"]]
    if len(timed) > 1:
        base = timed[0]
        for r in timed[1:]:
            out.print(f"{base['variant']} / {r['variant']}: "
                      f"{base['seconds_per_iteration'] / r['seconds_per_iteration']:.2f}× "
                      f"(>1 means {r['variant']} is faster)")


# --- grid --------------------------------------------------------------------------------------

@app.command()
def grid(
    condenser: Annotated[str, typer.Option("--condenser", "-c", help="Condensers: names, globs, lists, all.")] = "all",
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
                                                          "condenser that has the key (repeatable).")] = [],
    whole: Annotated[bool, typer.Option("--whole", help="Also train the classification nets on the whole "
                                                        "training split.")] = False,
    rerun: Annotated[str, typer.Option("--rerun", help="missing: cells with no stored result; failed: those and "
                                                       "failed ones; all: every cell.")] = "missing",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would run and stop.")] = False,
    runner: Annotated[str, typer.Option("--runner", help="ray (Ray Tune, every GPU) or local (this process, "
                                                         "no Ray).")] = "ray",
    ray_address: Annotated[Optional[str], typer.Option("--ray-address", help="Join this Ray cluster (host:port) "
                                                                             "instead of a private one.")] = None,
    gpus_per_cell: Annotated[Optional[float], typer.Option(
        "--gpus-per-cell", help="GPUs per cell; fractions share a GPU \\[default: 1 where Ray has GPUs and --device "
                                "is not cpu, else 0].", show_default=False)] = None,
    cpus_per_cell: Annotated[float, typer.Option("--cpus-per-cell", help="CPUs per cell.")] = 1.0,
    ray_cpus: Annotated[Optional[int], typer.Option("--ray-cpus", help="CPUs of the private Ray \\[default: all].",
                                                    show_default=False)] = None,
    ray_gpus: Annotated[Optional[int], typer.Option("--ray-gpus", help="GPUs of the private Ray \\[default: all].",
                                                    show_default=False)] = None,
    size: SizeOpt = None,
    channels: ChannelsOpt = None,
    results: Results = DEFAULT_RESULTS,
    data_root: DataRoot = None,
    device: DeviceOpt = "auto",
    download: DownloadOpt = False,
) -> None:
    """Run a grid: condensers × synthesis nets × classification nets × data sets × ipc × runs.

    Only cells missing from the store are computed; killing a grid loses no finished result."""
    import os

    from dcbench.dataset import DatasetOptions, default_data_root
    from dcbench.grid import GridRequest, GridRun, WorkerSpec, expand, leaderboard_tables, skipped_table, summary_table
    from dcbench.runner import RUNNERS
    from dcbench.runtime import resolve_device
    from dcbench.store import Store

    if runner not in RUNNERS:
        raise UserError(f"--runner must be one of {', '.join(RUNNERS)}, got '{runner}'")
    if runner == "local":
        resolve_device(device)  # under Ray, each worker resolves it where the cell runs
    ipcs = []
    for part in filter(None, (p.strip() for p in ipc.split(","))):
        if not part.lstrip("-").isdigit():
            raise UserError(f"--ipc takes whole numbers separated by commas, got '{ipc}'")
        ipcs.append(int(part))
    results, data_root = results.resolve(), (data_root or default_data_root()).resolve()
    request = GridRequest(condensers=condenser, datasets=dataset, synth=synth_net, cls=cls,
                          ipcs=tuple(dict.fromkeys(ipcs)), seed=seed, profile=profile, runs=runs, evals=evals,
                          options=DatasetOptions(size=size, channels=channels), overrides=_parse_sets(sets),
                          whole=whole)
    plan = expand(request, data_root=data_root, download=download)
    if plan.skipped:
        err_console.print(skipped_table(plan.skipped))
    store = Store(results)
    run = GridRun(plan, store, results, rerun, console=err_console)
    err_console.print(f"grid: {len(plan.synths)} condensed sets, {run.to_compute} cells to compute "
                      f"(cls cells counted per set), {run.counts['stored']} already stored", highlight=False,
                      soft_wrap=True)
    if dry_run:
        _refuse_unknown(plan.skipped)
        return
    if not run.finished:
        worker = WorkerSpec(results=str(results), data_root=str(data_root), device=device,
                            registry=os.environ.get("DCBENCH_REGISTRY"))
        if runner == "local":
            from dcbench.runner.local import LocalRunner

            chosen = LocalRunner(worker)
        else:
            try:
                from dcbench.runner.ray import RayOptions, RayRunner
            except ModuleNotFoundError as exc:
                if exc.name != "ray":
                    raise
                raise UserError("Ray is not installed here: use --runner local, or pip install 'ray[tune]'") from None
            chosen = RayRunner(RayOptions(address=ray_address, cpus_per_cell=cpus_per_cell,
                                          gpus_per_cell=gpus_per_cell, num_cpus=ray_cpus, num_gpus=ray_gpus), worker)
        run.execute_with(chosen, sys.argv[1:])
    else:
        err_console.print("nothing to compute: every cell of this grid is stored")
    out.print(summary_table(run))
    for table in leaderboard_tables(run):
        out.print(table)
    failed = run.counts["failed"] + run.counts["kept failed"]
    if failed:
        err_console.print(f"{failed} cell(s) of this grid failed; their errors are in {store.path} "
                          "(`--rerun failed` computes them again)", highlight=False)
    broken = [skip.what for skip in plan.skipped if skip.cause == "broken"]
    if broken:
        err_console.print(f"left out because their plugin failed to load: {', '.join(broken)} (see `dcbench "
                          "plugins`); fix or uninstall it and run the same grid again", highlight=False)
    _refuse_unknown(plan.skipped)
    if failed or broken:
        raise typer.Exit(1)


def _refuse_unknown(skipped: list) -> None:
    """A typo in a selector is the user's mistake (exit 2), reported once the rest of the grid is stored."""
    unknown = [skip.what for skip in skipped if skip.cause == "unknown"]
    if unknown:
        raise UserError(f"left out because they name nothing known: {', '.join(unknown)} (see the table above "
                        "and `dcbench list`); correct them and run the same grid again to add their cells")


# --- show --------------------------------------------------------------------------------------

@app.command()
def show(
    artifact: Annotated[str, typer.Argument(help="Artifact id (or prefix) or .safetensors path.")],
    png: Annotated[Optional[Path], typer.Option("--png", help="Image grid file \\[default: ./<id>.png].")] = None,
    results: Results = DEFAULT_RESULTS,
) -> None:
    """Print an artifact's metadata and write a PNG grid of its images, one row per class."""
    from dcbench.artifacts import image_grid, load_artifact, write_png

    loaded = load_artifact(artifact, results.resolve())
    meta = loaded.metadata
    table = Table(title=f"artifact {loaded.id}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key in ("condenser", "condenser_version", "config", "dataset", "dataset_version", "options", "synth_net",
                "ipc", "seed", "profile", "normalisation", "key"):
        table.add_row(key, str(meta.get(key)))
    table.add_row("origin", str(meta["condenser_origin"]))
    table.add_row("images", f"{tuple(loaded.condensed.images.shape)}")
    if loaded.condensed.indices is not None:
        indices = loaded.condensed.indices.tolist()
        table.add_row("indices", str(indices[:20]) + (" …" if len(indices) > 20 else ""))
    for name, value in loaded.condensed.extras.items():
        table.add_row(f"extra {name}", f"{tuple(value.shape)}")
    table.add_row("file", str(loaded.path))
    out.print(table)
    norm = meta["normalisation"]
    grid = image_grid(loaded.condensed, norm["mean"], norm["std"], meta["dataset_spec"]["classes"])
    path = write_png(grid, png or Path(f"{loaded.id[:12]}.png"))
    out.print(f"image grid written to {path}")


# --- list / plugins ----------------------------------------------------------------------------

KINDS = {"condensers": "condenser", "architectures": "architecture", "datasets": "dataset"}


@app.command("list")
def list_(
    what: Annotated[str, typer.Argument(help="condensers, architectures, datasets, suites or profiles.")],
    pattern: Annotated[Optional[str], typer.Argument(help="Selector or glob, e.g. 'convnet*' or 'timm:*res*'.")] = None,
) -> None:
    """List registered components, suites or profiles."""
    from dcbench.registry import PluginError, get_registry

    reg = get_registry()
    if what == "suites":
        table = Table("suite", "members")
        for name, members in reg.suites.items():
            table.add_row("@" + name, ", ".join(members))
    elif what == "profiles":
        table = Table("profile", "K", "runs × evals", "cls epochs (aug)", "whole-data epochs", "for")
        for p in reg.profiles.values():
            table.add_row(p.name, str(p.iterations), f"{p.runs} × {p.evals}", f"{p.cls_epochs} ({p.cls_epochs_aug})",
                          str(p.whole_epochs), p.description)
    elif what in KINDS:
        kind = KINDS[what]
        names = reg.select(kind, pattern) if pattern else reg.kinds[kind].names()
        table = Table("name", "version", "about", "origin")
        for name in names:
            try:
                obj = reg.architecture(name) if kind == "architecture" else reg.kinds[kind].get(name)
                spec = obj.spec
                about = _describe(kind, spec)
                version = str(spec.version)
            except PluginError as exc:
                about, version = f"[red]{escape(str(exc))}[/red]", "?"
            origin = reg.architecture_origin(name) if kind == "architecture" else reg.kinds[kind].entry(name).origin
            table.add_row(name, version, about, str(origin))
    else:
        raise UserError(f"cannot list '{what}': choose condensers, architectures, datasets, suites or profiles")
    out.print(table)


def _describe(kind: str, spec: Any) -> str:
    if kind == "condenser":
        return f"{spec.kind}{', needs a network' if spec.needs_network else ''}. {spec.description}".strip()
    if kind == "dataset":
        return f"{spec.channels}×{spec.size}×{spec.size}, {spec.classes} classes"
    sizes = "any size" if spec.sizes is None else "/".join(f"{s}px" for s in spec.sizes)
    variant = f" (variant of {spec.variant_of})" if spec.variant_of else ""
    return f"{spec.description} [{sizes}]{variant}".strip()


@app.command()
def plugins() -> None:
    """Every registered component with its kind, spec version and origin; broken plugins in red."""
    from dcbench.registry import PluginError, get_registry

    reg = get_registry()
    table = Table("name", "kind", "spec version", "origin", "status", "aliases")
    broken = 0
    for kind, kinds in reg.kinds.items():
        for entry in kinds.entries():
            try:
                obj = kinds.get(entry.name)
                version = str(getattr(getattr(obj, "spec", None), "version", "—"))
                status = "ok"
            except PluginError as exc:
                version, status = "?", f"[red]{escape(str(exc))}[/red]"
                broken += 1
            table.add_row(entry.name, kind, version, str(entry.origin), status, ", ".join(entry.aliases))
    for kind, kinds in reg.kinds.items():
        for name, message in kinds.conflicts.items():
            table.add_row(name, kind, "?", "", f"[red]{escape(message)}[/red]")
            broken += 1
    for line in reg.broken_entry_points:
        table.add_row("?", "entry point", "?", "", f"[red]{escape(line)}[/red]")
        broken += 1
    out.print(table)
    if broken:
        err_console.print(f"{broken} plugin(s) failed to load; the others work")


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
    from dcbench.leaderboard import open_board, terminal_tables

    board = open_board(results.resolve(), dataset=dataset, ipc=ipc, profile=profile)
    for table in terminal_tables(board):
        out.print(table)


@leaderboard_app.command("publish")
def publish_leaderboard(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the leaderboard into.")] = Path("leaderboard"),
    dataset: LbDataset = None,
    ipc: LbIpc = None,
    profile: LbProfile = None,
    results: Results = DEFAULT_RESULTS,
) -> None:
    """Write README.md, results.csv/json, a static index.html, image grids and plots into --out.

    Publishing into an earlier leaderboard replaces the files it generated, nothing else."""
    from dcbench.leaderboard import open_board
    from dcbench.publish import publish

    results = results.resolve()
    board = open_board(results, dataset=dataset, ipc=ipc, profile=profile)
    done = publish(board, out_dir, results, {"dataset": dataset, "ipc": ipc, "profile": profile})
    if done.missing_images:
        err_console.print(f"[yellow]{len(done.missing_images)} image grid(s) not drawn[/yellow]: artifact missing or "
                          "unreadable (listed under 'Images not drawn' in README.md)")
    out.print(f"published {done.records} entries, {done.images} image grid(s) and {len(done.files)} files to "
              f"{escape(str(done.folder))} (open {escape(str(done.folder / 'index.html'))})")


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False) -> None:
    if version:
        out.print(f"dcbench {__version__}")
        raise typer.Exit()


def main() -> None:
    try:
        app()
    except UserError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted; finished results are kept")
        sys.exit(130)
