"""The documentation stands alone: it cites no file outside the repository, and its links resolve.

dcbench's users get the repository and nothing beside it, so no tracked file may point at notes that
lived next to the checkout while it was written. And every relative link of README.md and docs/*.md
must reach a file that exists and, when it names an ``#anchor``, a heading of that file, spelled as
GitHub spells heading anchors.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
THIS = Path(__file__).resolve()

# Assembled from parts so that this file does not contain the names it looks for.
FORBIDDEN = tuple(name + ".md" for name in ("PROTOCOL", "DESIGN", "FACTS")) + (".." + "/shared",)


def repository_files() -> list[Path]:
    """Every file git tracks, plus untracked files it does not ignore (new pages before a commit)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=REPO, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    paths = {REPO / name for name in out.decode().split("\0") if name}
    return sorted(p for p in paths if p.is_file() and p.resolve() != THIS)


def text_of(path: Path) -> str | None:
    """The file's text, or None for binary files (a NUL byte, or not UTF-8)."""
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def test_no_file_cites_notes_outside_the_repository():
    hits = []
    for path in repository_files():
        text = text_of(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            for name in FORBIDDEN:
                if name in line:
                    hits.append(f"{path.relative_to(REPO)}:{number}: {name}")
    assert not hits, "these cite files that users do not have; cite a page of docs/ instead:\n" + "\n".join(hits)


# Links ---------------------------------------------------------------------------------------------

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
INLINE_CODE = re.compile(r"`[^`]*`")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of everything outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text lower-cased, every character that is not a
    letter, digit, space, '-' or '_' dropped, spaces turned into '-' (runs are not collapsed)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.replace("`", "")
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.strip().lower()
    text = "".join(ch for ch in text if ch.isalnum() or ch in " -_")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor a Markdown file offers: its headings (with GitHub's -1, -2 … for repeats) and
    explicit ``<a name=…>`` / ``<a id=…>`` anchors."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        found.update(HTML_ANCHOR.findall(line))
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def documentation() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_slug_follows_github():
    assert slug("Resuming, reruns and failures") == "resuming-reruns-and-failures"
    assert slug("The `timm:` name space") == "the-timm-name-space"
    assert slug("dataset_distillation (`dd`)") == "dataset_distillation-dd"
    assert slug("The paper's numbers") == "the-papers-numbers"
    assert slug("The condenser × data-set table") == "the-condenser--data-set-table"
    assert slug("`--dry-run`") == "--dry-run"


def test_relative_links_in_the_docs_resolve():
    broken = []
    cache: dict[Path, set[str]] = {}
    for doc in documentation():
        for number, line in prose_lines(doc.read_text(encoding="utf-8")):
            for target in LINK.findall(INLINE_CODE.sub("", line)):
                if SCHEME.match(target) or target.startswith("//"):
                    continue  # http:, mailto: …: not a file of the repository
                path_part, _, anchor = target.partition("#")
                where = f"{doc.relative_to(REPO)}:{number}: ({target})"
                dest = (doc.parent / path_part).resolve() if path_part else doc
                if not dest.exists():
                    broken.append(f"{where}: no such file")
                    continue
                if anchor and dest.suffix == ".md":
                    known = cache.setdefault(dest, anchors(dest))
                    if anchor not in known:
                        broken.append(f"{where}: {dest.relative_to(REPO)} has no heading #{anchor}")
    assert not broken, "broken links:\n" + "\n".join(broken)
