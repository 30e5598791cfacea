"""A real BEIR-format directory the registry does not know: Cranfield (1,400 abstracts, 225 queries) from shared data.

SMART format in, BEIR layout out (``corpus.jsonl``, ``queries.jsonl``, ``qrels/test.tsv``). Query ids
are the queries' sequence numbers (``cranqrel`` uses those, not the ``.I`` field); Cleverdon's codes
1 (complete answer) .. 4 (minimum interest) become grades 4 .. 1.
"""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import SHARED

CRANFIELD = SHARED / "data" / "cranfield"


def _records(path: Path) -> list[dict[str, str]]:
    blocks: list[dict[str, str]] = []
    field = None
    for line in path.read_text(encoding="latin-1").splitlines():
        if line.startswith(".I"):
            blocks.append({})
            field = None
        elif len(line) == 2 and line.startswith("."):
            field = line[1]
            blocks[-1][field] = ""
        elif field is not None:
            blocks[-1][field] += line.strip() + " "
    return blocks


def cranfield_beir(out: Path) -> Path:
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    with open(out / "corpus.jsonl", "w", encoding="utf-8") as handle:
        for number, doc in enumerate(_records(CRANFIELD / "cran.all.1400"), 1):
            handle.write(json.dumps({"_id": str(number), "title": doc.get("T", "").strip(), "text": doc.get("W", "").strip()}) + "\n")
    with open(out / "queries.jsonl", "w", encoding="utf-8") as handle:
        for number, query in enumerate(_records(CRANFIELD / "cran.qry"), 1):
            handle.write(json.dumps({"_id": str(number), "text": query["W"].strip()}) + "\n")
    lines = ["query-id\tcorpus-id\tscore"]
    for line in (CRANFIELD / "cranqrel").read_text().splitlines():
        qid, docid, code = line.split()
        if int(code) in (1, 2, 3, 4):
            lines.append(f"{qid}\t{docid}\t{5 - int(code)}")
    (out / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    return out
