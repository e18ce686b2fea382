"""docs/api.md's examples, run top to bottom as a notebook would run them.

The guide is what researchers copy into notebooks, so an example that drifts from the API must fail
here. Every Python block runs, in order, in one namespace, in a fresh folder with the test's own
results store and data root (the conftest's ``$DCBENCH_RESULTS`` and ``$DCBENCH_DATA``).
"""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def test_every_example_of_the_api_guide_runs(tmp_path, monkeypatch):
    """About a minute: the guide's benchmark compiles gradient matching's ``compiled`` implementation
    (cold inductor cache), as ``--compare`` must; the rest is seconds."""
    monkeypatch.chdir(tmp_path)
    text = DOC.read_text()
    blocks = [(text.count("\n", 0, m.start(2)) + 1, m.group(2)) for m in FENCE.finditer(text) if m.group(1) == "python"]
    assert len(blocks) >= 8, "the guide lost its examples"
    namespace: dict = {}
    for line, code in blocks:
        # Padding keeps the doc's line numbers in tracebacks.
        exec(compile("\n" * (line - 1) + code, str(DOC), "exec"), namespace)
    bench = namespace["bench"]
    # What the guide says it did, checked from outside: one store, the runs it recorded, the published page.
    assert (bench.results / "results.sqlite").is_file()
    assert (tmp_path / "out" / "index.html").is_file()
    calls = {run["command"] for run in _runs(bench.results)}
    assert calls == {"synth", "eval", "import", "grid", "reproduce", "bench"}


def _runs(results: Path) -> list[dict]:
    import sqlite3

    with sqlite3.connect(results / "results.sqlite") as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM runs")]
