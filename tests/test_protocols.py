"""Evaluation protocols: the contract, continual learning and domain adaptation, end to end on small data."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import torch
from dcbench_protocols import Continual
from helpers import run_main

from dcbench import Bench, ProtocolResult, testing
from dcbench.dataset import DatasetOptions
from dcbench.registry import get_registry


def _protocol_rows(results: Path) -> list[dict]:
    with sqlite3.connect(results / "results.sqlite") as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM protocol_results")]


def _values(done) -> dict[str, float]:
    return {r.condenser: r.value for r in done if isinstance(r, ProtocolResult)}


# Small stages on digits (8 × 8, 5 tasks of 2 classes), a short balanced fine-tuning at a higher rate than
# the paper's, and gradient matching at 3 iterations (its memory is then only a little better than none).
FAST = {"protocol.train_iterations": 30, "protocol.finetune_iterations": 60, "protocol.finetune_lr": 0.01,
        "protocol.batch_size": 64, "iterations": 3, "net": "convnet_d1"}
STAGES = {key: value for key, value in FAST.items() if key.startswith("protocol.")}  # for a grid of random alone


def test_continual_on_a_class_split_memory_beats_no_memory_with_kd_on_and_off(tmp_path):
    """Five tasks of digits, memories of 5 images per class: without a memory the learner forgets every
    earlier task (class-incremental), with a memory of random or herding images it keeps most of them."""
    bench = Bench(tmp_path / "r", tmp_path / "data", device="cpu")
    on = bench.grid("random,herding,gm", dataset="digits", cls="convnet_d1", ipc=5, evals=1, protocol="continual",
                    overrides={**FAST, "protocol.kd": True}, runner="local")
    off = bench.grid("random", dataset="digits", cls="convnet_d1", ipc=5, evals=1, protocol="continual",
                     overrides={**STAGES, "protocol.kd": False}, runner="local")
    assert not on.failed and not off.failed
    with_kd, without = _values(on.done), _values(off.done)
    assert set(with_kd) == {"no memory", "random", "herding", "gradient_matching"}
    assert set(without) == {"no memory", "random"}
    for values in (with_kd, without):
        assert values["no memory"] < 35  # little more than the last task's two classes is recognised
        assert values["random"] > values["no memory"] + 40, values
    assert with_kd["herding"] > with_kd["no memory"] + 40 and with_kd["gradient_matching"] > with_kd["no memory"] + 5
    rows = _protocol_rows(tmp_path / "r")
    assert {json.loads(r["protocol_config"])["kd"] for r in rows} == {True, False}  # both recorded, keyed apart
    assert len({r["key"] for r in rows}) == len(rows) == 6
    for row in rows:  # the mean over the tasks seen after each stage; the value is the last stage's
        metrics = json.loads(row["metrics"])
        assert [k for k in metrics if k.startswith("stage_")] == [f"stage_{t}" for t in range(1, 6)]
        assert metrics["stage_5"] == row["value"] and len(metrics["per_task"][-1]) == 5
    # the memories are ordinary condensed sets, one per task, made of that task's classes alone
    with sqlite3.connect(tmp_path / "r" / "results.sqlite") as db:
        made = {tuple(json.loads(o)["classes"]) for (o,) in db.execute(
            "SELECT dataset_options FROM condensations WHERE condenser = 'random'")}
    assert made == {(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)}
    again = bench.grid("random", dataset="digits", cls="convnet_d1", ipc=5, evals=1, protocol="continual",
                       overrides={**STAGES, "protocol.kd": False}, runner="local")
    assert again.run_id is None and again.stored == 5 + 2  # five memories and two evaluations


def test_domain_adaptation_on_generated_fine_tuning_beats_no_adaptation(tmp_path):
    """Source: generated; target: the same classes with inverted intensities (a stated, known shift), both
    served at 16 × 16, the source net served as the target is."""
    bench = Bench(tmp_path / "r", tmp_path / "data", device="cpu")
    result = bench.grid("random", dataset="generated_inverted", cls="convnet_d1", ipc=10, evals=1, size=16,
                        protocol="domain_adaptation", runner="local",
                        overrides={"protocol.source": "generated", "protocol.iterations": 60,
                                   "protocol.source_epochs": 1})
    values = _values(result.done)
    assert values["random"] > values["no adaptation"] + 50, values
    rows = {r["condenser"]: r for r in _protocol_rows(tmp_path / "r")}
    assert json.loads(rows["no adaptation"]["metrics"])["source_accuracy"] > 90  # the source net learnt its domain
    assert rows["no adaptation"]["artifacts"] == "[]" and rows["no adaptation"]["ipc"] is None
    # one source net, trained once and shared by the baseline and the fine-tuned cell
    assert len(list((tmp_path / "r" / "cache" / "whole_data").glob("*.safetensors"))) == 1


def test_a_class_split_view_serves_its_classes_relabelled_and_normalised_as_the_whole(tmp_path):
    from dcbench.data import load_dataset

    whole = load_dataset("digits", root=tmp_path)
    task = load_dataset("digits", DatasetOptions(classes=(7, 3)), root=tmp_path)
    assert task.spec.classes == 2 and task.spec.mean == whole.spec.mean and task.spec.options == {"classes": [7, 3]}
    assert torch.equal(task.train.images[task.train.labels == 0], whole.train.images[whole.train.labels == 7])
    assert torch.equal(task.test.images[task.test.labels == 1], whole.test.images[whole.test.labels == 3])
    assert DatasetOptions().to_json() == {}  # keys made before the option existed are unchanged
    assert Continual(Continual.make_config()).views("digits", DatasetOptions())[2].options.classes == (4, 5)


def test_builtin_protocols_pass_the_conformance_checks():
    registry = get_registry()
    testing.check_protocol(registry.component("protocol", "continual").value,
                           overrides={"train_iterations": 5, "finetune_iterations": 5})
    testing.check_protocol(registry.component("protocol", "da").value,
                           overrides={"source": "digits", "iterations": 5})
    testing.check_protocol(registry.component("protocol", "classification").value)


def test_the_conformance_check_catches_a_protocol_that_ignores_its_seed():
    from dataclasses import dataclass

    from dcbench import Outcome, ProtocolBase, ProtocolSpec

    class Noisy(ProtocolBase):
        spec = ProtocolSpec(name="noisy")

        @dataclass(frozen=True)
        class Config:
            pass

        def run(self, context):
            return Outcome(float(torch.rand(1)))  # the global generator: not reproducible

    with pytest.raises(AssertionError, match="the same seed gave another value"):
        testing.check_protocol(Noisy)


def test_classification_through_the_protocol_contract_gives_the_eval_cells_accuracy(tmp_path):
    """The default protocol's run() is the computation of dcbench's own evaluation cells."""
    from dcbench.artifacts import load_artifact
    from dcbench.cells import Workspace
    from dcbench.protocol import View
    from dcbench.protocol_cell import build_context

    bench = Bench(tmp_path / "r", tmp_path / "data", device="cpu")
    made = bench.synthesize("random", ipc=2)
    [evaluation] = bench.evaluate(made.artifact, cls="convnet_d1", evals=1)
    registry = get_registry()
    protocol = registry.component("protocol", "classification").value
    ws = Workspace(tmp_path / "r", tmp_path / "data", torch.device("cpu"))
    artifact = load_artifact(made.artifact, tmp_path / "r")
    context = build_context(ws, registry.component("architecture", "convnet_d1"), [View("digits")],
                            [artifact.condensed], seed=evaluation.seed, ipc=2, profile=registry.profile("smoke"),
                            report=lambda step, **metrics: None)
    assert protocol(protocol.make_config()).run(context).value == 100 * evaluation.accuracy


@pytest.mark.parametrize("args, message", [
    (["--protocol", "continual", "--set", "protocol.tasks=1"], "protocol.tasks must be 2 … 10 for digits, got 1"),
    (["--protocol", "continual", "--set", "protocol.kd=maybe"], "kd='maybe' is str, expected bool"),
    (["--protocol", "continual", "--set", "protocol.nosuch=1"], "protocol continual has no hyperparameter 'nosuch'"),
    (["--protocol", "continual", "--whole"], "--whole belongs to the classification protocol"),
    (["--protocol", "da"], "needs its source data set: --set protocol.source=NAME"),
    (["--protocol", "da", "--set", "protocol.source=mnist"], "mnist not found in"),
    (["--protocol", "nosuch"], "unknown protocol 'nosuch'"),
    (["--protocol", "continual", "--set", "protocol.sequence=digits,generated"],
     "feeds one network with digits 1×8×8, generated 1×28×28: serve them at one shape"),
    (["--protocol", "da", "--set", "protocol.source=cifar100"], "cifar100 has 100 classes and target digits 10"),
    (["--set", "protocol.kd=true"], "protocol classification has no protocol.* settings"),
])
def test_a_protocols_mistakes_are_one_line_before_anything_runs(args, message, tmp_path, monkeypatch, capsys):
    results = tmp_path / "r"
    code, out, err = run_main(monkeypatch, capsys, "grid", "-c", "random", "--dataset", "digits", "--runner",
                              "local", "--results", str(results), "--data-root", str(tmp_path / "data"), *args)
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (results / "results.sqlite").exists()  # nothing ran, nothing was recorded
