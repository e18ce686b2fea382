"""A store written before the application layer existed is read and extended; nothing is recomputed.

``tests/fixtures/store-0.1`` was written by dcbench at commit 5aafb7d (its README has the commands):
every kind of cell of that time, including a learned-schedule evaluation, a resized data set, the
whole-data reference and a timing. Today's code must find every one of its results where it is.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from dcbench import Bench
from dcbench.artifacts import load_artifact
from dcbench.cells import EvalCell, SynthCell
from dcbench.dataset import DatasetOptions

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "store-0.1"


@pytest.fixture
def old_store(tmp_path) -> Path:
    results = tmp_path / "results"
    shutil.copytree(FIXTURE, results, ignore=shutil.ignore_patterns("README.md"))
    return results


def _rows(results: Path, table: str) -> dict[str, dict]:
    with sqlite3.connect(results / "results.sqlite") as db:
        db.row_factory = sqlite3.Row
        key = "id" if table == "runs" else "key"
        return {row[key]: dict(row) for row in db.execute(f"SELECT * FROM {table}")}


def test_todays_code_computes_every_stored_key(old_store):
    synths = _rows(old_store, "condensations")
    evals = _rows(old_store, "evaluations")
    assert len(synths) == 8 and len(evals) == 10
    for key, row in synths.items():
        options = DatasetOptions(**json.loads(row["dataset_options"] or "{}"))
        cell = SynthCell(condenser=row["condenser"], dataset=row["dataset"], ipc=row["ipc"], seed=row["seed"],
                         profile=row["profile"], synth_net=row["synth_net"], options=options,
                         overrides=tuple(sorted(json.loads(row["config"]).items())))
        assert cell.bind().key == key, row["condenser"]
    schedules = set()
    for key, row in evals.items():
        if row["artifact"]:
            artifact = load_artifact(row["artifact"], old_store)
            cell = EvalCell(cls_net=row["cls_net"], eval_index=row["eval_index"], seed=row["seed"],
                            profile=row["profile"], artifact=row["artifact"], schedule=row["schedule"])
            assert cell.bind(artifact).key == key, (row["condenser"], row["schedule"])
        else:
            cell = EvalCell(cls_net=row["cls_net"], eval_index=row["eval_index"], seed=row["seed"],
                            profile=row["profile"], dataset=row["dataset"])
            assert cell.bind().key == key, row["condenser"]
        schedules.add(row["schedule"])
    assert schedules == {"standard", "learned"}


def test_the_same_commands_compute_nothing_and_more_extends_the_store(old_store, tmp_path):
    before = {table: _rows(old_store, table) for table in ("runs", "condensations", "evaluations", "benchmarks")}
    bench = Bench(old_store, tmp_path / "data", device="cpu", profile="smoke")
    first = bench.grid("random,gm,dd", synth="mlp", cls="mlp", evals=1, overrides={"iterations": 2}, whole=True,
                       runner="local")
    second = bench.grid("herding,k_center,forgetting", cls="mlp", evals=1, overrides={"net": "mlp"},
                        runner="local")
    assert first.run_id is None and second.run_id is None  # every cell stored: nothing ran
    assert (first.stored, second.stored) == (8, 6)
    made = bench.synthesize("random", ipc=2)
    assert made.key in before["condensations"] and made.run_id == before["condensations"][made.key]["run_id"]
    resized = bench.synthesize("random", ipc=1, size=16)
    assert bench.evaluate(resized.artifact, cls="mlp", evals=1)[0].key in before["evaluations"]
    assert bench.evaluate_whole(dataset="digits", cls="mlp", evals=1)[0].key in before["evaluations"]
    assert {table: _rows(old_store, table) for table in before} == before  # read, not rewritten

    # More of the same: only the new evaluation net is trained, beside the old rows.
    more = bench.evaluate(made.artifact, cls="mlp", evals=2)
    assert [e.key in before["evaluations"] for e in more] == [True, False]
    after = _rows(old_store, "evaluations")
    assert len(after) == len(before["evaluations"]) + 1
    assert {key: after[key] for key in before["evaluations"]} == before["evaluations"]
    assert {e.condenser for e in bench.leaderboard(dataset="digits", ipc=1).entries} == {
        "random", "gradient_matching", "dataset_distillation", "herding", "k_center", "forgetting", "whole_data"}


def test_the_classification_configurations_part_of_a_key_is_pinned():
    """Written out by hand: a field added to dcbench.Classification must leave this at its default,
    or every stored evaluation would be computed again (the fixture above covers digits only)."""
    from dcbench import Classification
    from dcbench.registry import get_registry

    registry = get_registry()
    paper = registry.profile("paper")
    recipe = {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.0005, "batch_size": 256}
    assert Classification.of(paper, registry.dataset_settings("mnist"), whole=False).identity() == {
        "recipe": {"kind": "condensed", "epochs": 1001, "lr_drop_after": 502, "augment": "mnist", **recipe},
        "schedule": "standard"}
    assert Classification.of(paper, registry.dataset_settings("cifar10"), whole=False).identity() == {
        "recipe": {"kind": "condensed", "epochs": 301, "lr_drop_after": 152, "augment": None, **recipe},
        "schedule": "standard"}
    assert Classification.of(paper, {}, whole=True).identity() == {
        "recipe": {"kind": "whole_data", "epochs": 100, "lr_drop_after": 50, "augment": None, **recipe},
        "schedule": "standard"}
    assert Classification.of(paper, {}, whole=False, schedule="learned").identity() == {
        "recipe": {"kind": "learned_schedule", "init": "xavier_normal", "optimizer": "sgd",
                   "lr": "the set's learned rate per step", "momentum": 0.0, "weight_decay": 0.0},
        "schedule": "learned"}


# ---------------------------------------------------------------------------------------------
# A store written just before evaluation protocols (tests/fixtures/store-0.2, commit 3347830)

BEFORE_PROTOCOLS = Path(__file__).resolve().parent / "fixtures" / "store-0.2"
PROTOCOL_STAGES = {"protocol.train_iterations": 5, "protocol.finetune_iterations": 5, "protocol.batch_size": 32}


def test_a_store_from_before_protocols_is_classification_and_a_continual_grid_extends_it(tmp_path):
    results = tmp_path / "results"
    shutil.copytree(BEFORE_PROTOCOLS, results, ignore=shutil.ignore_patterns("README.md"))
    before = {table: _rows(results, table) for table in ("runs", "condensations", "evaluations")}
    assert (len(before["condensations"]), len(before["evaluations"])) == (3, 4)
    bench = Bench(results, tmp_path / "data", device="cpu", profile="smoke")
    same = bench.grid("random,herding,gm", synth="mlp", cls="mlp", evals=1, overrides={"iterations": 2, "net": "mlp"},
                      whole=True, runner="local")
    assert same.run_id is None and same.stored == 3 + 4  # under the default protocol, every key is the same
    board = bench.leaderboard(dataset="digits", ipc=1)
    assert {e.method.condenser for e in board.entries} == {"random", "herding", "gradient_matching", "whole_data"}

    more = bench.grid("random", cls="mlp", evals=1, protocol="continual", overrides=PROTOCOL_STAGES, runner="local")
    assert not more.failed and {r.condenser for r in more.done if r.table == "protocol_results"} == {
        "no memory", "random"}
    for table in ("runs", "condensations", "evaluations"):  # new rows beside the old ones, not over them
        after = _rows(results, table)
        assert {key: after[key] for key in before[table]} == before[table], table
    assert len(_rows(results, "condensations")) == 3 + 5  # random's memory of each of the five tasks
    assert _rows(results, "evaluations") == before["evaluations"]
    board = bench.leaderboard(dataset="digits")
    assert len(board.entries) == 4 and {e.condenser for e in board.protocol_entries} == {"no memory", "random"}
