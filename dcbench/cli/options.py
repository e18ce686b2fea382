"""The CLI's options, each defined once: one spelling and one help text in every command.

Commands that compute take the workspace options (``--results``, ``--data-root``, ``--device``,
``--download``) and the serving options (``--size``, ``--channels``, ``--zca``) through :func:`uses_bench`,
which adds them to the command's signature and hands the command a ready :class:`dcbench.Bench`;
commands about one synthesis cell take its options through :func:`uses_cell` the same way.
"""

import functools
import inspect
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer
import yaml

from dcbench.bench import DEFAULT_RESULTS, Bench
from dcbench.cli.display import Display
from dcbench.errors import UserError

Results = Annotated[Path, typer.Option("--results", envvar="DCBENCH_RESULTS",
                                       help="Folder holding results.sqlite, artifacts/ and cache/.")]
DataRoot = Annotated[Optional[Path], typer.Option("--data-root", envvar="DCBENCH_DATA", show_default=False,
                                                  help="Data sets folder \\[default: ~/.cache/dcbench/data].")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto (CUDA when present), cpu, cuda or cuda:N.")]
DownloadOpt = Annotated[bool, typer.Option("--download", help="Download missing data sets (needs network).")]
SizeOpt = Annotated[Optional[int], typer.Option("--size", help="Serve images resized to SIZE×SIZE.")]
ChannelsOpt = Annotated[Optional[int], typer.Option("--channels", help="Serve images with 1 or 3 channels.")]

ProfileOpt = Annotated[str, typer.Option("--profile", help="Budget profile: smoke, cpu or paper.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Base seed: same seed, same result on CPU.")]
EvalsOpt = Annotated[Optional[int], typer.Option("--evals", help="Fresh nets per network \\[default: profile's].")]
RecipeOpt = Annotated[Optional[str], typer.Option("--recipe", help="How evaluation nets train: dc (the seed paper's) "
                                                                   "or dsa (DSA/DM's: 1,000 epochs, DSA augmentation) "
                                                                   "\\[default: each set's condenser's].",
                                                  show_default=False)]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Show what would run and stop.")]
RunnerOpt = Annotated[str, typer.Option("--runner", help="ray (Ray Tune, every GPU) or local (this process, no Ray).")]
RayAddressOpt = Annotated[Optional[str], typer.Option("--ray-address", help="Join this Ray cluster (host:port) "
                                                                            "instead of a private one.")]
GpusPerCellOpt = Annotated[Optional[float], typer.Option(
    "--gpus-per-cell", help="GPUs per cell; fractions share a GPU \\[default: 1 where Ray has GPUs and --device "
                            "is not cpu, else 0].", show_default=False)]
CpusPerCellOpt = Annotated[float, typer.Option("--cpus-per-cell", help="CPUs per cell.")]
RayCpusOpt = Annotated[Optional[int], typer.Option("--ray-cpus", help="CPUs of the private Ray \\[default: all].",
                                                   show_default=False)]
RayGpusOpt = Annotated[Optional[int], typer.Option("--ray-gpus", help="GPUs of the private Ray \\[default: all].",
                                                   show_default=False)]
CondenserOpt = Annotated[str, typer.Option("--condenser", "-c", help="Condenser (see `dcbench list condensers`).")]
DatasetOpt = Annotated[str, typer.Option("--dataset", help="Data set name.")]
IpcOpt = Annotated[int, typer.Option("--ipc", help="Images per class.")]
SynthOpt = Annotated[Optional[str], typer.Option("--synth", help="Synthesis net, if the method needs one.")]
SetsOpt = Annotated[list[str], typer.Option("--set", help="Hyperparameter override key=value (repeatable).")]

_WORKSPACE = [
    ("results", Results, DEFAULT_RESULTS),
    ("data_root", DataRoot, None),
    ("device", DeviceOpt, "auto"),
    ("download", DownloadOpt, False),
]
ZcaOpt = Annotated[bool, typer.Option("--zca", help="Serve images ZCA-whitened (fitted on the training split).")]
_SERVING = [("size", SizeOpt, None), ("channels", ChannelsOpt, None), ("zca", ZcaOpt, False)]
_CELL = [
    ("condenser", CondenserOpt, inspect.Parameter.empty),
    ("dataset", DatasetOpt, "digits"),
    ("ipc", IpcOpt, 1),
    ("synth_net", SynthOpt, None),
    ("seed", SeedOpt, 0),
    ("profile", ProfileOpt, "smoke"),
    ("sets", SetsOpt, []),
]


_RUNNER = [
    ("runner", RunnerOpt, "ray"),
    ("ray_address", RayAddressOpt, None),
    ("gpus_per_cell", GpusPerCellOpt, None),
    ("cpus_per_cell", CpusPerCellOpt, 1.0),
    ("ray_cpus", RayCpusOpt, None),
    ("ray_gpus", RayGpusOpt, None),
]


@dataclass(frozen=True)
class CellArgs:
    """The options that name one synthesis cell, as ``synth`` and ``bench`` take them."""

    condenser: str
    dataset: str
    ipc: int
    synth_net: str | None
    seed: int
    profile: str
    overrides: dict[str, Any]


def _with_options(command: Callable, options: list, receiver: str, make: Callable[[dict], Any]) -> Callable:
    """``command`` with ``options`` added to its signature; they are collected by ``make`` into the
    argument ``receiver``. A command may name an added option itself to receive it as it is."""
    names = {name for name, _, _ in options}
    own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in inspect.signature(command).parameters.values()
           if p.name != receiver and p.name not in names]
    passed = [name for name in names if name in inspect.signature(command).parameters]

    @functools.wraps(command)
    def run(**given: Any) -> Any:
        collected = {name: given.pop(name) for name, _, _ in options}
        given.update({name: collected[name] for name in passed})
        return make(collected, lambda value: command(**{receiver: value}, **given))

    required = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=h)
                for n, h, d in options if d is inspect.Parameter.empty]
    optional = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=h)
                for n, h, d in options if d is not inspect.Parameter.empty]
    run.__signature__ = inspect.Signature(required + own + optional)
    run.__annotations__ = {**{p.name: p.annotation for p in own}, **{n: h for n, h, _ in options}}
    return run


def uses_bench(command: Callable) -> Callable:
    """Give a command the workspace and serving options and call it with ``bench=``, a
    :class:`dcbench.Bench` on the workspace; a command names ``size``/``channels``/``zca`` to receive them."""

    def make(given: dict, call: Callable) -> Any:
        display = Display()
        bench = Bench(given["results"], given["data_root"], given["device"], download=given["download"],
                      on_event=display, argv=sys.argv[1:])
        try:
            return call(bench)
        finally:
            display.stop()

    return _with_options(command, _WORKSPACE + _SERVING, "bench", make)


def uses_runner(command: Callable) -> Callable:
    """Give a command the runner options (``--runner``, ``--ray-address``, …) and call it with
    ``runner_options=``, the keyword arguments ``Bench.grid`` and ``Bench.reproduce`` take for them."""
    return _with_options(command, _RUNNER, "runner_options", lambda given, call: call(dict(given)))


def uses_cell(command: Callable) -> Callable:
    """Give a command the options of one synthesis cell and call it with ``cell=``, a :class:`CellArgs`."""

    def make(given: dict, call: Callable) -> Any:
        sets = given.pop("sets")
        return call(CellArgs(**given, overrides=parse_sets(sets)))

    return _with_options(command, _CELL, "cell", make)


# YAML 1.1 (PyYAML) reads 1e-3 as a string; YAML 1.2 and people read it as a number.
_EXPONENT = re.compile(r"^[-+]?\d+(\.\d*)?[eE][-+]?\d+$")


def scalar(text: str) -> Any:
    """One option value as YAML reads it (1, 0.1, true, null, noise), scientific notation included."""
    value = yaml.safe_load(text)
    return float(value) if isinstance(value, str) and _EXPONENT.match(value.strip()) else value


def parse_sets(pairs: list[str]) -> dict[str, Any]:
    """``--set key=value`` hyperparameter overrides; values are YAML scalars (1, 0.1, true, noise)."""
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--set expects key=value, got '{pair}'")
        try:
            parsed[key.strip()] = scalar(value)
        except yaml.YAMLError:
            raise UserError(f"--set {key}: cannot read value '{value}'") from None
    return parsed


def parse_vary(pairs: list[str]) -> list[tuple[str, list[Any]]]:
    """``--vary key=v1,v2``: each value a YAML scalar, as for ``--set`` (so values hold no commas)."""
    parsed = []
    for pair in pairs:
        key, sep, values = pair.partition("=")
        parts = [part.strip() for part in values.split(",")]
        if not sep or not key.strip() or not all(parts):
            raise UserError(f"--vary expects key=value1,value2 with no empty value, got '{pair}'")
        try:
            parsed.append((key.strip(), [scalar(part) for part in parts]))
        except yaml.YAMLError:
            raise UserError(f"--vary {key}: cannot read the values '{values}'") from None
    return parsed
