"""`dcbench bench`: times condensers without evaluating them and stores the timings."""

from __future__ import annotations

import json
import sqlite3

from typer.testing import CliRunner

from dcbench.cli import app


def test_bench_compare_times_every_implementation(tmp_path):
    """Can approach a minute with a cold inductor cache: ``compiled`` compiles its graph (twice, for
    digits' unequal classes) in the first, untimed iteration; that is what --compare must time."""
    results = tmp_path / "results"
    ran = CliRunner().invoke(app, ["bench", "-c", "gm", "--synth", "mlp", "--dataset", "digits", "--iterations", "3",
                                   "--compare", "--results", str(results)])
    assert ran.exit_code == 0, ran.output
    assert "implementation=loop / implementation=batched" in ran.output
    assert "implementation=loop / implementation=compiled" in ran.output
    with sqlite3.connect(results / "results.sqlite") as db:
        rows = db.execute("SELECT implementation, iterations, seconds_per_iteration, status, device "
                          "FROM benchmarks ORDER BY implementation").fetchall()
    assert [r[0] for r in rows] == ["batched", "compiled", "loop"]
    assert all(r[1] == 3 and r[2] > 0 and r[3] == "done" and r[4] == "cpu" for r in rows)


def test_bench_vary_times_each_value_against_the_first(tmp_path):
    results = tmp_path / "results"
    ran = CliRunner().invoke(app, ["bench", "-c", "gm", "--synth", "mlp", "--dataset", "digits", "--iterations", "3",
                                   "--vary", "precision=default,bf16", "--vary", "class_chunk=10,5",
                                   "--results", str(results)], env={"COLUMNS": "200"})
    assert ran.exit_code == 0, ran.output
    for other in ("precision=default, class_chunk=5", "precision=bf16, class_chunk=10",
                  "precision=bf16, class_chunk=5"):
        assert f"precision=default, class_chunk=10 / {other}: " in ran.output
    with sqlite3.connect(results / "results.sqlite") as db:
        configs = [json.loads(c) for (c,) in db.execute("SELECT config FROM benchmarks ORDER BY rowid")]
    assert [(c.get("precision", "default"), c["class_chunk"]) for c in configs] == [
        ("default", 10), ("default", 5), ("bf16", 10), ("bf16", 5)]
    assert [c["iterations"] for c in configs] == [3] * 4


def test_bench_of_a_selection_method_times_the_whole_run(tmp_path):
    results = tmp_path / "results"
    ran = CliRunner().invoke(app, ["bench", "-c", "random", "--dataset", "digits", "--ipc", "2",
                                   "--results", str(results)])
    assert ran.exit_code == 0, ran.output
    with sqlite3.connect(results / "results.sqlite") as db:
        [(status, seconds, total)] = db.execute(
            "SELECT status, seconds_per_iteration, wall_s FROM benchmarks").fetchall()
    assert status == "done" and seconds is None and total > 0
    assert not (results / "artifacts").exists()  # benchmarks run in a scratch folder and keep only timings


def test_bench_times_several_condensers_in_one_run_against_the_first(tmp_path):
    results = tmp_path / "results"
    ran = CliRunner().invoke(app, ["bench", "-c", "gm,dsa,dm", "--synth", "mlp", "--dataset", "digits", "--iterations",
                                   "2", "--results", str(results)], env={"COLUMNS": "200"})
    assert ran.exit_code == 0, ran.output
    assert "gradient_matching / dsa: " in ran.output and "gradient_matching / distribution_matching: " in ran.output
    with sqlite3.connect(results / "results.sqlite") as db:
        rows = db.execute("SELECT condenser, iterations, status FROM benchmarks ORDER BY rowid").fetchall()
    assert rows == [("gradient_matching", 2, "done"), ("dsa", 2, "done"), ("distribution_matching", 2, "done")]
