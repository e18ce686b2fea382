"""The Ray Tune runner: every cell a Tune trial, on a private local Ray or on a joined cluster.

Tune gets its trials from a searcher that asks the cell queue for the next ready cell (a cls cell
as soon as its artifact exists) and is capped at the number of cells the cluster holds at once, so
the scheduler chooses the order just in time. A worker returns its record as the trial's last
result; a Tune callback in the driver hands it to the queue, so only the driver writes the store.
Intermediate results (at most one per REPORT_EVERY_S per cell) carry a cell's own progress to the
driver's display.
Tune's experiment state is thrown away: the store is what a rerun resumes from.

A private Ray lives in a short fresh directory (Ray's socket paths must fit in 107 bytes) that a
reaper process (reaper.py) watches, so nothing of it outlives the driver, even a SIGKILLed one.
This is the only module of dcbench that imports Ray.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from dcbench.errors import UserError
from dcbench.events import metrics_text
from dcbench.grid.scheduler import CellQueue
from dcbench.records import Condensation, Evaluation, ProtocolResult, from_row, to_row
from dcbench.runner import RunnerOptions
from dcbench.tasks import EVAL, PROTOCOL, SYNTH, Task, WorkerSpec, execute

QUIET = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AIR_NEW_OUTPUT": "0",
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",  # no per-trial CSV/JSON/TensorBoard files
    # Ctrl-C must interrupt the grid at once (finished rows are kept), not start Tune's slow stop.
    "TUNE_DISABLE_SIGINT_HANDLER": "1",
}
for _name, _value in QUIET.items():  # read by Ray and Tune at import or start-up
    os.environ.setdefault(_name, _value)

import ray  # noqa: E402
from ray import tune  # noqa: E402
from ray.tune.search import ConcurrencyLimiter, Searcher  # noqa: E402

MARK = "DCBENCH_GRID_RAY"  # in the environment of the processes ray.init starts, for the reaper
REPORT_EVERY_S = 2.0
_ray_used = False
REAPER = Path(__file__).with_name("reaper.py")
# Ray puts sockets at <temp>/session_<date>_<time>_<pid>/sockets/plasma_store: about 62 bytes more.
MAX_TEMP_BASE = 30


class RayRunner:
    def __init__(self, options: RunnerOptions, worker: WorkerSpec) -> None:
        self.options = options
        self.worker = worker
        self.description = "ray"
        self.slots = 0
        self.resources: dict[str, float] = {}
        self._private: PrivateRay | None = None

    def __enter__(self) -> "RayRunner":
        global _ray_used
        if _ray_used:
            # Seen with Ray 2.60: after ray.shutdown, a second ray.init in the same process gets every actor
            # cancelled before it starts, so every cell would fail. The CLI runs one grid per process.
            raise RuntimeError("a process can run one Ray grid: start each grid in its own process")
        _ray_used = True
        opts = self.options
        if opts.address:
            try:
                ray.init(address=opts.address, log_to_driver=False, logging_level=logging.ERROR)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise UserError(f"cannot join the Ray cluster at {opts.address}: {str(exc).splitlines()[0]} (a cluster "
                                "with token authentication needs RAY_AUTH_MODE=token and its token here)") from None
        else:
            self._private = PrivateRay(opts.num_cpus, opts.num_gpus)
        try:
            self._place()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _place(self) -> None:
        """Resources per cell, how many cells fit at once, and the device cells are told to use."""
        opts, device = self.options, self.worker.device
        nodes = [node["Resources"] for node in ray.nodes() if node["Alive"]]
        gpus = opts.gpus_per_cell
        if gpus is None:
            gpus = 1.0 if device != "cpu" and any(r.get("GPU", 0) >= 1 for r in nodes) else 0.0
        if not gpus and device == "cuda":
            raise UserError("--device cuda under Ray needs GPUs per cell: give --gpus-per-cell (the cluster has "
                            f"{sum(r.get('GPU', 0) for r in nodes):g} GPUs)")
        self.slots = sum(min(_fits(r.get("CPU", 0), opts.cpus_per_cell), _fits(r.get("GPU", 0), gpus))
                         for r in nodes)
        if not self.slots:
            have = ", ".join(f"{r.get('CPU', 0):g} CPUs and {r.get('GPU', 0):g} GPUs" for r in nodes)
            raise UserError(f"no node of the Ray cluster can hold one cell ({opts.cpus_per_cell:g} CPUs, {gpus:g} "
                            f"GPUs); its nodes have {have}: lower --cpus-per-cell or --gpus-per-cell")
        self.resources = {"cpu": opts.cpus_per_cell, "gpu": gpus}
        if not gpus:
            # A cell without a GPU of its own must not take one Ray gave another cell.
            self.worker = replace(self.worker, device="cpu")
        where = opts.address or "private Ray"
        self.description = (f"ray ({where}; {self.slots} cells at once, {opts.cpus_per_cell:g} CPU"
                            f"{f' + {gpus:g} GPU' if gpus else ''} each)")

    def __exit__(self, *exc: object) -> None:
        ray.shutdown()
        if self._private:
            self._private.stop()

    def run(self, queue: CellQueue) -> None:
        session = _Session(queue, self.worker)
        storage = tempfile.mkdtemp(prefix="tune-", dir=self._private.temp if self._private else None)
        try:
            tuner = tune.Tuner(
                tune.with_resources(_trainable, self.resources),
                tune_config=tune.TuneConfig(search_alg=ConcurrencyLimiter(_Cells(session), max_concurrent=self.slots),
                                            num_samples=-1, reuse_actors=True, trial_dirname_creator=_dirname),
                run_config=tune.RunConfig(name="grid", storage_path=storage, verbose=0,
                                          callbacks=[_Results(session)]))
            # Tune logs every failed trial with its traceback; the grid records and shows failures itself.
            quiet = logging.getLogger("ray.tune")
            level = quiet.level
            quiet.setLevel(logging.CRITICAL)
            try:
                tuner.fit()
            finally:
                quiet.setLevel(level)
        finally:
            session.close()
            shutil.rmtree(storage, ignore_errors=True)


def _fits(have: float, need: float) -> float:
    return math.inf if need == 0 else math.floor(have / need + 1e-9)


def _dirname(trial) -> str:
    return trial.trial_id


class PrivateRay:
    """A Ray instance of this grid alone, in its own short temporary directory, with its reaper."""

    def __init__(self, num_cpus: int | None, num_gpus: int | None) -> None:
        base = tempfile.gettempdir()
        self.temp = Path(tempfile.mkdtemp(prefix="dcb", dir=base if len(base) <= MAX_TEMP_BASE else "/tmp"))
        # This process holds the only write end of the reaper's stdin (Python opens pipes
        # close-on-exec, so Ray's processes do not inherit it): EOF there means this process is gone.
        self.reaper = subprocess.Popen([sys.executable, str(REAPER), str(self.temp), str(os.getpid())],
                                       stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       start_new_session=True)
        os.environ[MARK] = str(self.temp)
        try:
            ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False,
                     log_to_driver=False, logging_level=logging.ERROR, _temp_dir=str(self.temp))
        except BaseException:
            self.stop()
            raise
        finally:
            os.environ.pop(MARK, None)  # only Ray's processes carry it, not later children of this one

    def stop(self) -> None:
        """Close the reaper's pipe: it ends Ray's stragglers and removes the directory."""
        self.reaper.stdin.close()
        try:
            self.reaper.wait(timeout=90)
        except subprocess.TimeoutExpired:
            pass  # it finishes on its own; the grid's results do not depend on it


class _Session:
    """The cell queue a Tuner serves and the cell behind each of its trials.

    Tune pickles its searcher and callbacks with its own state; the queue (its subscribers hold a
    store connection and a live display) cannot be pickled, so a session pickles as a reference to
    the live one of this process.
    """

    _live: dict[str, "_Session"] = {}

    def __init__(self, queue: CellQueue, worker: WorkerSpec) -> None:
        self.queue = queue
        self.worker = worker
        self.tasks: dict[str, Task] = {}  # trial id -> cell
        self.id = uuid.uuid4().hex
        _Session._live[self.id] = self

    def __reduce__(self):
        return _Session.find, (self.id,)

    @staticmethod
    def find(session_id: str) -> "_Session":
        return _Session._live[session_id]

    def close(self) -> None:
        _Session._live.pop(self.id, None)


class _Cells(Searcher):
    """Tune's source of trials: the queue's ready cells, in its order, until it is finished."""

    def __init__(self, session: _Session) -> None:
        super().__init__()
        self.session = session

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        queue = self.session.queue
        task = queue.take()
        if task is None:  # None: ask again when a running cell has finished and may have unlocked others
            return Searcher.FINISHED if queue.finished else None
        self.session.tasks[trial_id] = task
        return {"task": task, "worker": self.session.worker}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Records arrive through _Results, which sees both a trial's last result and its error."""

    def save(self, checkpoint_path: str) -> None:
        """Nothing of Tune's state is resumed: the store is the grid's state."""


class _Results(tune.Callback):
    """In the driver: a cell's progress and its record (or its worker's failure) to the queue."""

    def __init__(self, session: _Session) -> None:
        self.session = session

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self.session.queue.started(self.session.tasks[trial.trial_id])

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        task, queue = self.session.tasks[trial.trial_id], self.session.queue
        if "cell_record" in result:
            kind = {SYNTH: Condensation, EVAL: Evaluation, PROTOCOL: ProtocolResult}[task.kind]
            queue.finish(task, from_row(kind, json.loads(result["cell_record"])), json.loads(result["cell_log"]))
        elif "cell_step" in result:
            queue.progress(task, result["cell_step"], result.get("cell_total"), result["cell_metrics"])

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        task = self.session.tasks[trial.trial_id]
        self.session.queue.finish(task, task.failed(f"its Ray worker failed: {_trial_error(trial)}"), {})


def _trial_error(trial) -> str:
    """What Tune wrote about a trial whose worker failed (it died: the cell itself never raises)."""
    try:
        text = Path(trial.error_file).read_text()
    except (OSError, TypeError):  # no error file: Tune had no local trial directory
        text = ""
    lines = [line.strip() for line in text.splitlines()[1:] if line.strip()]  # [0]: "Failure # 1 (at …)"
    detail = next((line for line in lines if "Worker exit" in line), lines[-1] if lines else "")
    return detail[:300] or "unknown error (see Ray's logs)"


def _trainable(config: dict[str, Any]) -> dict[str, str]:
    """One cell in a Ray worker. The record travels as JSON: Tune flattens nested result dicts."""
    task: Task = config["task"]
    last = -math.inf

    def report(step: int, **metrics: Any) -> None:
        nonlocal last
        if time.monotonic() - last < REPORT_EVERY_S:  # each report is a round trip to the driver
            return
        last = time.monotonic()
        total = metrics.pop("total", None)
        tune.report({"cell_step": step, "cell_total": total, "cell_metrics": metrics_text(metrics)})

    record, where = execute(task, config["worker"], report)
    where.update(gpu_ids=[str(g) for g in ray.get_gpu_ids()],
                 cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"))
    return {"cell_record": json.dumps(to_row(record), default=str), "cell_log": json.dumps(where)}
