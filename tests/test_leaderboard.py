"""Leaderboards: aggregation and table shapes on hand-written stores, and `publish` end to end.

Most tests write rows straight into a store (fast, and every number is known); one module fixture
condenses digits for real (random, and gradient matching for two iterations, on an MLP), publishes
that, and the published page is opened in headless Chromium.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from dcbench import Bench, Condensation, Evaluation
from dcbench.cli import app, main
from dcbench.leaderboard import (
    Method,
    Setting,
    load_leaderboard,
    method_matrix,
    overview,
    ranking,
    ranks,
    setting_matrix,
)
from dcbench.stats import NETS, SETS
from dcbench.store import Store

CPU = "cpu (x86_64, 2 threads)"
GPU = "NVIDIA H100 80GB HBM3"
VERSIONS = {"dcbench": "0.1.0", "python": "3.11.2", "torch": "2.14.1"}


class Rows:
    """Writes condensations and evaluations into a store with only the columns that matter spelled out."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.count = 0

    def synthesis(self, condenser: str, *, ipc: int = 1, synth: str | None = None, seed: int = 0,
                  dataset: str = "digits", profile: str = "smoke", config: dict | None = None, version: int = 1,
                  wall_s: float = 10.0, peak: int = 2**30, kind: str = "process_max_rss", device: str = CPU,
                  third_party: bool = False, options: dict | None = None, artifact: str | None = None) -> str:
        self.count += 1
        key = f"synth{self.count}"
        self.store.put(Condensation(
            key=key, status="done", profile=profile, dataset=dataset, dataset_version=1,
            dataset_options=options or {}, device="cpu", device_name=device, wall_s=wall_s,
            peak_mem_bytes=peak, peak_mem_kind=kind, artifact=artifact or f"{self.count:064x}",
            versions=VERSIONS | ({"toy-condensers": "2.0"} if third_party else {}), condenser=condenser,
            condenser_version=version, third_party=third_party,
            condenser_origin="toy-condensers 2.0" if third_party else "built-in", config=config or {"lr": 0.1},
            synth_net=synth, ipc=ipc, seed=seed,
        ))
        return key

    def evaluations(self, synthesis: str | None, cls: str, accuracies: list[float], *, schedule: str = "standard",
                    device: str = CPU, dataset: str = "digits", profile: str = "smoke",
                    versions: dict | None = None, status: str = "done") -> None:
        made = self.store.condensation(synthesis) if synthesis else None
        for i, accuracy in enumerate(accuracies):
            self.count += 1
            row = {
                "key": f"eval{self.count}", "status": status, "device": "cpu", "device_name": device,
                "versions": versions or (made.versions if made else VERSIONS), "cls_net": cls,
                "cls_net_version": 1, "cls_net_origin": "built-in", "schedule": schedule, "eval_index": i,
                "seed": i, "accuracy": accuracy, "wall_s": 1.0,
            }
            if made:
                row |= {k: getattr(made, k) for k in ("profile", "dataset", "dataset_version", "dataset_options",
                                                      "condenser", "condenser_version", "condenser_origin",
                                                      "third_party", "synth_net", "ipc", "artifact")}
                row |= {"condensation": synthesis, "run_seed": made.seed}
            else:
                row |= {"profile": profile, "dataset": dataset, "dataset_version": 1, "dataset_options": {},
                        "condenser": "whole_data", "condenser_version": 1, "condenser_origin": "built-in",
                        "third_party": False}
            self.store.put(Evaluation(**row))


@pytest.fixture
def rows(tmp_path):
    store = Store(tmp_path / "results")
    yield Rows(store)
    store.close()


def _population_std(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def _cells(view) -> dict[str, list[str]]:
    """A view's rows by their first cell."""
    return {row.cells[0]: row.cells[1:] for row in view.rows}


# ---------------------------------------------------------------------------------------------
# Aggregation


def test_intervals_gain_over_the_baseline_fraction_of_whole_and_ties(rows):
    """Worked by hand: gm has two sets (means 0.85, 0.65), so its interval is over sets: 0.75 ± 12.7062 ·
    0.1 = [-0.52, 2.02]; random one set of three nets 0.50/0.52/0.54: 0.52 ± 4.302653 · 0.02 / √3 =
    [0.4703, 0.5697]; herding one net, no interval; whole data 0.90, 0.92."""
    gm = [rows.synthesis("gradient_matching", synth="convnet", seed=s) for s in (0, 1)]
    rows.evaluations(gm[0], "convnet", [0.80, 0.90])
    rows.evaluations(gm[1], "convnet", [0.60, 0.70])
    rows.evaluations(rows.synthesis("random"), "convnet", [0.50, 0.52, 0.54])
    rows.evaluations(rows.synthesis("herding"), "convnet", [0.10])
    rows.evaluations(None, "convnet", [0.90, 0.92])
    board = load_leaderboard(rows.store, headline_net="convnet", baseline="random")
    entry = {e.condenser: e for e in board.entries}
    assert (entry["gradient_matching"].interval.level, entry["gradient_matching"].interval.k) == (SETS, 2)
    assert entry["gradient_matching"].interval.low == pytest.approx(0.75 - 1.27062, abs=1e-4)
    assert entry["random"].interval.level == NETS
    assert entry["random"].interval.high == pytest.approx(0.52 + 0.049683, abs=1e-5)
    assert entry["herding"].interval is None
    assert entry["whole_data"].interval.level == "whole-data runs"
    assert board.baseline_of(entry["gradient_matching"]) is entry["random"]
    assert board.baseline_of(entry["random"]) is None and board.whole_of(entry["herding"]) is entry["whole_data"]

    view = ranking(board, board.settings()[0])
    # gm's and random's intervals overlap: they tie at 1; herding's point lies below random's interval
    assert [row.cells[:2] for row in view.rows] == [["=1", "gradient_matching"], ["=1", "random"], ["2", "herding"]]
    by_method = {row.cells[1]: row.cells for row in view.rows}
    assert by_method["gradient_matching"][4:] == ["[-52.1, 202.1]", SETS, "+23.0", "82%"]
    assert by_method["random"][4:] == ["[47.0, 57.0]", NETS, "—", "57%"]
    assert by_method["herding"][4:] == ["—", "one net", "-42.0", "11%"]


def test_ranks_without_overlap_are_strict():
    from dcbench.leaderboard import Entry, Provenance, Score
    from dcbench.stats import Interval

    def entry(mean, low, high):
        return Entry(Setting("p", "d", "{}", 1), Method("m"), None, "n", Score(mean, 0.0, 2), 1,
                     Provenance((), (), (), (), "", (), ()), Interval(low, high, NETS, 2))

    assert ranks([entry(0.9, 0.85, 0.95), entry(0.7, 0.65, 0.75), entry(0.69, 0.6, 0.8)]) == ["1", "=2", "=2"]


def test_mean_population_std_and_n_over_every_net_of_every_run(rows):
    first = rows.synthesis("gradient_matching", synth="convnet", seed=0, wall_s=10.0, peak=2 * 2**30)
    second = rows.synthesis("gradient_matching", synth="convnet", seed=1, wall_s=20.0, peak=3 * 2**30)
    rows.evaluations(first, "convnet", [0.50, 0.60])
    rows.evaluations(second, "convnet", [0.70])
    rows.evaluations(first, "mlp", [0.30], status="failed")  # failed nets count for nothing
    board = load_leaderboard(rows.store, headline_net="convnet")
    [entry] = board.entries
    assert (entry.condenser, entry.synth_net, entry.cls_net, entry.runs) == ("gradient_matching", "convnet",
                                                                             "convnet", 2)
    assert entry.score.n == 3
    assert entry.score.mean == pytest.approx(0.6)
    assert entry.score.std == pytest.approx(_population_std([0.5, 0.6, 0.7]))  # ÷ n, not n − 1
    assert str(entry.score) == "60.0 ± 8.2 (3)"
    cost = board.cost(entry)
    assert (cost.seconds.mean, cost.seconds.n) == (15.0, 2)
    assert cost.memory_text == "3,072 MiB CPU RSS"  # the largest peak of the runs, and what it measures
    assert board.artifacts[entry.synthesis] == rows.store.condensation(first).artifact  # the first run's


def test_profiles_schedules_options_and_configurations_are_never_mixed(rows):
    smoke = rows.synthesis("dataset_distillation", synth="convnet")
    cpu = rows.synthesis("dataset_distillation", synth="convnet", profile="cpu")
    resized = rows.synthesis("dataset_distillation", synth="convnet", options={"size": 32})
    rows.evaluations(smoke, "convnet", [0.40, 0.42])
    rows.evaluations(smoke, "convnet", [0.55], schedule="learned")
    rows.evaluations(cpu, "convnet", [0.90])
    rows.evaluations(resized, "convnet", [0.10])
    short = rows.synthesis("gradient_matching", synth="convnet", config={"iterations": 2, "lr": 0.1})
    long = rows.synthesis("gradient_matching", synth="convnet", config={"iterations": 20, "lr": 0.1})
    rows.evaluations(short, "convnet", [0.3])
    rows.evaluations(long, "convnet", [0.8])
    board = load_leaderboard(rows.store, headline_net="convnet")
    found = {(e.profile, e.setting.data, e.method.label): (e.score.mean, e.score.n) for e in board.entries}
    assert found == {
        ("smoke", "digits", "dataset_distillation"): (pytest.approx(0.41), 2),
        ("smoke", "digits", "dataset_distillation (learned schedule)"): (0.55, 1),
        ("cpu", "digits", "dataset_distillation"): (0.90, 1),
        ("smoke", "digits (size 32)", "dataset_distillation"): (0.10, 1),
        ("smoke", "digits", "gradient_matching [iterations=2]"): (0.3, 1),
        ("smoke", "digits", "gradient_matching [iterations=20]"): (0.8, 1),
    }
    # filters select, and a filter on ipc keeps the whole-data rows every ipc is compared with
    rows.evaluations(None, "convnet", [0.97], profile="cpu")
    assert {e.condenser for e in load_leaderboard(rows.store, profile="cpu", ipc=1).entries} == {"dataset_distillation",
                                                                                          "whole_data"}
    assert {e.condenser for e in load_leaderboard(rows.store, ipc=10).entries} == {"whole_data"}


def test_third_party_results_are_marked(rows):
    theirs = rows.synthesis("toy_herding", third_party=True)
    ours = rows.synthesis("random")
    rows.evaluations(theirs, "convnet", [0.5])
    rows.evaluations(ours, "convnet", [0.4])
    board = load_leaderboard(rows.store, headline_net="convnet")
    labels = {e.condenser: e.method.label for e in board.entries}
    assert labels == {"toy_herding": "toy_herding*", "random": "random"}
    [theirs_entry] = [e for e in board.entries if e.third_party]
    assert dict(theirs_entry.provenance.versions)["toy-condensers"] == ("2.0",)
    setting = Setting("smoke", "digits", "{}", 1)
    assert "third-party" in setting_matrix(board, setting).caption


# ---------------------------------------------------------------------------------------------
# The two table shapes


def _two_datasets(rows: Rows) -> None:
    """gm on digits (ipc 1 and 10) with three synthesis nets × two classification nets; random; whole data."""
    for ipc in (1, 10):
        for synth, base in (("convnet", 0.7), ("mlp", 0.6), ("lenet", 0.65)):
            key = rows.synthesis("gradient_matching", synth=synth, ipc=ipc, wall_s=30.0 + ipc, device=GPU,
                                 kind="cuda_max_allocated", peak=512 * 2**20)
            rows.evaluations(key, "convnet", [base + ipc / 100, base + ipc / 100 + 0.02], device=GPU)
            rows.evaluations(key, "mlp", [base - 0.1 + ipc / 100], device=GPU)
        key = rows.synthesis("random", ipc=ipc, wall_s=0.01)
        rows.evaluations(key, "convnet", [0.3 + ipc / 50, 0.32 + ipc / 50])
        rows.evaluations(key, "mlp", [0.2 + ipc / 50])
    only_mlp = rows.synthesis("gradient_matching", synth="mlp", ipc=1, dataset="mnist")
    rows.evaluations(only_mlp, "mlp", [0.5, 0.6])
    rows.evaluations(only_mlp, "convnet", [0.9])  # better, but not the diagonal: Table 1 takes mlp → mlp
    rows.evaluations(None, "convnet", [0.98, 0.99])
    rows.evaluations(None, "mlp", [0.95])
    rows.evaluations(None, "convnet", [0.992], dataset="mnist")


def test_matrix_is_synthesis_net_by_classification_net_per_condenser(rows):
    _two_datasets(rows)
    board = load_leaderboard(rows.store, headline_net="convnet")
    setting = Setting("smoke", "digits", "{}", 10)
    gm = method_matrix(board, setting, Method("gradient_matching"))
    assert gm.columns == ["synthesis net", "convnet", "mlp", "synthesis time", "peak memory"]
    matrix = _cells(gm)
    assert list(matrix) == ["convnet", "lenet", "mlp"]
    assert matrix["convnet"][:2] == ["81.0 ± 1.0 (2)", "70.0 ± 0.0 (1)"]
    assert matrix["mlp"][:2] == ["71.0 ± 1.0 (2)", "60.0 ± 0.0 (1)"]
    assert matrix["convnet"][2:] == ["40.0 s", "512 MiB CUDA"]
    random = method_matrix(board, setting, Method("random"))
    assert _cells(random) == {"—": ["51.0 ± 1.0 (2)", "40.0 ± 0.0 (1)", "0.0 s", "1,024 MiB CPU RSS"]}
    combined = setting_matrix(board, setting)
    assert [r.cells[0] for r in combined.rows] == ["gradient_matching", "", "", "random", "whole data"]
    assert combined.rows[-1].whole and combined.rows[2].ends_group


def test_overview_is_condensers_by_dataset_and_ipc_with_whole_data(rows):
    _two_datasets(rows)
    board = load_leaderboard(rows.store, headline_net="convnet")
    view = overview(board, "smoke")
    assert view.columns == ["condenser", "digits · ipc 1", "digits · ipc 10", "mnist · ipc 1"]
    table = _cells(view)
    assert list(table) == ["gradient_matching", "random", "whole data"]
    # the paper's cell (convnet → convnet) where there is one; else the best same-network cell, named
    assert table["gradient_matching"] == ["72.0 ± 1.0 (2)", "81.0 ± 1.0 (2)", "55.0 ± 5.0 (2) [mlp]"]
    assert table["random"] == ["33.0 ± 1.0 (2)", "51.0 ± 1.0 (2)", ""]
    assert table["whole data"] == ["98.5 ± 0.5 (2)", "98.5 ± 0.5 (2)", "99.2 ± 0.0 (1)"]
    assert view.rows[-1].whole


def test_the_headline_network_is_a_registry_setting(rows):
    """registry.yaml's leaderboard.headline_net picks each method's headline cell; another network
    there (or none) makes the table name the networks of the cells it shows."""
    from dcbench.registry import get_registry

    _two_datasets(rows)
    assert get_registry().headline_net == "convnet"
    table = _cells(overview(load_leaderboard(rows.store, headline_net="mlp"), "smoke"))
    # mlp → mlp is now the headline cell everywhere, though convnet → convnet scores higher
    assert table["gradient_matching"] == ["51.0 ± 0.0 (1)", "60.0 ± 0.0 (1)", "55.0 ± 5.0 (2)"]
    unnamed = _cells(overview(load_leaderboard(rows.store), "smoke"))
    assert unnamed["gradient_matching"][0] == "72.0 ± 1.0 (2) [convnet]"


def test_show_prints_the_tables(rows, monkeypatch):
    monkeypatch.setattr("dcbench.cli.out", Console(width=200))
    _two_datasets(rows)
    shown = CliRunner().invoke(app, ["leaderboard", "--results", str(rows.store.path.parent)], terminal_width=250)
    assert shown.exit_code == 0, shown.output
    assert "Condensers × data sets · profile smoke" in shown.output
    for title in ("digits · ipc 1 · profile smoke", "digits · ipc 10 · profile smoke", "mnist · ipc 1"):
        assert title in shown.output
    assert "512 MiB CUDA" in shown.output and "1,024 MiB CPU RSS" in shown.output
    one = CliRunner().invoke(app, ["leaderboard", "show", "--dataset", "digits", "--ipc", "10", "--results",
                                   str(rows.store.path.parent)], terminal_width=250)
    assert one.exit_code == 0, one.output
    assert "Condensers × data sets" not in one.output  # one setting: the matrix says it all
    assert "81.0 ± 1.0 (2)" in one.output and "ipc 1 " not in one.output


# ---------------------------------------------------------------------------------------------
# Publishing a hand-written store


def _publish(results: Path, out: Path, *extra: str):
    return CliRunner().invoke(app, ["leaderboard", "publish", "--out", str(out), "--results", str(results), *extra])


def test_publish_writes_tables_csv_json_plot_and_provenance(rows, tmp_path):
    _two_datasets(rows)
    theirs = rows.synthesis("toy_herding", third_party=True)
    rows.evaluations(theirs, "convnet", [0.5])
    out = tmp_path / "board"
    done = _publish(rows.store.path.parent, out)
    assert done.exit_code == 0, done.output
    assert "image grid(s) not drawn" in done.output  # these hand-written rows have no artifact files

    records = json.loads((out / "results.json").read_text())["records"]
    with open(out / "results.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(records) == len(table) == len(load_leaderboard(rows.store, headline_net="convnet").entries)
    gm = next(r for r in records if (r["condenser"], r["ipc"], r["synth_net"], r["cls_net"], r["dataset"]) ==
              ("gradient_matching", 10, "convnet", "convnet", "digits"))
    assert (gm["accuracy_mean"], gm["n"], gm["runs"], gm["default"]) == (pytest.approx(0.81), 2, 1, True)
    assert gm["accuracy_std"] == pytest.approx(0.01)
    assert gm["evaluation_devices"] == [GPU] and gm["versions"]["dcbench"] == ["0.1.0"]
    assert gm["peak_memory_bytes"] == {"cuda_max_allocated": 512 * 2**20} and gm["synthesis_seconds_mean"] == 40.0
    row = next(r for r in table if (r["condenser"], r["ipc"], r["synth_net"], r["cls_net"], r["dataset"]) ==
               ("gradient_matching", "10", "convnet", "convnet", "digits"))
    assert float(row["accuracy_mean"]) == pytest.approx(0.81) and row["n"] == "2" and row["profile"] == "smoke"
    assert row["evaluation_devices"] == GPU and "dcbench 0.1.0" in row["versions"]
    toy = next(r for r in records if r["condenser"] == "toy_herding")
    assert toy["third_party"] is True and toy["label"] == "toy_herding*"

    readme = (out / "README.md").read_text()
    assert "| condenser | digits · ipc 1 | digits · ipc 10 | mnist · ipc 1 |" in readme
    assert "| gradient_matching | 72.0 ± 1.0 (2) | 81.0 ± 1.0 (2) | 55.0 ± 5.0 (2) [mlp] |" in readme
    assert "| toy_herding\\* |" in readme and "- \\* a third-party" in readme
    assert "| synthesis net | convnet | mlp | synthesis time | peak memory |" in readme
    assert "## Provenance" in readme and GPU in readme
    plot = out / "plots" / "accuracy-vs-ipc-smoke-digits.svg"
    assert f"]({plot.relative_to(out)})" in readme
    svg = plot.read_text()
    assert svg.startswith("<svg") and "gradient_matching" in svg and "whole data" in svg
    assert "<svg" in (out / "index.html").read_text()  # the plot is inline in the page too


def test_republishing_replaces_generated_files_only(rows, tmp_path):
    _two_datasets(rows)
    out = tmp_path / "board"
    assert _publish(rows.store.path.parent, out).exit_code == 0
    (out / "NOTES.md").write_text("mine")
    first = set(json.loads((out / ".dcbench-publish.json").read_text())["files"])
    assert "plots/accuracy-vs-ipc-smoke-mnist.svg" in first
    again = _publish(rows.store.path.parent, out, "--dataset", "digits")
    assert again.exit_code == 0, again.output
    assert (out / "NOTES.md").read_text() == "mine"
    assert not (out / "plots" / "accuracy-vs-ipc-smoke-mnist.svg").exists()  # no longer generated: removed
    assert "mnist" not in (out / "results.csv").read_text()
    assert json.loads((out / "results.json").read_text())["filters"]["dataset"] == "digits"


def test_publish_refuses_to_overwrite_files_it_did_not_write(rows, tmp_path, monkeypatch, capsys):
    _two_datasets(rows)
    out = tmp_path / "board"
    out.mkdir()
    (out / "README.md").write_text("someone's page")
    monkeypatch.setattr(sys, "argv", ["dcbench", "leaderboard", "publish", "--out", str(out), "--results",
                                      str(rows.store.path.parent)])
    with pytest.raises(SystemExit) as exited:
        main()
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "README.md exists and was not written by" in err
    assert (out / "README.md").read_text() == "someone's page" and len(list(out.iterdir())) == 1


@pytest.mark.parametrize("command", [["leaderboard", "publish"], ["leaderboard"]])
def test_missing_or_empty_store_is_one_error_line(tmp_path, monkeypatch, capsys, command):
    empty = tmp_path / "empty"
    Store(empty).close()
    for results, phrase in ((tmp_path / "nothing", "no results in"), (empty, "no finished evaluations")):
        monkeypatch.setattr(sys, "argv", ["dcbench", *command, "--results", str(results)])
        with pytest.raises(SystemExit) as exited:
            main()
        out, err = capsys.readouterr()
        assert exited.value.code == 2
        assert [line for line in err.splitlines() if line.strip()] == [next(
            line for line in err.splitlines() if line.startswith("error:"))]
        assert phrase in err and "Traceback" not in err and out == ""
    assert not (Path.cwd() / "leaderboard" / "index.html").exists()


# ---------------------------------------------------------------------------------------------
# The real thing: digits, condensed and evaluated, published, and opened in a browser


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    from dcbench.registry import get_registry

    root = tmp_path_factory.mktemp("published")
    get_registry.cache_clear()
    bench = Bench(root / "results", root / "data", device="cpu")
    for condenser, synth, overrides in (("random", None, {}), ("gm", "mlp", {"iterations": 2})):
        made = bench.synthesize(condenser, synth=synth, overrides=overrides)
        assert made.done, made.error
        bench.evaluate(made.artifact, cls="mlp", evals=1)
    bench.evaluate_whole(dataset="digits", cls="mlp", evals=1)
    out = root / "leaderboard"
    done = _publish(bench.results, out)
    assert done.exit_code == 0, done.output
    return out


def test_published_files_hold_the_real_results(published):
    records = json.loads((published / "results.json").read_text())["records"]
    found = {(r["condenser"], r["synth_net"], r["cls_net"]): r for r in records}
    assert set(found) == {("random", None, "mlp"), ("gradient_matching", "mlp", "mlp"), ("whole_data", None, "mlp")}
    for record in found.values():
        assert 0.0 < record["accuracy_mean"] <= 1.0 and record["n"] == 1 and record["profile"] == "smoke"
        assert record["versions"]["dcbench"] and record["evaluation_devices"][0].startswith("cpu")
    gm = found[("gradient_matching", "mlp", "mlp")]
    assert gm["synthesis_seconds_mean"] > 0 and list(gm["peak_memory_bytes"]) == ["process_max_rss"]
    readme = (published / "README.md").read_text()
    assert f"| gradient_matching | {100 * gm['accuracy_mean']:.1f} ± 0.0 (1) [mlp] |" in readme
    images = sorted((published / "images").iterdir())
    assert [p.name for p in images] == ["smoke-digits-ipc1-gradient_matching-mlp.png",
                                        "smoke-digits-ipc1-random-selection.png"]
    for image in images:
        data = image.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert width > 32 and height >= 10 * 32  # ten classes, one row each, 8×8 digits upscaled
        assert f"]({image.relative_to(published)})" in readme
    assert gm["image"] == "images/smoke-digits-ipc1-gradient_matching-mlp.png"


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.tables: dict[str, int] = {}  # id → body rows
        self.images: list[dict[str, str | None]] = []
        self._table: str | None = None
        self._body = False

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        self.links += [v for k, v in attrs if k in ("src", "href", "srcset", "data", "poster") and v]
        if tag == "link" or (tag == "script" and found.get("src")):
            self.links.append(found.get("href") or found.get("src") or "")
        if tag == "table":
            self._table = found.get("id")
            self.tables[self._table] = 0
        elif tag == "tbody":
            self._body = True
        elif tag == "tr" and self._body:
            self.tables[self._table] += 1
        elif tag == "img":
            self.images.append(found)

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._body = False


def _parse(html: str) -> _References:
    parser = _References()
    parser.feed(html)
    return parser


def test_page_references_only_local_files(published):
    html = (published / "index.html").read_text()
    page = _parse(html)
    assert page.images and page.tables
    for link in page.links:
        assert not re.match(r"^[a-z][a-z0-9+.-]*:|^//", link, re.I), link  # no http:, file:, data: … or //host
        target = link.split("#")[0]
        assert not target or (published / target).is_file(), link
    assert "@import" not in html and "url(" not in html


def test_published_page_renders_in_headless_chromium(published, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed, and under CI this test must run: apt-get install -y chromium")
        pytest.skip("chromium is not installed (apt-get install -y chromium); set CI=1 to make this a failure")
    url = (published / "index.html").as_uri()
    browser = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
               f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*browser, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    rendered = _parse(dom.stdout)
    records = json.loads((published / "results.json").read_text())["records"]
    # the overview has a row per condenser and the whole data; the ranking one per condenser; each matrix one
    # row (one synthesis net)
    assert rendered.tables.pop("overview-smoke") == 3
    assert rendered.tables == {"ranking-smoke-digits-ipc1": 2, "matrix-smoke-digits-ipc1-gradient_matching-standard": 1,
                               "matrix-smoke-digits-ipc1-random-standard": 1, "provenance-table": 3}
    for record in records:
        assert f"{100 * record['accuracy_mean']:.1f} ± 0.0 (1)" in dom.stdout
    assert len(rendered.images) == 2
    for image in rendered.images:
        assert image.get("data-loaded") == "1", image  # decoded, not a broken link

    screenshot = tmp_path / "leaderboard.png"
    shot = subprocess.run([*browser, f"--screenshot={screenshot}", "--window-size=1280,2000", url],
                          capture_output=True, text=True, timeout=120)
    assert shot.returncode == 0 and screenshot.read_bytes()[:4] == b"\x89PNG", shot.stderr[-2000:]
    if keep := os.environ.get("DCBENCH_SCREENSHOT_DIR"):
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, Path(keep) / "leaderboard.png")


def test_a_configuration_without_an_added_field_is_named_default():
    """Stored before a condenser gained ``precision`` (an ``added_field``), a set's configuration
    lacks the key; beside a set made with it set, the board names the older one ``default``."""
    from dcbench.leaderboard import _variant_names

    old = (1, json.dumps({"lr": 0.1}))
    new = (1, json.dumps({"lr": 0.1, "precision": "bf16"}))
    assert _variant_names({old, new}) == {old: "precision=default", new: "precision=bf16"}
    assert _variant_names({old}) == {old: ""}


def test_terminal_tables_print_variant_labels_as_text_not_markup():
    from dcbench.cli.tables import rich_table
    from dcbench.leaderboard import View, ViewRow

    view = View(key="k", title="gradient_matching [precision=bf16] · digits", columns=["condenser", "[x]"],
                rows=[ViewRow(["gradient_matching [precision=bf16]", "87.0"])])
    console = Console(width=200, record=True)
    console.print(rich_table(view))
    text = console.export_text()
    assert text.count("[precision=bf16]") == 2 and "[x]" in text


def test_ranks_read_down_the_table():
    """A wide interval below a narrow one it overlaps does not rank above it: C is wholly above A, so A is
    2nd; B's interval is wide enough to reach above everything, but it is shown after A and ties with it."""
    from dcbench.leaderboard import Entry, Provenance, Score
    from dcbench.stats import Interval

    def entry(mean, low, high):
        return Entry(Setting("p", "d", "{}", 1), Method("m"), None, "n", Score(mean, 0.0, 2), 1,
                     Provenance((), (), (), (), "", (), ()), Interval(low, high, NETS, 2))

    assert ranks([entry(0.95, 0.94, 0.96), entry(0.9, 0.89, 0.91), entry(0.8, 0.5, 1.1)]) == ["1", "=2", "=2"]
