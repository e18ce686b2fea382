"""The CLI's options, each defined once: one spelling and one help text in every command.

Commands that compute take the workspace options (``--results``, ``--data-root``, ``--device``,
``--download``) and the serving options (``--size``, ``--channels``) through :func:`uses_bench`,
which adds them to the command's signature and hands the command a ready :class:`dcbench.Bench`.
"""

import functools
import inspect
import re
import sys
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

ProfileOpt = Annotated[str, typer.Option("--profile", help="Protocol profile: smoke, cpu or paper.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Base seed: same seed, same result on CPU.")]
EvalsOpt = Annotated[Optional[int], typer.Option("--evals", help="Fresh nets per network \\[default: profile's].")]
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
_SERVING = [("size", SizeOpt, None), ("channels", ChannelsOpt, None)]


def uses_bench(command: Callable) -> Callable:
    """Give a command the workspace and serving options and call it with ``bench=``, a
    :class:`dcbench.Bench` on the workspace, and ``size=``, ``channels=``."""
    added = _WORKSPACE + _SERVING
    # A command names the serving options it receives (size=None, channels=None); their options come from here.
    own = [p for p in inspect.signature(command).parameters.values()
           if p.name != "bench" and p.name not in {name for name, _, _ in added}]

    @functools.wraps(command)
    def run(**given: Any) -> Any:
        workspace = {name: given.pop(name) for name, _, _ in _WORKSPACE}
        display = Display()
        bench = Bench(workspace["results"], workspace["data_root"], workspace["device"],
                      download=workspace["download"], on_event=display, argv=sys.argv[1:])
        try:
            return command(bench=bench, **given)
        finally:
            display.stop()

    run.__signature__ = inspect.Signature(own + [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=hint)
        for name, hint, default in added])
    run.__annotations__ = {**{p.name: p.annotation for p in own}, **{n: h for n, h, _ in added}}
    return run


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
