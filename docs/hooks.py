"""mkdocs hooks: pages other branches add join the nav once present; docstrings' Sphinx roles become links; the
Click help reads right in the CLI reference.

Excluded from the site (``exclude_docs`` in mkdocs.yml).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

OPTIONAL_PAGES = {"serve.md", "generative.md", "jobs.md"}
"""Pages written on other branches: listed in the nav, dropped from it while absent, so the build passes either way."""

PLACEHOLDER = re.compile(r"(?<!`)[\w./-]*<[a-z_]+>[\w./-]*(?<!\.)")
"""``<run>.stats.jsonl`` in a help text: code in the reference, else Markdown would take ``<run>`` for an HTML tag."""

ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|exc|obj):<code>(~?)([\w.]+)</code>")


def on_config(config: Any) -> Any:
    config["nav"] = _present(config["nav"], Path(config["docs_dir"]))
    _readable_help()
    return config


def _readable_help() -> None:
    """In this process only (``--help`` is untouched): placeholders as code, and the defaults mkdocs-click cannot read.

    Click 8.3 leaves an option without a default as a sentinel, which mkdocs-click would print as ``Sentinel.UNSET``.
    """
    import click

    from resrank_eval.cli import main

    commands = [main, *main.commands.values()]
    for command in commands:
        command.help = command.help and PLACEHOLDER.sub(lambda m: f"`{m[0]}`", command.help)
        for param in command.params:
            if isinstance(param, click.Option):
                param.help = param.help and PLACEHOLDER.sub(lambda m: f"`{m[0]}`", param.help)
                if str(param.default) == "Sentinel.UNSET":
                    param.default = False if param.is_flag else None


def _present(nav: list, docs: Path) -> list:
    kept = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        if isinstance(value, list):
            kept.append({next(iter(item)): _present(value, docs)})
        elif not (isinstance(value, str) and value in OPTIONAL_PAGES and not (docs / value).exists()):
            kept.append(item)
    return kept


def on_page_content(html: str, **_: Any) -> str:
    """``:func:`~pkg.mod.name``` (rendered as ``:func:<code>~pkg.mod.name</code>``) -> a link to the object where the API
    reference documents it, else the code alone; ``~`` shows the last name only, as Sphinx does."""
    html = html.replace("<code>Sentinel.UNSET</code>", "<code>False</code>")  # --help: a flag Click makes per context
    html = html.replace("<td>_required</td>", "<td><em>required</em></td>")  # mkdocs-click writes no closing underscore
    return ROLE.sub(_autoref, html)


def _autoref(match: re.Match) -> str:
    short, target = match[1], match[2]
    shown = f"<code>{target.rsplit('.', 1)[-1] if short else target.lstrip('.')}</code>"
    if target.startswith("."):  # relative to the documented module: no absolute name to link to
        return shown
    return f'<autoref identifier="{target}" optional>{shown}</autoref>'
