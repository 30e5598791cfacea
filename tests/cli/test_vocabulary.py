"""One flag per concept across the commands: what a user learns on one command works on the next."""

from __future__ import annotations

from pathlib import Path

import click

from resrank_eval.cli import main
from resrank_eval.cli.common import checked_tag
from resrank_eval.formats.trec import read_run
from tests.helpers import DL19_CANDIDATES, invoke


def _commands() -> dict[str, click.Command]:
    ctx = click.Context(main)
    return {name: command for name in main.list_commands(ctx) if (command := main.get_command(ctx, name)) is not None}


def test_every_run_tag_is_run_tag(tmp_path: Path) -> None:
    """``import-candidates`` took ``--tag`` where ``retrieve``, ``fuse``, ``rerank`` and ``convert-run`` take ``--run-tag``."""
    tags = {name: p.opts for name, command in _commands().items() for p in command.params if p.callback is checked_tag}
    assert {"import-candidates", "retrieve", "fuse", "rerank", "convert-run"} <= tags.keys()
    assert {name: opts for name, opts in tags.items() if opts != ["--run-tag"]} == {}
    out = tmp_path / "run.txt"
    assert invoke("import-candidates", str(DL19_CANDIDATES), "--output", str(out), "--run-tag", "bm25").exit_code == 0
    assert read_run(out) and {line.split()[5] for line in out.read_text().splitlines()} == {"bm25"}


def test_every_candidate_json_is_candidates() -> None:
    """``build-train`` took as ``--candidates-file`` the rank_llm candidate JSON ``rerank`` takes as ``--candidates``."""
    inputs = {name: p.opts for name, command in _commands().items() for p in command.params
              if isinstance(p, click.Option) and (p.help or "").startswith("rank_llm candidate JSON")}
    assert {"rerank", "build-train"} <= inputs.keys()
    assert {name: opts for name, opts in inputs.items() if opts != ["--candidates"]} == {}


def test_regress_names_its_options_as_reproduce_does() -> None:
    """``regress`` is ``reproduce FILE --check --overwrite``, yet took the file as ``--file``, the conditions as repeated
    ``--only`` (``reproduce --conditions a,b``; ``--only a,b`` was one unknown condition) and the folder as ``--runs-dir``."""
    commands = _commands()

    def params(name: str) -> dict[str, tuple]:
        return {p.name: (type(p), p.opts, p.multiple, p.callback) for p in commands[name].params if p.name}

    regress, reproduce = params("regress"), params("reproduce")
    assert {name: spec for name, spec in regress.items() if reproduce.get(name) != spec} == {}


def test_every_option_says_what_it_does() -> None:
    """``demo --top-k``, ``retrieve --hits``, ``build-train --seed`` and eight more had no help: `--help` and the generated
    CLI reference showed the bare flag."""
    bare = {f"{name} {p.opts[0]}" for name, command in {"": main, **_commands()}.items() for p in command.params
            if isinstance(p, click.Option) and not (p.help or "").strip()}
    assert bare == set()


def test_top_k_is_one_option_wherever_a_reranker_reorders_a_first_stage() -> None:
    """``rerank --top-k`` and ``demo --top-k`` meant one thing, declared twice in two wordings that could drift apart."""
    commands = _commands()
    options = [next(p for p in commands[name].params if p.name == "top_k") for name in ("rerank", "demo")]
    assert len({(tuple(p.opts), p.type, p.default, p.help) for p in options}) == 1
