"""What several test modules need: running the CLI in this process, and reading its tables."""

from __future__ import annotations

import sys

import pytest

from dcbench.cli import main


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """``dcbench ARGS`` through ``dcbench.cli.main`` in this process (where user errors become exit 2)."""
    monkeypatch.setattr(sys, "argv", ["dcbench", *args])
    monkeypatch.setenv("COLUMNS", "400")  # table rows stay on one line
    monkeypatch.setenv("PYTHONWARNINGS", "ignore")  # main() sets it; monkeypatch restores it
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    return (exited.value.code or 0), out, err


def one_error_line(code: int, err: str, *phrases: str) -> str:
    """The one ``error:`` line of a run that ended as a user error (exit 2, no traceback), with the phrases."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return lines[0]


def table_rows(text: str) -> dict[str, list[str]]:
    """Rows of a rich table keyed by their first cell."""
    rows = {}
    for line in text.splitlines():
        if "│" in line:
            cells = [c.strip() for c in line.strip().strip("│").split("│")]
            rows[cells[0]] = cells
    return rows


def evaluate(ws, cell, report=None):
    """Run an eval cell as a worker does: bound with its artifact (none for whole data)."""
    from dcbench.artifacts import load_artifact
    from dcbench.cells import run_eval

    artifact = load_artifact(cell.artifact, ws.results) if cell.artifact else None
    return run_eval(ws, cell.bind(artifact), report=report)
