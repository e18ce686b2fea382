"""`dcbench bench`: times condensers without evaluating them and stores the timings."""

from __future__ import annotations

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
    assert "loop / batched" in ran.output and "loop / compiled" in ran.output
    with sqlite3.connect(results / "results.sqlite") as db:
        rows = db.execute("SELECT implementation, iterations, seconds_per_iteration, status, device "
                          "FROM benchmarks ORDER BY implementation").fetchall()
    assert [r[0] for r in rows] == ["batched", "compiled", "loop"]
    assert all(r[1] == 3 and r[2] > 0 and r[3] == "done" and r[4] == "cpu" for r in rows)


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
