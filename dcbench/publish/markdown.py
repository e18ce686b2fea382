"""The published leaderboard as Markdown (GitHub-flavoured pipe tables); README.md of the folder."""

from __future__ import annotations

from dcbench.leaderboard import View


def _cell(text: str) -> str:
    # "*" marks third-party results: literal, never emphasis (nor a list bullet at a line's start).
    for special in ("\\", "|", "*"):
        text = text.replace(special, "\\" + special)
    return text.replace("\n", " ") or " "


def table(view: View, *, heading: str | None) -> str:
    lines = [f"{heading} {_cell(view.title)}", ""] if heading else []
    lines.append("| " + " | ".join(_cell(c) for c in view.columns) + " |")
    lines.append("|" + "|".join("---" if i < view.left else "---:" for i in range(len(view.columns))) + "|")
    for row in view.rows:
        cells = [_cell(c) for c in row.cells]
        if row.whole:
            cells = [f"*{c}*" if c.strip() else c for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_markdown(page) -> str:
    parts = []
    for section in page.sections:
        parts.append(f"{'#' * section.level} {section.heading}")
        if section.level == 1 and (links := [link for link in page.links if link.markdown]):
            parts.append("Also here: " + ", ".join(f"[{_cell(link.label)}]({link.markdown})" for link in links) + ".")
        if section.paragraphs:
            parts.append("\n".join(f"- {_cell(p)}" for p in section.paragraphs))
        for view in section.views:
            heading = None if view.title == section.heading else "#" * min(section.level + 1, 6)
            parts.append(table(view, heading=heading))
            if view.caption and section.level < 3:  # the matrix note is said once, at the top
                parts.append(f"*{view.caption}*")
        for plot in section.plots:
            parts.append(f"![{plot.caption}]({plot.path})")
        if section.figures:
            parts.append("Condensed sets (the first run of each synthesis; one row per class):")
            parts += [f"![{figure.caption}]({figure.path})  \n{figure.caption}" for figure in section.figures]
    return "\n\n".join(parts) + "\n"
