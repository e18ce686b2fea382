"""The published leaderboard as one static web page: inline CSS and SVG, images as files beside it.

Nothing is fetched from the network, so the page works offline, from a file:// URL and on any
static host. A small inline script marks each image with ``data-loaded`` ("1" once it decoded,
"0" when it failed), which lets a headless browser test check that every picture is really there.
"""

from __future__ import annotations

from html import escape

from dcbench.leaderboard import View

CSS = """
:root { color-scheme: light; --line: #d8dce3; --dim: #6b7280; --accent: #1f4e8c; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #111827; }
main { max-width: 1200px; margin: 0 auto; padding: 24px; }
h1 { margin-top: 0; } h2 { margin-top: 40px; border-bottom: 2px solid var(--line); padding-bottom: 4px; }
h3 { margin-top: 32px; color: var(--accent); }
a { color: var(--accent); }
nav ul { columns: 3; padding-left: 18px; }
.scroll { overflow-x: auto; margin: 12px 0 20px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
caption { caption-side: bottom; text-align: left; color: var(--dim); font-size: 12px; padding-top: 6px;
          max-width: 900px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; white-space: nowrap; }
th { background: #f3f4f6; text-align: right; font-weight: 600; }
td { text-align: right; }
th.text, td.text { text-align: left; white-space: normal; }
tr.whole td { color: var(--dim); font-style: italic; }
tr.end td { border-bottom: 2px solid #9ca3af; }
.title { font-weight: 600; margin: 16px 0 4px; }
.notes { color: #374151; }
.figures { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; border: 1px solid var(--line); padding: 8px; background: #fafafa; }
figure img { display: block; image-rendering: pixelated; max-width: 100%; }
figcaption { font-size: 12px; color: var(--dim); margin-top: 6px; max-width: 360px; }
.plot svg { max-width: 100%; height: auto; border: 1px solid var(--line); }
"""

MARK_IMAGES = """
for (const img of document.images) {
  const mark = () => { img.dataset.loaded = img.complete && img.naturalWidth > 0 ? "1" : "0"; };
  if (img.complete) { mark(); } else { img.addEventListener("load", mark); img.addEventListener("error", mark); }
}
"""


def _aligned(tag: str, view: View, column: int, text: str, attributes: str = "") -> str:
    align = ' class="text"' if column < view.left else ""
    return f"<{tag}{attributes}{align}>{escape(text)}</{tag}>"


def table(view: View, *, titled: bool = True) -> str:
    head = "".join(_aligned("th", view, i, c, ' scope="col"') for i, c in enumerate(view.columns))
    body = []
    for row in view.rows:
        classes = " ".join(c for c, on in (("whole", row.whole), ("end", row.ends_group)) if on)
        cells = "".join(_aligned("td", view, i, c) for i, c in enumerate(row.cells))
        attribute = f' class="{classes}"' if classes else ""
        body.append(f"<tr{attribute}>{cells}</tr>")
    caption = f"<caption>{escape(view.caption)}</caption>" if view.caption else ""
    title = f'<div class="title">{escape(view.title)}</div>' if titled else ""
    return (f'{title}<div class="scroll">'
            f'<table id="{escape(view.key)}">{caption}<thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def render_html(page) -> str:
    toc = "".join(f'<li><a href="#{escape(s.anchor)}">{escape(s.heading)}</a></li>'
                  for s in page.sections if s.level in (2, 3))
    parts = []
    for i, section in enumerate(page.sections):
        parts.append(f'<h{section.level} id="{escape(section.anchor)}">{escape(section.heading)}</h{section.level}>')
        if section.paragraphs:
            items = "".join(f"<li>{escape(p)}</li>" for p in section.paragraphs)
            parts.append(f'<ul class="notes">{items}</ul>')
        if i == 0:
            links = " · ".join(f'<a href="{escape(link.html)}">{escape(link.label)}</a>' for link in page.links
                               if link.html)
            if links:
                parts.append(f"<p>Also here: {links}</p>")
            parts.append(f"<nav><ul>{toc}</ul></nav>")
        parts += [table(view, titled=view.title != section.heading) for view in section.views]
        for plot in section.plots:
            parts.append(f'<figure class="plot">{plot.svg}<figcaption>{escape(plot.caption)}</figcaption></figure>')
        if section.figures:
            cards = "".join(f'<figure><img src="{escape(f.path)}" alt="{escape(f.caption)}">'
                            f"<figcaption>{escape(f.caption)}</figcaption></figure>" for f in section.figures)
            parts.append(f'<p class="notes">Condensed sets (the first run of each synthesis; one row per class):</p>'
                         f'<div class="figures">{cards}</div>')
    body = "\n".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(page.title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n{body}\n</main>\n"
            f"<script>{MARK_IMAGES}</script>\n</body>\n</html>\n")
