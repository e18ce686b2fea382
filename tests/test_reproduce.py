"""Studies and `dcbench reproduce`: paper tables as data, run where missing, verdicts against the paper."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from helpers import one_error_line, run_main

from dcbench import Bench, Study
from dcbench.registry import get_registry
from dcbench.stats import NETS, SETS, entry_interval, noise_bound, t_interval, verdict
from dcbench.study import StudyError

STUDY = Path(__file__).parent / "studies" / "digits.yaml"


@pytest.fixture
def bench(tmp_path):
    return Bench(results=tmp_path / "results", data_root=tmp_path / "data", device="cpu", profile="smoke")


# --- statistics with answers worked by hand ------------------------------------------------------

def test_t_interval_of_five_accuracies_worked_by_hand():
    # mean 0.84; sample sd √((2·0.04² + 2·0.02²)/4) = √0.001; t(0.975, 4) = 2.776445;
    # half width 2.776445 · √0.001 / √5 = 0.0392654
    interval = t_interval([0.80, 0.82, 0.84, 0.86, 0.88], NETS)
    assert interval.low == pytest.approx(0.84 - 0.0392654, abs=1e-6)
    assert interval.high == pytest.approx(0.84 + 0.0392654, abs=1e-6)
    assert (interval.level, interval.k) == (NETS, 5)
    assert t_interval([0.5], NETS) is None


def test_two_level_interval_is_over_the_sets_means():
    # set means 0.85 and 0.65: mean 0.75, sd √(2 · 0.1²) = 0.141421; t(0.975, 1) = 12.7062;
    # half width 12.7062 · 0.141421 / √2 = 1.27062 (two sets say little, and the interval says so)
    interval = entry_interval([[0.8, 0.9], [0.6, 0.7]])
    assert (interval.level, interval.k) == (SETS, 2)
    assert interval.low == pytest.approx(0.75 - 1.27062, abs=1e-4)
    assert interval.high == pytest.approx(0.75 + 1.27062, abs=1e-4)
    one_set = entry_interval([[0.8, 0.9]])
    assert one_set.level == NETS and one_set.k == 2


def test_noise_bound_and_verdicts_worked_by_hand():
    # paper 70.5 ± 0.6 (n 100), ours sd 1.0 over 5 nets: 2·√(0.36/100 + 1/5) = 2·√0.2036 = 0.902441
    bound = noise_bound(0.6, 100, 1.0, 5)
    assert bound == pytest.approx(0.902441, abs=1e-6)
    assert verdict(-1.5, bound) == "below" and verdict(0.9, bound) == "within" and verdict(1.0, bound) == "above"
    assert noise_bound(None, 100, 1.0, 4) == pytest.approx(1.0)  # no paper std: ours alone


# --- the shipped studies -------------------------------------------------------------------------

SHIPPED = {"table1": 44, "table2": 36, "table3": 8, "ablation_activation": 9, "ablation_pooling": 9,
           "ablation_normalization": 25, "ablation_depth": 16, "ablation_width": 16}


def _cell(study: Study, **match):
    found = [c for c in study.cells if all(getattr(c, k) == v for k, v in match.items())]
    assert len(found) == 1, (match, found)
    return found[0]


def test_shipped_studies_load_and_name_only_registered_components():
    reg = get_registry()
    for name, count in SHIPPED.items():
        study = reg.component("study", name).value
        assert study.name == name and len(study.cells) == count
        for cell in study.cells:
            assert cell.dataset in reg.datasets
            assert cell.whole or cell.condenser in reg.condensers
            for net in (cell.synth, cell.cls):
                if net is not None:
                    reg.architecture(net)


def test_typed_numbers_match_cells_read_again_from_the_paper():
    """Cells read again from the paper's text, one or two per table, including the ones whose layout is
    easiest to misread: Table T5's text lists it column by column; T7's last column lost its stds."""
    reg = get_registry()
    study = lambda name: reg.component("study", name).value
    checks = [
        (study("table1"), dict(dataset="fashion_mnist", ipc=1, condenser="gradient_matching"), 70.5, 0.6),
        (study("table1"), dict(dataset="svhn", ipc=10, condenser="herding"), 50.5, 3.3),
        (study("table1"), dict(dataset="cifar10", ipc=None, condenser="whole_data"), 84.8, 0.1),
        (study("table1"), dict(dataset="mnist", ipc=1, condenser="forgetting"), 35.5, 5.6),
        (study("table2"), dict(synth="mlp", cls="alexnet"), 70.9, 11.6),
        (study("table2"), dict(synth="resnet18", cls="mlp"), 73.6, 1.2),
        (study("table3"), dict(dataset="cifar10", condenser="dataset_distillation"), 36.8, 1.2),
        (study("table3"), dict(dataset="mnist", ipc=1, condenser="gradient_matching"), 85.0, 1.6),
        (study("ablation_activation"), dict(synth="convnet_sigmoid", cls="convnet"), 91.2, 0.6),
        (study("ablation_pooling"), dict(synth="convnet_np", cls="convnet"), 88.3, 1.0),
        (study("ablation_normalization"), dict(synth="convnet_bn", cls="convnet_ln"), 85.7, 1.6),
        (study("ablation_normalization"), dict(synth="convnet", cls="convnet_bn"), 56.7, 6.5),
        (study("ablation_depth"), dict(synth="convnet_d4", cls="convnet"), 91.9, 0.5),
        (study("ablation_width"), dict(synth="convnet_w32", cls="convnet_w256"), 91.3, None),
    ]
    for found, match, mean, std in checks:
        paper = _cell(found, **match).paper
        assert (paper.mean, paper.std, paper.n) == (mean, std, 100), match
    assert _cell(study("table3"), condenser="dataset_distillation", dataset="mnist").schedule == "learned"


# --- reproducing a study end to end ----------------------------------------------------------------

def test_reproduce_runs_the_missing_cells_then_nothing_with_every_verdict(bench):
    first = bench.reproduce(STUDY, runner="local")
    verdicts = {c.cell.label: c.verdict for c in first.cells}
    assert verdicts == {"random · digits 1": "within", "random · digits 2": "below",
                        "random (convnet) · digits 1": "above", "whole data · digits": "within",
                        "random · mnist 1": "missing data"}
    # two sets (ipc 1 and 2), 2 nets per network of each (the ipc-1 set is shared by two cells), one whole net
    assert first.to_compute == 2 + 3 * 2 + 1 and first.stored == 0 and first.reduced
    shared = [c for c in first.cells if c.cell.column == "digits 1" and c.ours is not None]
    assert all(c.ours.n == 2 and c.sets == 1 and c.interval.level == NETS for c in shared)
    whole = next(c for c in first.cells if c.cell.whole)
    assert whole.ours.n == 1 and whole.interval is None
    below = next(c for c in first.cells if c.verdict == "below")
    sd = 100 * below.ours.std * math.sqrt(2)  # sample sd of two nets
    assert below.delta == pytest.approx(100 * below.ours.mean - 100.0)
    assert below.bound == pytest.approx(2 * sd / math.sqrt(2))

    again = bench.reproduce(STUDY, runner="local")
    assert again.to_compute == 0 and again.run_id is None and again.stored == first.to_compute
    assert [(c.verdict, c.ours) for c in again.cells] == [(c.verdict, c.ours) for c in first.cells]


def test_reproduce_shares_keys_with_the_grid(bench):
    """A study cell is the grid cell of the same condenser, nets and budgets: a grid's results are reused."""
    bench.grid("random", cls="mlp", dataset="digits", ipc=2, runner="local")
    rep = bench.reproduce(STUDY, ipc=2, dry_run=True)
    cell = next(c for c in rep.cells if c.cell.column == "digits 2")
    assert cell.ours is not None and cell.ours.n == 2
    assert rep.to_compute == 1  # only the whole-data net: the ipc filter keeps the whole-data cells


def test_dry_run_computes_nothing_and_writes_no_store(bench):
    rep = bench.reproduce(STUDY, dry_run=True)
    assert rep.dry_run and rep.to_compute == 2 + 6 + 1
    assert {c.verdict for c in rep.cells} == {"not run", "missing data"}
    assert not (bench.results / "results.sqlite").exists()


def test_cli_reproduce_prints_verdicts_and_writes_markdown(monkeypatch, capsys, tmp_path):
    md = tmp_path / "table.md"
    code, out, err = run_main(monkeypatch, capsys, "reproduce", str(STUDY), "--runner", "local", "--results",
                              str(tmp_path / "r"), "--data-root", str(tmp_path / "d"), "--device", "cpu",
                              "--markdown", str(md))
    assert code == 0, err
    for verdict_text in ("within", "below", "above", "missing data"):
        assert verdict_text in out
    assert "reduced" in out and "mnist" in err
    text = md.read_text()
    assert text.startswith("| row | column | paper | ours | Δ | bound | verdict |")
    assert "| random | mnist 1 | 64.9 ± 3.5 | — |" in text and "Made up for the tests" in text
    code, out, err = run_main(monkeypatch, capsys, "reproduce", str(STUDY), "--runner", "local", "--results",
                              str(tmp_path / "r"), "--data-root", str(tmp_path / "d"), "--device", "cpu")
    assert code == 0 and "nothing to compute" in err


def test_cells_that_cannot_run_are_refused_and_the_rest_runs(bench, tmp_path):
    """LeNet takes 28 or 32 px, not digits' 8: a synthesis net or a whole-data classifier refused is that
    cell's verdict; a learned schedule asked of sets that carry none is refused once they exist."""
    study = Study.from_mapping({"name": "x", "version": 1, "title": "t", "source": "s", "defaults": {
        "dataset": "digits", "ipc": 1, "cls": "mlp", "paper": "50 ± 50", "n": 1}, "cells": [
        {"row": "gm", "column": "lenet", "condenser": "gradient_matching", "synth": "lenet"},
        {"row": "whole", "column": "lenet", "condenser": "whole_data", "ipc": None, "cls": "lenet"},
        {"row": "random", "column": "learned", "condenser": "random", "schedule": "learned"},
        {"row": "random", "column": "mlp", "condenser": "random"}]}, where="test")
    rep = bench.reproduce(study, runner="local")
    verdicts = {c.cell.label: (c.verdict, c.reason) for c in rep.cells}
    assert verdicts["gm · lenet"][0] == verdicts["whole · lenet"][0] == "refused"
    assert "lenet" in verdicts["gm · lenet"][1] and "lenet" in verdicts["whole · lenet"][1]
    assert verdicts["random · learned"] == ("refused", "its sets carry no learned schedule")
    assert verdicts["random · mlp"][0] == "within"
    assert rep.to_compute == 1 + 2  # the one random set and its two mlp nets; nothing for the learned cell


def test_rerun_all_plans_every_cell_again(bench):
    first = bench.reproduce(STUDY, ipc=2, runner="local")
    assert bench.reproduce(STUDY, ipc=2, dry_run=True).to_compute == 0
    assert bench.reproduce(STUDY, ipc=2, dry_run=True, rerun="all").to_compute == first.to_compute


# --- mistakes ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "phrase"), [
    ("name: x\nversion: 1\ntitle: t\nsource: s\ncells: [{row: a, column: b, dataset: digits, ipc: 1, "
     "condenser: random, cls: mlp, paper: 'ninety'}]", "'paper' must be a percentage"),
    ("name: x\nversion: 1\ntitle: t\nsource: s\ncells: [{row: a, column: b, dataset: digits, ipc: 1, "
     "condenser: random, cls: mlp, paper: 1, colour: red}]", "unknown key(s) colour"),
    ("name: x\nversion: 1\ntitle: t\nsource: s\ncells: [{row: a, column: b, dataset: digits, ipc: 1, "
     "condenser: whole_data, cls: mlp, paper: 1}]", "a whole-data cell has no ipc"),
    ("name: x\nversion: 1\ntitle: t\nsource: s\ncells: [{row: a, column: b, dataset: digits, ipc: 1, "
     "condenser: random, cls: mlp, paper: 1}, {row: a, column: b, dataset: digits, ipc: 2, condenser: random, "
     "cls: mlp, paper: 2}]", "repeats the row and column"),
    ("name: X\nversion: 1\ntitle: t\nsource: s\ncells: []", "'name' must be lower-case"),
    ("cells: [\n", "is not valid YAML (line"),
])
def test_a_broken_study_file_is_one_line(monkeypatch, capsys, tmp_path, text, phrase):
    path = tmp_path / "study.yaml"
    path.write_text(text)
    with pytest.raises(StudyError, match="study.yaml"):
        Study.from_yaml(path)
    code, _, err = run_main(monkeypatch, capsys, "reproduce", str(path), "--results", str(tmp_path / "r"))
    one_error_line(code, err, phrase)


def test_a_mistake_inside_a_cell_names_the_study_and_the_cell(monkeypatch, capsys, tmp_path):
    path = tmp_path / "study.yaml"
    cell = "{row: a, column: b, dataset: digits, ipc: 1, condenser: random, cls: mlp, paper: 1"
    for extra, phrase in ((", schedule: lerned}", "schedule 'lerned' is not one of standard, learned"),
                          (", set: {colour: 1}}", "--set colour"), ("}", "unknown architecture 'nosuchnet'")):
        text = f"name: x\nversion: 1\ntitle: t\nsource: s\ncells: [{cell}{extra}]"
        path.write_text(text.replace("cls: mlp", "cls: nosuchnet") if extra == "}" else text)
        code, _, err = run_main(monkeypatch, capsys, "reproduce", str(path), "--results", str(tmp_path / "r"))
        one_error_line(code, err, "study x, cell 'a · b'", phrase)


def test_unknown_study_and_empty_selection_are_one_line(monkeypatch, capsys, tmp_path):
    code, _, err = run_main(monkeypatch, capsys, "reproduce", "tabel1", "--results", str(tmp_path / "r"))
    one_error_line(code, err, "unknown study 'tabel1'", "table1")
    code, _, err = run_main(monkeypatch, capsys, "reproduce", str(STUDY), "--dataset", "svhn", "--results",
                            str(tmp_path / "r"))
    one_error_line(code, err, "has no cell for --dataset svhn", "digits")
    code, _, err = run_main(monkeypatch, capsys, "reproduce", str(STUDY), "--ipc", "7", "--results",
                            str(tmp_path / "r"))
    one_error_line(code, err, "has no cell for --ipc 7", "its ipcs: 1, 2")
