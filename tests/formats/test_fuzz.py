"""A fuzz test of the readers -- malformed files never give a traceback, a partial output, or a second line.

A seeded generator (hypothesis is not a dependency) mutates small valid files of every format the
readers take -- TREC runs and qrels, topics TSV and JSONL, candidate JSON, BEIR corpus JSONL, the
training YAML -- with truncation, deletions, junk bytes (invalid UTF-8, NUL, BOM, NaN, brackets,
tabs), duplicated and swapped lines, and gzip (whole, truncated, or a ``.gz`` name on plain text).
Each library reader must return or raise :class:`ResrankError`; each CLI command must exit 0 or 2
and, on 2, print exactly one ``Error:`` line and leave no output behind. Bounded to a few seconds.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from resrank_eval.cli import main
from resrank_eval.errors import ResrankError
from resrank_eval.formats.candidates import read_candidates
from resrank_eval.formats.corpus import iter_corpus
from resrank_eval.formats.topics import read_topics
from resrank_eval.formats.trec import read_qrels, read_run
from resrank_eval.report.validate import validate_run
from resrank_eval.train.config import load_config

SEED = 20261127
RUN = "".join(f"{q} Q0 d{q}{i} {i + 1} {10 - i * 0.5} tag\n" for q in ("264014", "1110199") for i in range(6))
QRELS = "264014 0 d2640140 2\n264014 0 d2640143 0\n1110199 0 d11101991 1\n"
TOPICS_TSV = "264014\thow long is life cycle of flea\n1110199\twhat is wifi vs bluetooth\n"
TOPICS_JSONL = '{"_id": "264014", "text": "how long is life cycle of flea"}\n{"_id": "1110199", "text": "wifi vs bluetooth"}\n'
CANDIDATES = json.dumps([{"query": "flea life", "hits": [{"content": f"text {i}", "qid": 264014, "docid": f"d{i}", "rank": i + 1,
                                                          "score": 9.5 - i} for i in range(4)]},
                         {"query": "wifi", "hits": [{"content": "text b", "qid": "1110199", "docid": "b1", "rank": 1, "score": 3.0}]}],
                        indent=1)
CORPUS = "".join(json.dumps({"_id": f"d{i}", "title": "t", "text": f"passage {i}"}) + "\n" for i in range(5))
TRAIN_YAML = "output_dir: out\nseed: 3\nmodel:\n  preset: mini\n  config: {reranker_layers: 2}\ndata: {train: nope.jsonl}\n" \
             "stages:\n  - {name: a, steps: 3, lr: 0.001, warmup: 1}\n"

JUNK = [b"\xff", b"\xc3", b"\x00", b"\xef\xbb\xbf", b"\t", b" ", b"\n", b"\r\n", b"NaN", b"-inf", b"-7", b"1e999", b'"', b"{", b"}",
        b"[", b"]", b",", b":", b"null", b"Q0", b"\\u0000", b"\xe2\x80\xa8"]


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, bool]:
    """One to three random edits; then maybe gzip (whole or truncated). Returns the bytes and whether they are gzip."""
    for _ in range(rng.randint(1, 3)):
        lines = data.split(b"\n")
        kind = rng.randrange(6)
        at = rng.randrange(len(data) + 1)
        if kind == 0:
            data = data[:at]
        elif kind == 1:
            data = data[:at] + data[at + rng.randint(1, 20):]
        elif kind == 2:
            data = data[:at] + rng.choice(JUNK) * rng.randint(1, 3) + data[at:]
        elif kind == 3 and lines:
            i = rng.randrange(len(lines))
            data = b"\n".join(lines[: i + 1] + [lines[i]] + lines[i + 1:])
        elif kind == 4 and len(lines) > 1:
            i, j = rng.sample(range(len(lines)), 2)
            lines[i], lines[j] = lines[j], lines[i]
            data = b"\n".join(lines)
        else:
            data = data[:at] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 8))) + data[at:]
    zipped = rng.random() < 0.25
    if zipped:
        data = gzip.compress(data)
        if rng.random() < 0.5:
            data = data[: rng.randrange(len(data))]
    return data, zipped or rng.random() < 0.05  # sometimes a .gz name on plain bytes


def cases(text: str, count: int, salt: int) -> list[tuple[bytes, bool]]:
    rng = random.Random(SEED + salt)
    return [mutate(text.encode(), rng) for _ in range(count)]


READERS: list[tuple[str, str, str, Callable[[Path], Any]]] = [
    ("run", RUN, ".txt", read_run),
    ("run-validate", RUN, ".txt", validate_run),
    ("qrels", QRELS, ".txt", read_qrels),
    ("topics-tsv", TOPICS_TSV, ".tsv", read_topics),
    ("topics-jsonl", TOPICS_JSONL, ".jsonl", read_topics),
    ("candidates", CANDIDATES, ".json", read_candidates),
    ("corpus", CORPUS, ".jsonl", lambda path: list(iter_corpus(path))),
    ("train-yaml", TRAIN_YAML, ".yaml", load_config),
]


@pytest.mark.parametrize(("name", "text", "suffix", "reader"), READERS, ids=[r[0] for r in READERS])
def test_readers_raise_only_one_line_errors(tmp_path: Path, name: str, text: str, suffix: str, reader: Callable[[Path], Any]) -> None:
    for n, (data, zipped) in enumerate(cases(text, 150, sum(name.encode()))):
        path = tmp_path / f"{n}{suffix}{'.gz' if zipped else ''}"
        path.write_bytes(data)
        try:
            reader(path)
        except ResrankError as exc:
            assert "\n" not in str(exc) and str(exc), (path, data, str(exc))
        except Exception as exc:  # noqa: BLE001 - the point: nothing but ResrankError may escape
            pytest.fail(f"{name}: {type(exc).__name__}: {exc} on {data!r}")


def write_input(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


COMMANDS: list[tuple[str, str, str, Callable[[Path, Path], list[str]]]] = [
    ("evaluate", RUN, "run.txt", lambda f, o: ["evaluate", "--dataset", "dl19", str(f), "--output", str(o)]),
    ("qrels", QRELS, "qrels.txt", lambda f, o: ["evaluate", "--dataset", "dl19", "--qrels", str(f), "{run}", "--output", str(o)]),
    ("import", CANDIDATES, "c.json", lambda f, o: ["import-candidates", str(f), "--output", str(o), "--topics-output", f"{o}.tsv"]),
    ("export-topics", TOPICS_TSV, "t.tsv", lambda f, o: ["export-candidates", "--topics", str(f), "--run", "{run}", "--corpus", "{corpus}",
                                                         "--output", str(o)]),
    ("export-corpus", CORPUS, "corpus.jsonl", lambda f, o: ["export-candidates", "--topics", "{topics}", "--run", "{run}", "--corpus",
                                                            str(f), "--output", str(o)]),
    ("validate", RUN, "run.txt", lambda f, o: ["validate", str(f), "--dataset", "dl19"]),
    ("train", TRAIN_YAML, "train.yaml", lambda f, o: ["train", "--config", str(f)]),
]


@pytest.mark.parametrize(("name", "text", "file", "args"), COMMANDS, ids=[c[0] for c in COMMANDS])
def test_cli_bad_files_give_one_line_exit_2_and_no_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, text: str,
                                                          file: str, args: Callable[[Path, Path], list[str]]) -> None:
    good = tmp_path / "good"
    good.mkdir()
    fixed = {"{run}": str(write_input(good, "run.txt", RUN.replace("d2640140", "d0").encode())),
             "{corpus}": str(write_input(good, "corpus.jsonl", CORPUS.encode())),
             "{topics}": str(write_input(good, "t.tsv", TOPICS_TSV.encode()))}
    runner = CliRunner()
    for n, (data, zipped) in enumerate(cases(text, 25, sum(name.encode()))):
        work = tmp_path / f"case{n}"
        work.mkdir()
        monkeypatch.chdir(work)  # relative outputs (the training config's) land where the check below looks
        source = write_input(work, file + (".gz" if zipped else ""), data)
        output = work / "out" / "result.json"
        result = runner.invoke(main, [fixed.get(a, a) for a in args(source, output)])
        assert result.exit_code in (0, 2), f"{name}: exit {result.exit_code}: {result.output} on {data!r}"
        assert "Traceback" not in result.output
        if result.exit_code == 2:
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("Error: "), f"{name}: {result.stderr!r} on {data!r}"
            left = sorted(p.name for p in work.rglob("*") if p.is_file() and p != source)
            assert not left, f"{name}: partial output {left} after {lines[0]}"
