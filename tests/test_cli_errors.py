"""Mistakes a user can make on the command line: one line ``error: …`` on stderr, exit code 2, no traceback.

The real CLI runs in fresh interpreters (``dcbench.cli.main`` is where a UserError becomes exit 2).
Starting one costs seconds (torch is imported), so every subprocess case is started once, a few at
a time, by a module fixture, and the cheaper cases call ``main()`` in this process instead.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from dcbench.cli import main
from dcbench.registry import get_registry

CLI = [sys.executable, "-c", "from dcbench.cli import main; main()"]
ARTIFACT_ID = re.compile(r"\b[0-9a-f]{64}\b")
HAPPY = ["synth", "-c", "random", "--dataset", "digits", "--ipc", "2", "--seed", "0", "--cls", "mlp", "--evals", "2",
         "--device", "cpu"]


@dataclass
class Ran:
    args: list[str]
    code: int
    out: str
    err: str


@dataclass
class Workspace:
    root: Path
    empty_data: Path  # a data root holding nothing
    empty_results: Path  # a results folder holding nothing
    happy_results: Path
    tampered_results: Path  # a copy of the happy artifacts, one byte flipped
    runs: dict[str, Future]
    artifact_future: Future

    def run(self, name: str) -> Ran:
        return self.runs[name].result()

    @property
    def artifact(self) -> str:
        return self.artifact_future.result()


def _env(root: Path, results: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DCBENCH_REGISTRY", "COLUMNS", "LINES"}}
    # digits needs no files; DCBENCH_DATA keeps every other data set away from the user's cache
    env.update(DCBENCH_RESULTS=str(results), DCBENCH_DATA=str(root / "data"), PYTHONWARNINGS="ignore")
    return env


def _cli(root: Path, name: str, args: list[str], results: Path | None = None) -> Ran:
    cwd = root / name
    cwd.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([*CLI, *args], cwd=cwd, env=_env(root, results or cwd / "results"),
                          capture_output=True, text=True, timeout=300)
    return Ran(args, proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    for sub in ("data", "empty-data", "empty-results"):
        (root / sub).mkdir()
    happy_results = root / "happy" / "results"
    tampered_results = root / "tampered" / "results"
    pool = ThreadPoolExecutor(max_workers=3)  # 2 cores: a third process hides start-up latency
    happy = pool.submit(_cli, root, "happy", HAPPY, happy_results)

    def artifact() -> str:
        ran = happy.result()
        assert ran.code == 0, ran.err
        ids = set(ARTIFACT_ID.findall(ran.out))
        assert len(ids) == 1, ran.out
        artifact_id = ids.pop()
        shutil.copytree(happy_results / "artifacts", tampered_results / "artifacts")
        path = next((tampered_results / "artifacts").rglob(f"{artifact_id}.safetensors"))
        data = bytearray(path.read_bytes())
        data[-1] ^= 0x01  # one flipped bit in the last image's pixels
        path.write_bytes(bytes(data))
        return artifact_id

    artifact_future = pool.submit(artifact)

    def after_artifact(name: str, make_args, results: Path | None = None):
        def go() -> Ran:
            return _cli(root, name, make_args(artifact_future.result()), results)
        return pool.submit(go)

    runs: dict[str, Future] = {"happy": happy}
    independent = {
        "missing_data": ["synth", "-c", "random", "--dataset", "mnist", "--data-root", str(root / "empty-data")],
        "empty_leaderboard": ["leaderboard", "--results", str(root / "empty-results")],
    }
    for name, args in independent.items():
        runs[name] = pool.submit(_cli, root, name, args)
    runs["tampered_eval"] = after_artifact("tampered_eval", lambda a: ["eval", a, "--cls", "mlp"], tampered_results)
    yield Workspace(root, root / "empty-data", root / "empty-results", happy_results,
                    tampered_results, runs, artifact_future)
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture
def in_process(monkeypatch, tmp_path, capsys):
    """``dcbench ARGS`` through ``dcbench.cli.main`` in this process: cheap, same exit-2 path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DCBENCH_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("DCBENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("PYTHONWARNINGS", "ignore")  # main() sets it; monkeypatch restores it
    monkeypatch.delenv("DCBENCH_REGISTRY", raising=False)
    get_registry.cache_clear()

    def run(*args: str) -> Ran:
        monkeypatch.setattr(sys, "argv", ["dcbench", *args])
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main()
        out, err = capsys.readouterr()
        code = exited.value.code
        return Ran(list(args), 0 if code is None else code, out, err)

    yield run
    get_registry.cache_clear()


def user_error(ran: Ran, *phrases: str, alone: bool = True) -> str:
    """The single ``error:`` line of a run that failed as a user error; checks the phrases are in it.

    ``alone``: nothing else was printed.
    """
    assert "Traceback" not in ran.err + ran.out, ran.err
    assert ran.code == 2, (ran.code, ran.err)
    errors = [line for line in ran.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, ran.err
    for phrase in phrases:
        assert phrase in errors[0], errors[0]
    if alone:
        assert [line for line in ran.err.splitlines() if line.strip()] == errors, ran.err
        assert ran.out.strip() == "", ran.out
    return errors[0]


def suggestions(line: str) -> list[str]:
    """The names after "did you mean" in an unknown-name message."""
    assert "did you mean" in line, line
    return re.findall(r"[a-z0-9_]+", line.split("did you mean", 1)[1])


# ---------------------------------------------------------------------------------------------
# The happy path, which also makes the artifact the error cases below use


def test_synth_with_cls_then_leaderboard(ws, in_process):
    ran = ws.run("happy")
    assert ran.code == 0, ran.err
    assert "Traceback" not in ran.err
    assert ws.artifact in ran.out
    with sqlite3.connect(ws.happy_results / "results.sqlite") as db:
        evals = db.execute("SELECT condenser, cls_net, ipc, status FROM evaluations").fetchall()
        synths = db.execute("SELECT condenser, ipc, status, artifact FROM condensations").fetchall()
    assert sorted(evals) == [("random", "mlp", 2, "done")] * 2
    assert synths == [("random", 2, "done", ws.artifact)]

    board = in_process("leaderboard", "--results", str(ws.happy_results))
    assert board.code == 0, board.err
    assert "random" in board.out and "mlp" in board.out
    assert "(2)" in board.out  # mean ± std over the two evaluation nets


# ---------------------------------------------------------------------------------------------
# User errors in a fresh interpreter


def test_missing_data_files_name_the_dataset_and_folder(ws):
    user_error(ws.run("missing_data"), "mnist", str(ws.empty_data.resolve()), "--download")


def test_tampered_artifact_is_refused_by_eval(ws):
    user_error(ws.run("tampered_eval"), "corrupted or was modified", ws.artifact)


def test_leaderboard_of_an_empty_results_folder(ws):
    user_error(ws.run("empty_leaderboard"), "no results", str(ws.empty_results.resolve()))


@pytest.mark.parametrize("case", [
    "tampered_eval", "empty_leaderboard",
    "missing_data",
])
def test_user_errors_are_exactly_one_line(ws, case):
    user_error(ws.run(case), alone=True)


# ---------------------------------------------------------------------------------------------
# User errors through main() in this process


def test_unknown_network_suggests_convnet(ws, in_process):
    line = user_error(in_process("eval", ws.artifact, "--cls", "convnett", "--results", str(ws.happy_results)),
                      "'convnett'")
    assert "convnet" in suggestions(line)
    line = user_error(in_process("synth", "-c", "random", "--dataset", "digits", "--cls", "mlp,convnett"),
                      "'convnett'")
    assert "convnet" in suggestions(line)


def test_cls_typo_is_refused_before_synthesis(in_process, tmp_path):
    user_error(in_process("synth", "-c", "random", "--dataset", "digits", "--cls", "convnett"), "'convnett'")
    assert not (tmp_path / "results" / "artifacts").exists()


def test_unknown_dataset_suggests_mnist(in_process):
    line = user_error(in_process("synth", "-c", "random", "--dataset", "minst"), "'minst'")
    assert "mnist" in suggestions(line)


def test_unknown_condenser_suggests_random(in_process):
    line = user_error(in_process("synth", "-c", "randm"), "'randm'")
    assert "random" in suggestions(line)


def test_unknown_hyperparameter_is_named(in_process):
    user_error(in_process("synth", "-c", "random", "--dataset", "digits", "--set", "nosuch=1"), "'nosuch'", "random")


@pytest.mark.parametrize("vary, phrases", [
    ("precision=default,bf61", ["precision must be one of default, ieee, tf32, bf16, not 'bf61'"]),
    ("precisio=bf16", ["'precisio'", "valid:"]),
    ("precision", ["--vary expects key=value1,value2"]),
    ("lr_net=0.1,", ["--vary expects key=value1,value2 with no empty value"]),
    ("implementation=loop,batched", ["--vary implementation: given twice", "--compare"]),
])
def test_bench_vary_typo_is_refused_before_timing_anything(in_process, tmp_path, vary, phrases):
    user_error(in_process("bench", "-c", "gm", "--synth", "mlp", "--dataset", "digits", "--compare", "--vary", vary),
               *phrases)
    assert not (tmp_path / "results" / "results.sqlite").exists()


@pytest.mark.parametrize("ipc, phrases", [
    ("0", ["--ipc", "at least 1"]),
    ("-3", ["--ipc", "at least 1"]),
    ("1000", ["--ipc 1000", "or less"]),
])
def test_impossible_ipc_is_refused(in_process, ipc, phrases):
    line = user_error(in_process("synth", "-c", "random", "--dataset", "digits", "--ipc", ipc), *phrases)
    if ipc == "1000":
        assert re.search(r"use --ipc \d+ or less", line), line


@pytest.mark.parametrize("ipc", ["0", "1000"])
def test_impossible_ipc_is_one_line(in_process, ipc):
    user_error(in_process("synth", "-c", "random", "--dataset", "digits", "--ipc", ipc), alone=True)


def test_refused_synth_leaves_no_run_marked_running(in_process, tmp_path):
    user_error(in_process("synth", "-c", "random", "--dataset", "digits", "--ipc", "1000"))
    store = tmp_path / "results" / "results.sqlite"
    if store.exists():
        with sqlite3.connect(store) as db:
            assert db.execute("SELECT count(*) FROM runs WHERE status = 'running'").fetchone() == (0,)


def test_tampered_artifact_is_refused_by_show(ws, in_process):
    for ref in (ws.artifact, ws.artifact[:10]):
        ran = in_process("show", ref, "--results", str(ws.tampered_results))
        user_error(ran, "corrupted or was modified")
        assert not list(Path.cwd().glob("*.png"))


def test_unknown_artifact_ids(ws, in_process):
    user_error(in_process("eval", "deadbeef00", "--cls", "mlp", "--results", str(ws.happy_results)),
               "no artifact with id deadbeef00", "--results")
    user_error(in_process("show", "abcdef123", "--results", str(ws.happy_results)), "abcdef123")
    user_error(in_process("show", "zz", "--results", str(ws.happy_results)), "'zz'", "artifact id")
    user_error(in_process("show", "/no/such/file.safetensors"), "/no/such/file.safetensors")


def test_show_of_a_good_artifact_works(ws, in_process):
    ran = in_process("show", ws.artifact[:8], "--results", str(ws.happy_results))
    assert ran.code == 0, ran.err
    assert "random" in ran.out
    assert (Path.cwd() / f"{ws.artifact[:12]}.png").is_file()


def test_list_of_an_unknown_kind(in_process):
    user_error(in_process("list", "nonsense"), "'nonsense'", "condensers", "profiles")


def test_unknown_profile(in_process):
    line = user_error(in_process("synth", "-c", "random", "--dataset", "digits", "--profile", "fast"), "'fast'")
    assert "profile" in line
    names = get_registry().profiles
    assert "dcbench list profiles" in line or all(name in line for name in names), line


def test_malformed_options(ws, in_process):
    user_error(in_process("synth", "-c", "random", "--set", "nosuch"), "--set", "key=value")
    user_error(in_process("synth", "-c", "random", "--dataset", "digits", "--channels", "2"), "channels", "1 or 3")
    user_error(in_process("eval", "--cls", "mlp"), "ARTIFACT", "--whole")
    user_error(in_process("eval", ws.artifact, "--whole", "--dataset", "digits"), "either")
    user_error(in_process("synth", "-c", "random", "--cls", "zzz*", "--dataset", "digits"), "zzz*")


def test_brackets_in_a_name_are_a_user_error(in_process):
    user_error(in_process("synth", "-c", "[/x]"), "[/x]")
