"""What the pages name exists: each Python name they give resolves, and each command line they give uses the CLI's own
commands and flags. A renamed flag or class otherwise lives on in the pages, where only a reader finds it."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import click

import resrank_eval as rr
from resrank_eval.cli import main
from tests.helpers import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
SCRIPTS = sorted((REPO / "scripts").glob("*.sh"))
OTHER_PROJECTS = {"ClientV2"}
"""Capitalised names of other projects that the pages call (the Cohere SDK's client)."""
GLOBAL_FLAGS = {"-q", "--quiet", "-v", "--verbose", "--debug"}


def code_of(page: Path) -> list[str]:
    """A page's code: its fenced blocks, then its inline spans (which may wrap across lines)."""
    text = page.read_text(encoding="utf-8")
    blocks = re.findall(r"```\w*\n(.*?)```", text, flags=re.DOTALL)
    prose = re.sub(r"```\w*\n.*?```", "", text, flags=re.DOTALL)
    return blocks + [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose)]


def package_names() -> set[str]:
    """Every class, function and module-level name the package defines, wherever it lives."""
    names: set[str] = set()
    for source in (REPO / "resrank_eval").rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        names.update(re.findall(r"^\s*(?:class|def)\s+(\w+)", text, flags=re.MULTILINE))
        names.update(re.findall(r"^(\w+)\s*[:=]", text, flags=re.MULTILINE))
    return names


def resolves(dotted: str) -> bool:
    """``resrank_eval.a.b``: a module, or an attribute of the longest importable module before it."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            if not hasattr(target, part):
                return False
            target = getattr(target, part)
        return True
    return False


def logger_names() -> set[str]:
    """Loggers the package names (``logging.getLogger("resrank_eval.serve.access")``): dotted, but no module."""
    return {name for source in (REPO / "resrank_eval").rglob("*.py")
            for name in re.findall(r"getLogger\(\"([\w.]+)\"\)", source.read_text(encoding="utf-8"))}


def test_every_python_name_on_the_pages_exists() -> None:
    """``EngineOptions(compile=...)`` outlived the fast engine (now ``Scoring(compile=...)``) in docs/measurements.md."""
    defined, loggers, missing = package_names() | OTHER_PROJECTS, logger_names(), []
    for page in PAGES:
        where = page.relative_to(REPO)
        code = code_of(page)
        local = {name for snippet in code for name in re.findall(r"^\s*class\s+(\w+)", snippet, flags=re.MULTILINE)}
        for snippet in code:
            names = [f"rr.{name}" for name in re.findall(r"(?<![\w.])rr\.(\w+)", snippet) if not hasattr(rr, name)]
            names += [name for name in re.findall(r"(?<![\w./])(resrank_eval(?:\.\w+)+)", snippet)
                      if name not in loggers and not resolves(name)]
            for module, imported in re.findall(r"from\s+(resrank_eval[\w.]*)\s+import\s+([\w, ]+)", snippet):
                names += [f"{module}.{name.strip()}" for name in imported.split(",") if not resolves(f"{module}.{name.strip()}")]
            called = re.findall(r"(?<![\w.])([A-Z][a-z]\w*)(?=\(|\.\w)", snippet)  # a class called or its member read
            names += [name for name in called if name not in defined | local]
            missing += [f"{where}: {name}" for name in names]
    assert sorted(set(missing)) == []


def command_lines(text: str) -> list[str]:
    """What follows ``resrank-eval`` (or ``-m resrank_eval``) on each line of ``text``, continuations joined, comments cut."""
    lines = []
    for line in text.replace("\\\n", " ").splitlines():
        if not line.lstrip().startswith("#"):
            lines += re.findall(r"(?:resrank-eval|-m resrank_eval)((?:\s+[^\s|;&#`]+)+)", line.split(" #", 1)[0])
    return lines


def flags_of(command: click.Command) -> set[str]:
    return {flag for param in command.get_params(click.Context(command)) for flag in (*param.opts, *param.secondary_opts)}


def test_every_command_line_on_the_pages_and_in_the_scripts_is_the_clis() -> None:
    """Each ``resrank-eval CMD --flag`` of README, docs and scripts/*.sh, and each inline ``CMD --flag`` span, names a
    command and flags that ``resrank-eval CMD --help`` lists (``fuse --k``, ``regress --only`` and ``build-train
    --candidates-file`` were renamed)."""
    context = click.Context(main)
    commands = {name: main.get_command(context, name) for name in main.list_commands(context)}
    invocations = [line for script in SCRIPTS for line in command_lines(script.read_text(encoding="utf-8"))]
    for page in PAGES:
        for snippet in code_of(page):
            invocations += command_lines(snippet)
            if snippet.split(" ", 1)[0] in commands:  # an inline span such as `rerank --index DIR`
                invocations.append(" " + snippet)
    assert len(invocations) > 100
    wrong = []
    for invocation in invocations:
        words = [word for word in invocation.split() if word not in GLOBAL_FLAGS]
        if not words or not re.fullmatch(r"[a-z][a-z-]+", words[0]):
            continue  # `resrank-eval ...`, `resrank-eval $ARGS`
        command = commands.get(words[0])
        if command is None:
            wrong.append(f"no command {words[0]!r}: resrank-eval{invocation}")
            continue
        flags = {flag.split("=")[0] for word in words[1:] for flag in re.findall(r"(?<![\w-])--\w(?:[\w.-]*\w)?", word)}
        wrong += [f"{words[0]} has no {flag}: resrank-eval{invocation}" for flag in sorted(flags - flags_of(command) - {"--help"})]
    assert wrong == []
