"""A small document model (headings, paragraphs, tables, figures, code) and its two renderings:
Markdown with figures as relative links, and one self-contained HTML file (figures as base64
PNG data URIs, inline CSS, no scripts and no external resources)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

from qmoe_cli.palette import CATEGORY_COLOURS, css_class, tint


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Para:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    caption: str = ""
    # columns whose cells get a CSS class of their own value (e.g. verdicts)
    classed: set[int] = field(default_factory=set)


@dataclass
class Figure:
    path: Path  # the PNG, inside the report folder
    rel: str  # its path relative to the report folder
    caption: str


@dataclass
class Code:
    text: str
    summary: str


Block = Heading | Para | Bullets | Table | Figure | Code


def _md_cell(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: list[Block]) -> str:
    parts: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            parts.append(f"{'#' * b.level} {b.text}")
        elif isinstance(b, Para):
            parts.append(b.text)
        elif isinstance(b, Bullets):
            parts.append("\n".join(f"- {item}" for item in b.items))
        elif isinstance(b, Table):
            lines = [f"**{b.caption}**", ""] if b.caption else []
            lines.append("| " + " | ".join(_md_cell(h) for h in b.headers) + " |")
            lines.append("|" + "---|" * len(b.headers))
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
            parts.append("\n".join(lines))
        elif isinstance(b, Figure):
            parts.append(f"![{_md_cell(b.caption)}]({b.rel})\n\n*{b.caption}*")
        elif isinstance(b, Code):
            fence = "````" if "```" in b.text else "```"
            parts.append(f"{b.summary}:\n\n{fence}\n{b.text.rstrip()}\n{fence}")
    return "\n\n".join(parts) + "\n"


CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1200px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1, h2, h3 { line-height: 1.2; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .8em 0 1.2em; font-size: .88em; }
caption { text-align: left; font-weight: 600; padding: .3em 0; }
th, td { border: 1px solid #ccc; padding: .25em .5em; vertical-align: top; text-align: left; }
th { background: #f3f3f3; }
tr:nth-child(even) td { background: #fafafa; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: .9em; color: #555; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; font-size: .85em; }
details { margin: .4em 0; }
""" + "".join(  # the scorecard's colours, tinted for table cells
    f"td.{css_class(c)} {{ background: {tint(colour)} !important; }}\n"
    for c, colour in CATEGORY_COLOURS.items()
)

# The browser refuses anything but inline styles and data: images, so the file cannot load
# (or leak a request to) anything outside itself.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def to_html(blocks: list[Block], title: str) -> str:
    e = html.escape
    body: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            body.append(f"<h{b.level}>{e(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            body.append(f"<p>{e(b.text)}</p>")
        elif isinstance(b, Bullets):
            items = "".join(f"<li>{e(item)}</li>" for item in b.items)
            body.append(f"<ul>{items}</ul>")
        elif isinstance(b, Table):
            body.append(_html_table(b))
        elif isinstance(b, Figure):
            data = base64.b64encode(b.path.read_bytes()).decode("ascii")
            body.append(
                f'<figure><img alt="{e(b.caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{e(b.caption)}</figcaption></figure>"
            )
        elif isinstance(b, Code):
            body.append(
                f"<details><summary>{e(b.summary)}</summary><pre>{e(b.text)}</pre></details>"
            )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{e(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _html_table(t: Table) -> str:
    e = html.escape
    caption = f"<caption>{e(t.caption)}</caption>" if t.caption else ""
    head = "".join(f"<th>{e(h)}</th>" for h in t.headers)
    rows = []
    for row in t.rows:
        cells = []
        for i, cell in enumerate(row):
            # the class is the cell's value up to any parenthesised note
            key = css_class(str(cell).split(" (")[0])
            cls = f' class="{e(key)}"' if i in t.classed and cell else ""
            cells.append(f"<td{cls}>{e(str(cell))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
