"""A self-contained HTML page of a report's tables: inline style, the plot embedded as PNG, no external files.

It opens from disk, from a CI artifact or an e-mail attachment the same way; the tables are the same
:class:`~resrank_eval.report.tables.Table` objects the Markdown and LaTeX outputs render.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from .tables import Table

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1f23; margin: 2rem auto; max-width: 96rem; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
.sub { color: #57606a; margin-top: 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: .6rem 0; font-variant-numeric: tabular-nums; font-size: 13px; }
th, td { padding: .3rem .7rem; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
thead th { border-top: 2px solid #1b1f23; border-bottom: 1px solid #1b1f23; }
tbody tr:last-child td { border-bottom: 2px solid #1b1f23; }
tbody tr:nth-child(even) { background: #f6f8fa; }
caption { caption-side: bottom; text-align: left; color: #57606a; padding-top: .4rem; max-width: 60rem; white-space: normal; }
.up { color: #116329; } .down { color: #a40e26; }
img { max-width: 100%; width: 60rem; border: 1px solid #d0d7de; }
code { background: #f6f8fa; padding: .1rem .3rem; border-radius: 3px; }
"""


def table_html(table: Table) -> str:
    """A booktabs-looking table; significance markers coloured by direction."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in table.rows)
    return (f'<div class="scroll"><table><caption>{html.escape(table.caption)}</caption><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _cell(value: str) -> str:
    text = html.escape(str(value))
    if "↑" in text:
        return f'<span class="up">{text}</span>'
    if "↓" in text:
        return f'<span class="down">{text}</span>'
    return text


def page(title: str, subtitle: str, tables: list[Table], plot: Path | None = None, notes: list[str] | None = None) -> str:
    """The whole page: a title, each table under its heading, the embedded plot and closing notes."""
    parts = [f"<h1>{html.escape(title)}</h1>", f'<p class="sub">{html.escape(subtitle)}</p>']
    for table in tables:
        parts.append(f"<h2>{html.escape(table.heading)}</h2>{table_html(table)}")
    if plot is not None and plot.exists():
        data = base64.b64encode(plot.read_bytes()).decode("ascii")
        parts.append(f'<h2>Effectiveness against latency</h2><img alt="trade-off plot" src="data:image/png;base64,{data}">')
    if notes:
        parts.append("<h2>Where the numbers come from</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")
